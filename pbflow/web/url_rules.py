"""The app's URL rules: Werkzeug's, with each rule's URL builders made when first used.

Werkzeug compiles two builder functions for every rule when the rule is added (it writes
their Python source as a syntax tree and compiles it, about 0.3 ms each). With 150 rules
that is 85 ms of every ``create_app``: each CLI command (the ``tick`` timer runs one a
minute), each gunicorn worker, each test. A process builds URLs for a few dozen of the
rules; building a rule's functions on its first ``url_for`` costs the same once, and
nothing for the rules it never builds. Matching is unchanged: the rule's pattern is still
compiled when it is added.

This overrides ``Rule._compile_builder``, which is not public; ``tests/test_url_rules.py``
fails when Werkzeug stops calling it (the rules would then simply be compiled eagerly).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from werkzeug.routing import Rule

_LOCK = threading.Lock()


class LazyBuilderRule(Rule):
    """A rule whose URL builders are compiled on their first call."""

    def _compile_builder(self, append_unknown: bool = True) -> Callable[..., tuple[str, str]]:
        compile_now = super()._compile_builder
        built: list[Callable[..., tuple[str, str]]] = []

        def build(rule: Rule, *args: Any, **kwargs: Any) -> tuple[str, str]:
            if not built:
                with _LOCK:  # threaded servers: one compile, every thread sees the result
                    if not built:
                        built.append(compile_now(append_unknown))
            return built[0](rule, *args, **kwargs)

        return build
