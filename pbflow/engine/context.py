"""What a guard or effect sees: the case, the actor, the submitted fields, settings, "now"."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import date, datetime
from typing import Any

from pbflow import audit, clock
from pbflow.engine import fastsql
from pbflow.engine.definitions import Definition, TransitionSpec
from pbflow.engine.fields import parse_date
from pbflow.extensions import db
from pbflow.models import Person


@dataclass
class CaseState:
    """A plain snapshot of a case row: the engine's hot path works on this, not ORM objects."""

    id: int | None
    definition_id: int
    workflow_id: str
    org_id: int
    state: str
    data: dict[str, Any]
    version: int
    entered_version: int
    subject_person_id: int | None
    submitter_user_id: int | None
    assignee_user_id: int | None
    parent_id: int | None
    created_at: datetime | None
    state_entered_at: datetime | None
    closed_at: datetime | None = None
    title: str = ""
    due_at: datetime | None = None


# A case is read as a row of fastsql.CASE_COLUMNS and made a CaseState by position.
if tuple(f.name for f in fields(CaseState)) != fastsql.CASE_COLUMNS:  # pragma: no cover
    raise RuntimeError("CaseState's fields must be fastsql.CASE_COLUMNS, in that order")


@dataclass
class Block:
    """A guard's refusal: a readable reason and, when known, the date it stops refusing."""

    reason: str
    available_from: date | None = None


@dataclass
class Context:
    """One step's view of the world. Effects date what they write with ``now``."""

    definition: Definition
    case: CaseState
    actor: Any
    values: dict[str, Any]
    transition: TransitionSpec | None = None
    now: datetime = field(default_factory=clock.now)
    # Whether the step is being taken (True) or only weighed for a page (False): a guard
    # that must lock what it counts (engine/locks.py) locks only when it is taken.
    taking: bool = False
    # effects fill these; the runtime writes them
    assignee_changed: bool = False
    created_children: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        # A step the audit trail records as "anonymous" is dated no finer than its workflow's
        # ``anonymous_time``: the case's times, its audit events and notices all take
        # ``now`` from here, so none can be matched against a known person's actions.
        unit = self.definition.anonymous_time
        if unit and audit.actor_fields(self.actor) == (None, audit.ANONYMOUS):
            self.now = clock.coarse(self.now, unit)

    @property
    def today(self) -> date:
        # Asked by the time limit and date guards of one step: worked out once per ``now``.
        known = self.__dict__.get("_today")
        if known is None or known[0] is not self.now:
            known = self.__dict__["_today"] = (self.now, clock.to_local(self.now).date())
        return known[1]

    @property
    def data(self) -> dict[str, Any]:
        return self.case.data

    def value(self, name: str) -> Any:
        """A field's value: what was just submitted, else what the case already holds."""
        if name in self.values:
            return self.values[name]
        return self.case.data.get(name)

    def date_value(self, name: str) -> date | None:
        """A date field of the case, or a date of its subject's profile (``subject.<column>``)."""
        if name.startswith("subject."):
            person = self.subject()
            raw = getattr(person, name.split(".", 1)[1], None) if person else None
        else:
            raw = self.value(name)
        if raw in (None, ""):
            return None
        return parse_date(raw) if not isinstance(raw, datetime) else raw.date()

    def setting(self, name: str) -> Any:
        """A workflow setting, overridden by the nearest organization above that sets it."""
        from pbflow.engine.actors import org_index

        index = org_index()
        node = index.get(self.case.org_id)
        ids = node.ancestor_ids() if node else []
        if ids:
            rows = fastsql.org_settings(ids)
            for oid in reversed(ids):
                overrides = (rows.get(oid) or {}).get(self.definition.id) or {}
                if name in overrides:
                    return overrides[name]
        return self.definition.setting_default(name)

    def subject(self) -> Person | None:
        pid = self.case.subject_person_id
        if pid is None and self.definition.subject not in ("none", "self"):
            pid = self.value(self.definition.subject)
        return db.session.get(Person, pid) if pid else None
