"""A case's procedure the way its users think of it (issue 15).

``progress`` gives, for a staged procedure (member development), its stages and steps as a
line: what is done (with the day each step was completed), the current step, and what comes
next; for any other procedure, the path the case has taken and the steps possible from here.
``diagram`` draws the whole state machine as mermaid text, top to bottom, with every label in
the reader's language, the steps already passed and the current one marked; self-loops (steps
that keep the state, such as "add information") are listed beside it rather than drawn.

Everything comes from the workflow definition and the case's audit events: nothing here
knows one procedure from another.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select

from pbflow.engine.definitions import Definition, joined
from pbflow.extensions import db
from pbflow.models import AuditEvent


@dataclass
class Step:
    name: str
    label: str
    status: str  # done | current | next | later
    entered: datetime | None = None
    left: datetime | None = None


@dataclass
class Stage:
    key: str
    label: str
    status: str  # done | current | later
    steps: list[Step] = field(default_factory=list)


@dataclass
class NextStep:
    label: str
    dest: str


@dataclass
class Progress:
    staged: bool
    current: Step
    stages: list[Stage]
    path: list[Step]
    next_steps: list[NextStep]
    staying: list[str]  # steps possible here that keep the state
    closed: bool


def visits(case_id: int) -> list[tuple[str | None, str, datetime]]:
    """The case's moves (from state, to state, when), oldest first, from its audit events."""
    return [
        (r.from_state, r.to_state, r.at)
        for r in db.session.execute(
            select(AuditEvent.from_state, AuditEvent.to_state, AuditEvent.at)
            .where(AuditEvent.instance_id == case_id, AuditEvent.to_state.is_not(None))
            .order_by(AuditEvent.seq)
        )
    ]


def _outgoing(d: Definition, state: str):
    return [t for t in d.transitions if state in d.expand_sources(t)]


def detours(d: Definition) -> set[str]:
    """Staged states off the main line: every way out leads back or ends the case (an
    application returned for correction, a refused admission)."""
    order = {n: i for i, n in enumerate(d.states)}
    found = set()
    for name, spec in d.states.items():
        if not spec.stage or spec.final:
            continue
        onward = [
            t.dest
            for t in _outgoing(d, name)
            if order[t.dest] > order[name] and d.states[t.dest].stage
        ]
        if not onward:
            found.add(name)
    return found


def progress(d: Definition, state: str, moves, locale: str, *, closed: bool) -> Progress:
    entered: dict[str, datetime] = {}
    left: dict[str, datetime] = {}
    for src, dest, at in moves:
        if src and src != dest:
            left[src] = at
        entered.setdefault(dest, at)
    if state not in entered and moves:
        entered[state] = moves[-1][2]
    seen = [dest for _src, dest, _at in moves]

    def step(name: str, status: str) -> Step:
        spec = d.states[name]
        return Step(name, spec.label.get(locale), status, entered.get(name), left.get(name))

    current = step(state, "current")
    nexts, staying, shown = [], [], set()
    if not closed:
        for t in _outgoing(d, state):
            if t.dest == state:
                staying.append(t.label.get(locale))
            elif (t.trigger, t.dest) not in shown:
                shown.add((t.trigger, t.dest))
                nexts.append(NextStep(t.label.get(locale), d.states[t.dest].label.get(locale)))
    path: list[Step] = []
    for name in dict.fromkeys(seen):
        if name != state:
            path.append(step(name, "done"))
    path.append(current)
    stages: list[Stage] = []
    staged = bool(d.stages)
    if staged:
        off_line = detours(d)
        order = list(d.states)
        here = order.index(state) if d.states[state].stage else None
        stage_keys = list(d.stages)
        here_stage = d.states[state].stage
        for key, stage_label in d.stages.items():
            steps = []
            for name in order:
                spec = d.states[name]
                if spec.stage != key:
                    continue
                if name == state:
                    steps.append(current)
                elif name in entered:
                    steps.append(step(name, "done"))
                elif name in off_line:
                    continue
                elif here is not None and order.index(name) < here:
                    continue  # passed over (entered part-way, or a step this case skipped)
                else:
                    steps.append(step(name, "later"))
            first_later = next((s for s in steps if s.status == "later"), None)
            if first_later is not None and here is not None and key == here_stage:
                first_later.status = "next"
            if key == here_stage:
                status = "current"
            elif (here_stage and stage_keys.index(key) < stage_keys.index(here_stage)) or (
                not here_stage and steps and all(s.status == "done" for s in steps)
            ):
                status = "done"
            else:
                status = "later"
            stages.append(Stage(key, stage_label.get(locale), status, steps))
        if here_stage and not any(s.status == "next" for st in stages for s in st.steps):
            for st in stages[stage_keys.index(here_stage) + 1 :]:
                later = next((s for s in st.steps if s.status == "later"), None)
                if later:
                    later.status = "next"
                    break
    return Progress(staged, current, stages, path, nexts, staying, closed)


# --- the diagram ----------------------------------------------------------------------------

_UNSAFE = re.compile(r"[;:#\n\r\"{}<>]")


def _text(value: str) -> str:
    return _UNSAFE.sub(" ", value).strip()


def diagram(d: Definition, current: str | None, passed: set[str], locale: str) -> str:
    """Mermaid text of the whole machine, top to bottom, labels in ``locale``."""
    lines = [
        "stateDiagram-v2",
        "  direction TB",
        "  classDef s_default fill:white,color:black",
        "  classDef s_done fill:#e3f1e6,color:#1d5b2a",
        "  classDef s_active color:#5c0a0a,fill:darksalmon,font-weight:bold",
    ]
    for name, spec in d.states.items():
        lines.append(f'  state "{_text(spec.label.get(locale))}" as {name}')
    edges: dict[tuple[str, str], list[str]] = {}
    for t in d.transitions:
        for src in d.expand_sources(t):
            if src != t.dest:
                labels = edges.setdefault((src, t.dest), [])
                text = _text(t.label.get(locale))
                if text not in labels:
                    labels.append(text)
    lines.append(f"  [*] --> {d.initial}")
    for (src, dest), labels in edges.items():
        lines.append(f"  {src} --> {dest}: {' / '.join(labels)}")
    for name in d.states:
        kind = "s_active" if name == current else "s_done" if name in passed else "s_default"
        lines.append(f"  Class {name} {kind}")
    return "\n".join(lines)


def after_step(case_id: int, trigger: str, state: str, locale: str) -> str:
    """What a step did and what comes next, in the reader's language, for its flash."""
    from flask_babel import gettext as _

    from pbflow.engine.registry import registry
    from pbflow.models import ProcessInstance

    case = db.session.get(ProcessInstance, case_id)
    if case is None:
        return _("Done.")
    d = registry().stored(case.definition_id)
    t = next((x for x in d.transitions if x.trigger == trigger), None)
    done = t.label.get(locale) if t else trigger
    now = d.states[state].label.get(locale) if state in d.states else state
    if state in d.states and d.states[state].final:
        return _("Done: %(step)s. The case is now closed: %(state)s.", step=done, state=now)
    nexts = [
        x.label.get(locale) for x in _outgoing(d, state) if x.dest != state and not x.system_only
    ][:3]
    if not nexts:
        return _("Done: %(step)s. The case is now: %(state)s.", step=done, state=now)
    return _(
        "Done: %(step)s. The case is now: %(state)s. Next: %(next)s.",
        step=done,
        state=now,
        next=joined(nexts, locale),
    )
