"""Definitions in memory: the files' current versions and every stored version, with their
machines, each built once per process and shared by all requests (definitions never change
once stored: a changed file is a new version with a new hash); and the rulebook they are read
against, gathered from the engine's generic guards and effects and the installed procedures'."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from flask import current_app
from sqlalchemy import func, select
from transitions import Machine

from pbflow import audit, clock
from pbflow.engine import effects, guards
from pbflow.engine.definitions import Definition, load_dir, parse
from pbflow.engine.errors import DefinitionError, NotFound
from pbflow.engine.rules import Rule, Rulebook
from pbflow.extensions import app_context, db
from pbflow.models import WorkflowDefinition


def build_machine(d: Definition) -> Machine:
    """A model-less machine: cases are passed to its events per call, never added to it."""
    return Machine(
        model=None,
        states=list(d.states),
        transitions=[
            {"trigger": t.trigger, "source": d.expand_sources(t), "dest": t.dest}
            for t in d.transitions
        ],
        initial=None,
        auto_transitions=False,
        send_event=True,
    )


# Diagram text per (content hash, locale) without any state marked: a definition never
# changes under its hash, so the text is drawn by transitions once and reused by every page.
_DIAGRAMS: dict[tuple[str, str], str] = {}


def _draw(d: Definition, locale: str) -> str:
    from transitions.extensions import GraphMachine

    class _Model:
        state = d.initial

    model = _Model()
    GraphMachine(
        model=model,
        states=[{"name": s.name} for s in d.states.values()],
        transitions=[
            {"trigger": t.trigger, "source": d.expand_sources(t), "dest": t.dest}
            for t in d.transitions
        ],
        initial=d.initial,
        auto_transitions=False,
        graph_engine="mermaid",
        show_state_attributes=False,
        title=d.title.get(locale),
    )
    text = model.get_graph(force_new=True).draw(None)
    # transitions writes the bare title as front matter; mermaid's front matter is a mapping.
    title = d.title.get(locale)
    text = text.replace(
        f"---\n{title}\n---", f"---\ntitle: {json.dumps(title, ensure_ascii=False)}\n---", 1
    )
    # Show the files' labels rather than identifiers.
    for s in d.states.values():
        text = text.replace(
            f'state "{s.name}" as {s.name}',
            f'state "{s.label.get(locale).replace(chr(34), chr(39))}" as {s.name}',
        )
    return text.replace(f"Class {d.initial} s_active", f"Class {d.initial} s_default")


def mermaid(d: Definition, current: str | None = None, locale: str = "zh") -> str:
    """State diagram in mermaid syntax (drawn by transitions), ``current`` highlighted."""
    key = (d.content_hash, locale)
    text = _DIAGRAMS.get(key)
    if text is None:
        text = _DIAGRAMS[key] = _draw(d, locale)
    if current is not None:
        text = text.replace(f"Class {current} s_default\n", f"Class {current} s_active\n", 1)
    return text


def gather_rules(installed: Iterable[Any] = (), left_out: Iterable[Any] = ()) -> Rulebook:
    """The engine's generic guards and effects with those of each installed procedure.

    A procedure is anything with ``name``, ``workflows``, ``guards`` and ``effects`` (such as
    ``pbflow.procedures.Procedure``). What only a ``left_out`` procedure has is noted, so that
    a file needing it is refused with that procedure's name. A name given twice is a mistake
    in the code, refused with ValueError when the app starts.
    """
    found: dict[str, dict[str, Rule]] = {
        "guard": dict(guards.REGISTRY),
        "effect": dict(effects.REGISTRY),
    }
    owners: dict[tuple[str, str], str] = {}
    workflows: set[str] = set()
    for procedure in installed:
        workflows.update(procedure.workflows)
        for kind, own in (("guard", procedure.guards), ("effect", procedure.effects)):
            for name, rule in own.items():
                if name in found[kind]:
                    other = owners.get((kind, name))
                    where = f"the procedure '{other}'" if other else "the engine"
                    raise ValueError(
                        f"{kind} '{name}' of the procedure '{procedure.name}' is already "
                        f"registered by {where}"
                    )
                found[kind][name] = rule
                owners[kind, name] = procedure.name
    elsewhere: dict[tuple[str, str], str] = {}
    for procedure in left_out:
        for kind, own in (("guard", procedure.guards), ("effect", procedure.effects)):
            for name in own:
                if name not in found[kind]:
                    elsewhere.setdefault((kind, name), procedure.name)
        for workflow_id in procedure.workflows:
            if workflow_id not in workflows:
                elsewhere.setdefault(("workflow", workflow_id), procedure.name)
    return Rulebook(found["guard"], found["effect"], elsewhere)


@dataclass
class Registry:
    folder: Path
    rules: Rulebook
    current: dict[str, Definition] = field(default_factory=dict)
    errors: list[DefinitionError] = field(default_factory=list)
    # The installed procedures' ``on_escalation`` hooks (see engine.timers), in their order.
    escalation_hooks: list[Any] = field(default_factory=list)
    # What the installed procedures count of their workflows' cases (see engine.tally):
    # workflow id -> the functions giving a case's contributions.
    tallies: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    # And what they count of people: functions of a person and the organization index.
    person_tallies: tuple[Any, ...] = ()
    _stored: dict[int, Definition] = field(default_factory=dict)
    _ids_by_hash: dict[str, int] = field(default_factory=dict)
    _machines: dict[str, Machine] = field(default_factory=dict)

    def reload(self) -> None:
        self.current, self.errors = load_dir(self.folder, self.rules)

    def get(self, workflow_id: str) -> Definition:
        try:
            return self.current[workflow_id]
        except KeyError:
            raise NotFound(f"unknown workflow '{workflow_id}'") from None

    def machine(self, d: Definition) -> Machine:
        m = self._machines.get(d.content_hash)
        if m is None:
            m = self._machines[d.content_hash] = build_machine(d)
        return m

    def stored(self, definition_id: int) -> Definition:
        """The exact version a case started on, parsed from the stored text."""
        d = self._stored.get(definition_id)
        if d is None:
            row = db.session.get(WorkflowDefinition, definition_id)
            if row is None:
                raise NotFound(f"unknown workflow definition {definition_id}")
            current = self.current.get(row.workflow_id)
            if current and current.content_hash == row.content_hash:
                d = current
            else:
                d = parse(
                    row.source,
                    f"{row.workflow_id} (stored revision {row.revision})",
                    self.rules,
                    stored=True,
                )
            self._stored[definition_id] = d
        return d

    def ensure_stored(self, d: Definition, *, at: datetime | None = None) -> int:
        """The stored id of this exact text, storing it (and auditing that) when new.

        ``at`` dates the storing when it happens inside a step with its own time (the first
        case of a new version, started anonymously, must not carry a finer time)."""
        known = self._ids_by_hash.get(d.content_hash)
        if known is not None:
            return known
        found = db.session.execute(
            select(WorkflowDefinition.id).where(WorkflowDefinition.content_hash == d.content_hash)
        ).scalar()
        if found is not None:
            self._ids_by_hash[d.content_hash] = found
            return found
        revision = (
            db.session.execute(
                select(func.max(WorkflowDefinition.revision)).where(
                    WorkflowDefinition.workflow_id == d.id
                )
            ).scalar()
            or 0
        ) + 1
        row = WorkflowDefinition(
            workflow_id=d.id,
            revision=revision,
            declared_version=d.version,
            content_hash=d.content_hash,
            source=d.source,
            loaded_at=at or clock.now(),
        )
        db.session.add(row)
        db.session.flush()
        audit.record(
            "definition_loaded",
            payload={
                "workflow": d.id,
                "revision": revision,
                "version": d.version,
                "content_hash": d.content_hash,
            },
            at=at,
        )
        # Not cached until seen committed: a rolled-back transaction must not leave a bad id.
        return row.id


def registry() -> Registry:
    ctx = app_context()
    return (ctx.app if ctx is not None else current_app).extensions["pbflow_registry"]


def init_registry(app, installed: Iterable[Any] = (), left_out: Iterable[Any] = ()) -> Registry:
    """The app's registry: the workflow files read against the generic guards and effects and
    those of the ``installed`` procedures (see :func:`gather_rules`)."""
    installed = list(installed)
    reg = Registry(Path(app.config["PBFLOW_WORKFLOWS_DIR"]), gather_rules(installed, left_out))
    reg.escalation_hooks = [
        p.on_escalation for p in installed if getattr(p, "on_escalation", None) is not None
    ]
    tallies: dict[str, tuple[Any, ...]] = {}
    for p in installed:
        for workflow_id, fn in (getattr(p, "tallies", None) or {}).items():
            tallies[workflow_id] = (*tallies.get(workflow_id, ()), fn)
    reg.tallies = tallies
    reg.person_tallies = tuple(
        p.person_tallies for p in installed if getattr(p, "person_tallies", None) is not None
    )
    reg.reload()
    app.extensions["pbflow_registry"] = reg
    return reg
