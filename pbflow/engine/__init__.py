"""The workflow engine: definitions from workflows/, cached machines, and the runtime that
is the only way a case changes (``start``, ``fire``, ballots and resolutions, timers)."""
