"""Searching the audit trail (the audit pages and the API): filters, the reader's scope,
keyset pages newest first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import and_, or_, select, union

from pbflow import audit, clock, validation
from pbflow.engine import actors
from pbflow.extensions import db
from pbflow.models import AuditEvent, AuditPerson, ProcessInstance, User

PER_PAGE = 50


@dataclass
class Filters:
    """The search form, parsed; ``errors`` name the fields that could not be read."""

    case: int | None = None
    person: int | None = None
    actor: str = ""
    action: str = ""
    org: int | None = None
    date_from: date | None = None
    date_to: date | None = None
    before: int | None = None
    errors: dict[str, str] | None = None


def _int_arg(args: Any, name: str, errors: dict[str, str]) -> int | None:
    raw = (args.get(name) or "").strip().lstrip("#")
    if not raw:
        return None
    value = validation.parse_id(raw)
    if value is not None:
        return value
    errors[name] = _("'%(value)s' is not a number", value=raw)
    return None


def _date_arg(args: Any, name: str, errors: dict[str, str]) -> date | None:
    raw = (args.get(name) or "").strip()
    if not raw:
        return None
    try:
        return validation.parse_date(raw)
    except ValueError:
        errors[name] = _("'%(value)s' is not a date (use YYYY-MM-DD)", value=raw)
        return None


def parse_filters(args: Any) -> Filters:
    errors: dict[str, str] = {}
    f = Filters(
        case=_int_arg(args, "case", errors),
        person=_int_arg(args, "person", errors),
        actor=(args.get("actor") or "").strip(),
        action=(args.get("action") or "").strip(),
        org=_int_arg(args, "org", errors),
        date_from=_date_arg(args, "from", errors),
        date_to=_date_arg(args, "to", errors),
        before=_int_arg(args, "before", errors),
    )
    f.errors = errors
    return f


def _person_condition(person_id: int, before: int | None):
    """Events about a person: their cases' events (by ``ix_audit_instance``) and the events
    whose payload names them (the index ``audit_person``), both read by sequence number."""
    cases = select(ProcessInstance.id).where(ProcessInstance.subject_person_id == person_id)
    named = select(AuditPerson.seq).where(AuditPerson.person_id == person_id)
    of_cases = select(AuditEvent.seq).where(AuditEvent.instance_id.in_(cases))
    if before is not None:
        # Only on the index: a bound on the cases' events (few) or on the outer query would
        # lead the planners to walk audit_event by seq instead.
        named = named.where(AuditPerson.seq < before)
    return AuditEvent.seq.in_(union(named, of_cases))


def reader_scope(reader: User) -> set[int] | None:
    """The organizations whose events the reader sees; None: every event (reads them all)."""
    readable = actors.readable_org_ids(reader)
    if set(actors.org_index()) <= readable:
        return None
    return readable


def _events_query(reader: User, f: Filters, stmt, before: int | None = None):
    """The search's conditions (the reader's scope and the filters) on ``stmt``; ``before``
    bounds the person look-up to a keyset page's sequence numbers."""
    scope = reader_scope(reader)
    if scope is not None:
        stmt = stmt.where(
            or_(
                and_(AuditEvent.org_id.is_(None), AuditEvent.action.in_(audit.NEUTRAL_ACTIONS)),
                AuditEvent.org_id.in_(scope or {-1}),
            )
        )
    if f.case is not None:
        stmt = stmt.where(AuditEvent.instance_id == f.case)
    if f.person is not None:
        stmt = stmt.where(_person_condition(f.person, before))
    if f.actor:
        stmt = stmt.where(AuditEvent.actor_label == f.actor)
    if f.action:
        stmt = stmt.where(AuditEvent.action == f.action)
    if f.org is not None:
        subtree = [n.id for n in actors.org_index().values() if f.org in n.ancestor_ids()]
        stmt = stmt.where(AuditEvent.org_id.in_(subtree or [-1]))
    if f.date_from is not None:
        stmt = stmt.where(AuditEvent.at >= clock.local_midnight_utc(f.date_from))
    if f.date_to is not None:
        stmt = stmt.where(AuditEvent.at < clock.local_midnight_utc(f.date_to + timedelta(days=1)))
    return stmt


def search_events(
    reader: User, f: Filters, per_page: int = PER_PAGE
) -> tuple[list[AuditEvent], int | None]:
    """One page of events, newest first, and the sequence number to continue from (or None)."""
    stmt = _events_query(reader, f, select(AuditEvent), f.before)
    if f.before is not None:
        # By person, the bound also stands on the index read (_person_condition).
        bound = AuditEvent.seq < f.before
        stmt = stmt.where(bound if f.person is None else (AuditEvent.seq + 0) < f.before)
    rows = list(
        db.session.execute(stmt.order_by(AuditEvent.seq.desc()).limit(per_page + 1)).scalars()
    )
    more = len(rows) > per_page
    rows = rows[:per_page]
    return rows, (rows[-1].seq if more else None)
