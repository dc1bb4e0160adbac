"""Shared machinery of the guard and effect registries: named functions with checked params,
and the rulebook a workflow file is checked against."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any


@dataclass(frozen=True)
class Rule:
    name: str
    fn: Callable[..., Any]
    required: frozenset[str]
    optional: frozenset[str]
    doc: str
    one_of: tuple[str, ...] = ()  # at least one of these optional parameters must be given
    # A guard that reads only the case's own data (no clock, no settings, no other rows): the
    # engine may decide it when it computes who a case waits on (pbflow.engine.tasks).
    pure: bool = False

    def check_params(self, params: dict[str, Any]) -> str | None:
        """A problem with the parameters a workflow file gives, or None when they fit."""
        unknown = sorted(set(params) - self.required - self.optional)
        if unknown:
            allowed = sorted(self.required | self.optional)
            return f"unknown parameter(s) {', '.join(unknown)} (allowed: {', '.join(allowed)})"
        missing = sorted(self.required - set(params))
        if missing:
            return f"missing parameter(s) {', '.join(missing)}"
        if self.one_of and not any(name in params for name in self.one_of):
            return f"needs one of the parameters {', '.join(self.one_of)}"
        return None


def registrar(registry: dict[str, Rule]) -> Callable[[str], Callable]:
    def register(
        name: str, *, one_of: tuple[str, ...] = (), pure: bool = False
    ) -> Callable[[Callable], Callable]:
        def wrap(fn: Callable) -> Callable:
            sig = inspect.signature(fn)
            kw = [p for p in sig.parameters.values() if p.kind is p.KEYWORD_ONLY]
            registry[name] = Rule(
                name=name,
                fn=fn,
                required=frozenset(p.name for p in kw if p.default is p.empty),
                optional=frozenset(p.name for p in kw if p.default is not p.empty),
                doc=inspect.getdoc(fn) or "",
                one_of=one_of,
                pure=pure,
            )
            return fn

        return wrap

    return register


@dataclass(frozen=True)
class Rulebook:
    """The named guards and effects workflow files may use: the engine's generic ones and those
    of the installed procedures. ``elsewhere`` names, for a guard, effect or workflow id that
    only a procedure left out provides, that procedure, so a file needing it is refused with a
    reason an operator can act on."""

    guards: Mapping[str, Rule]
    effects: Mapping[str, Rule]
    elsewhere: Mapping[tuple[str, str], str] = field(default_factory=dict)  # (kind, name)

    def of(self, kind: str) -> Mapping[str, Rule]:
        return self.guards if kind == "guard" else self.effects

    @cached_property
    def key(self) -> tuple[frozenset, ...]:
        """Equal for rulebooks that accept and refuse the same files (a parse cache key)."""
        return tuple(frozenset(m.items()) for m in (self.guards, self.effects, self.elsewhere))
