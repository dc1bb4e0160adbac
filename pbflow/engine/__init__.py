"""The workflow engine: definitions from workflows/, cached machines, and the runtime that
is the only way a case changes (``start``, ``fire``, ballots and resolutions, timers).

It knows no procedure: its guards and effects are generic, and each app's rulebook adds those
of the installed procedures (``pbflow.procedures``), which it never imports."""
