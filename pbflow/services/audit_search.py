"""Searching the audit trail (the audit pages and the API): filters, the reader's scope,
keyset pages newest first."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import IO, Any

from flask import current_app
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, or_, select, tuple_, union

from pbflow import audit, clock, validation
from pbflow.engine import actors, fastsql
from pbflow.engine.definitions import aside
from pbflow.extensions import db
from pbflow.models import AuditEvent, AuditPerson, ProcessInstance, User
from pbflow.services import pagination

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

    @property
    def by_dates(self) -> bool:
        """A search by dates, listed by time (``newest_first``); any other, by number."""
        return self.date_from is not None or self.date_to is not None


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


EXPORT_IN_MEMORY = 8 * 1024 * 1024  # bytes of an export kept in memory; the rest on disk


@dataclass
class Export:
    """The chain as JSON Lines, in a file at its start, and the name to download it as."""

    file: IO[bytes]
    filename: str


def export_chain(reader: User) -> Export:
    """The whole chain for the audit pages and the API, verifiable offline with ``pbflow
    audit verify --file``; events outside the reader's scope are withheld (audit.export).

    Spooled: a small trail stays in memory, a big one goes to a temporary file, never the
    whole trail into memory. The caller hands the file to ``send_file``, which closes it
    when the answer is sent.
    """
    spool = tempfile.SpooledTemporaryFile(max_size=EXPORT_IN_MEMORY, mode="w+b")  # noqa: SIM115
    try:
        audit.export(_TextWriter(spool), reader_scope(reader))
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    stamp = clock.to_local(clock.now()).strftime("%Y%m%d-%H%M")
    return Export(spool, f"pbflow-audit-{stamp}.jsonl")


class _TextWriter:
    """The text ``write`` that audit.export needs, encoding UTF-8 into a binary file."""

    def __init__(self, raw: IO[bytes]):
        self.raw = raw

    def write(self, text: str) -> int:
        self.raw.write(text.encode("utf-8"))
        return len(text)


def _events_query(reader: User, f: Filters, stmt, before: int | None = None):
    """The search's conditions (the reader's scope and the filters) on ``stmt``; ``before``
    bounds the person look-up to a keyset page's sequence numbers."""
    scope = reader_scope(reader)
    if scope is not None:
        stmt = stmt.where(
            or_(
                and_(AuditEvent.org_id.is_(None), AuditEvent.action.in_(audit.NEUTRAL_ACTIONS)),
                fastsql.among(AuditEvent.org_id, scope or {-1}),
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
        stmt = stmt.where(fastsql.among(AuditEvent.org_id, subtree or [-1]))
    if f.date_from is not None:
        stmt = stmt.where(AuditEvent.at >= clock.local_midnight_utc(f.date_from))
    if f.date_to is not None:
        stmt = stmt.where(AuditEvent.at < _end_of(f.date_to))
    return stmt


# What the search shows of an event (the page and the API): read as rows, not as objects with
# the chain's links and seals, which neither shows.
EVENT_COLUMNS = (
    AuditEvent.seq,
    AuditEvent.at,
    AuditEvent.actor_label,
    AuditEvent.action,
    AuditEvent.org_id,
    AuditEvent.instance_id,
    AuditEvent.from_state,
    AuditEvent.to_state,
    AuditEvent.payload,
    AuditEvent.hash,
)


def newest_first(f: Filters) -> tuple[Any, ...]:
    """The order a search lists its events in, newest first: by time when it is by dates
    (``ix_audit_at_seq`` holds that order), by number otherwise. The page and the exports
    of a search list alike."""
    if f.by_dates:
        return (AuditEvent.at.desc(), AuditEvent.seq.desc())
    return (AuditEvent.seq.desc(),)


def every_event(reader: User, f: Filters) -> Iterator[Any]:
    """Every event the search selects (rows of EVENT_COLUMNS: the same scope and filters,
    not only the page shown), in the page's order, read in batches: for CSV or Excel."""
    stmt = _events_query(reader, f, select(*EVENT_COLUMNS)).order_by(*newest_first(f))
    return iter(db.session.execute(stmt.execution_options(yield_per=1000)))


def _end_of(day: date) -> datetime:
    """The instant (naive UTC) at which local date ``day`` ends: a period's bound."""
    return clock.local_midnight_utc(day + timedelta(days=1))


def _time_of(reader: User, seq: int) -> datetime | None:
    """The time of event ``seq`` if the reader may see it: a cursor naming an event outside
    their scope would otherwise tell them its time (the page starting just before it),
    which a scoped export withholds."""
    stmt = _events_query(reader, Filters(), select(AuditEvent.at).where(AuditEvent.seq == seq))
    return db.session.execute(stmt).scalar()


def search_events(
    reader: User, f: Filters, per_page: int = PER_PAGE
) -> tuple[list[Any], int | None]:
    """One page of events (rows of EVENT_COLUMNS), newest first, and the sequence number to
    continue from (or None).

    The page's sequence numbers first, then their rows: a filter an index answers with the
    sequence number beside it (dates, actor, action, organization) finds the page in the
    index alone, and only the page's events are read, payloads and all.

    A search by dates lists its events by time (then number), which ``ix_audit_at_seq``
    holds in that order: a page of a past year reads its 51 entries, where the numbers'
    order read and sorted the year's 150,000 (times do not rise with the numbers: commits
    overlap, and the opinion box's and surveys' times are coarsened on purpose)."""
    by_time = f.by_dates
    order = newest_first(f)
    after: tuple[datetime, int] | None = None  # the cursor, by time: (time, number)
    if by_time and f.before is not None:
        # None past the head or outside the reader's scope: the page starts from the newest.
        at = _time_of(reader, f.before)
        if at is not None and (f.date_to is None or at < _end_of(f.date_to)):
            after = (at, f.before)
            # The cursor's bound ends the period before its end does: one upper bound, which
            # SQLite takes as where its walk of the index starts (given both, it took the
            # period's end and walked back to the cursor).
            f = replace(f, date_to=None)
    page = _events_query(reader, f, select(AuditEvent.seq), None if by_time else f.before)
    if after is not None:
        page = page.where(tuple_(AuditEvent.at, AuditEvent.seq) < tuple_(*after))
    elif not by_time and f.before is not None:
        # By person, the bound also stands on the index read (_person_condition).
        bound = AuditEvent.seq < f.before
        page = page.where(bound if f.person is None else (AuditEvent.seq + 0) < f.before)
    page = page.order_by(*order).limit(per_page + 1).subquery()
    stmt = select(*EVENT_COLUMNS).where(AuditEvent.seq.in_(select(page.c.seq)))
    rows = list(db.session.execute(stmt.order_by(*order)))
    return pagination.cut(rows, per_page, lambda r: r.seq)


# --- what the events say, in words ----------------------------------------------------------

# The audit events pbflow's own parts record, by action; the procedures name theirs
# (``Procedure.audit_actions``). The key stays searchable and is shown beside the words.
ACTIONS: dict[str, Any] = {
    "case_started": _l("Case started"),
    "transition": _l("Step taken"),
    "ballot_cast": _l("Ballot cast"),
    "resolution_recorded": _l("Meeting resolution recorded"),
    "comment_added": _l("Comment added"),
    "attachment_added": _l("File attached"),
    "attachment_downloaded": _l("File downloaded"),
    "reminder_sent": _l("Reminder sent"),
    "overdue": _l("Marked overdue"),
    "escalated": _l("Escalated to the superior organization"),
    "definition_loaded": _l("Workflow definition loaded"),
    "rehearsal_started": _l("Rehearsal copy started"),
    "org_created": _l("Organization created"),
    "org_renamed": _l("Organization renamed"),
    "org_activated": _l("Organization reactivated"),
    "org_deactivated": _l("Organization deactivated"),
    "user_created": _l("Account created"),
    "user_activated": _l("Account reactivated"),
    "user_deactivated": _l("Account deactivated"),
    "user_unlocked": _l("Account unlocked"),
    "user_email_changed": _l("Account e-mail changed"),
    "user_locale_changed": _l("Account language changed"),
    "account_locked": _l("Account locked"),
    "password_changed": _l("Password changed"),
    "password_change_failed": _l("Password change refused"),
    "password_confirmed": _l("Password confirmed for a sensitive action"),
    "password_confirm_failed": _l("Password confirmation refused"),
    "sessions_revoked": _l("Sessions ended"),
    "role_granted": _l("Role granted"),
    "role_revoked": _l("Role revoked"),
    "api_token_created": _l("API token created"),
    "api_token_revoked": _l("API token revoked"),
    "api_token_refused": _l("API token refused: a token tried to make one"),
    "person_created": _l("Person added"),
    "person_updated": _l("Person's record changed"),
    "person_activated": _l("Person reactivated"),
    "person_deactivated": _l("Person deactivated"),
    "person_status_corrected": _l("Person's party standing corrected"),
    "people_imported": _l("People imported"),
    "setting_changed": _l("Setting changed"),
    "setting_unset": _l("Setting reset to its default"),
    "calendar_day_set": _l("Calendar day set"),
    "calendar_day_unset": _l("Calendar day reset"),
    "calendar_year_confirmed": _l("Calendar year confirmed"),
    "calendar_year_unconfirmed": _l("Calendar year unconfirmed"),
    "calendar_running_out": _l("Calendar running out noted"),
    "document_printed": _l("Document printed or downloaded"),
    "case_archived": _l("Case archive downloaded"),
    "work_waiting_repaired": _l("Work waiting repaired from the cases"),
    "figures_repaired": _l("Kept figures repaired from the records"),
}


def action_label(action: str) -> str:
    """The words for an audit action in the reader's language; the key itself when nothing
    names it (an event of a procedure no longer installed)."""
    from pbflow import procedures

    label = ACTIONS.get(action) or procedures.audit_action_label(action)
    return str(label) if label is not None else action


def action_choices(locale: str, current: str = "") -> list[tuple[str, str]]:
    """Every action pbflow and its installed procedures record, as (key, "words (key)") in the
    order of the words, for the search's list of actions; an action asked for that none of
    them names (a procedure since removed) is kept at the end, so a search is never lost."""
    from pbflow import procedures

    # Made once per language and app (the procedures are installed when the app is made):
    # translating and sorting some ninety words cost each audit page a millisecond.
    kept = current_app.extensions.setdefault("pbflow_audit_action_choices", {})
    key = (locale, str(get_locale()))
    made = kept.get(key)
    if made is None:
        labels = {k: str(words) for k, words in ACTIONS.items()}
        for procedure in procedures.installed():
            labels.update((k, str(words)) for k, words in procedure.audit_actions.items())
        choices = sorted(((k, aside(w, k, locale)) for k, w in labels.items()), key=lambda c: c[1])
        made = kept[key] = (tuple(choices), frozenset(labels))
    choices, named = list(made[0]), made[1]
    if current and current not in named:
        choices.append((current, current))
    return choices


# Actors without an account, in words: the scheduler and whoever acted with a tracking code.
# The stored label stays what the search by actor matches.
ACTOR_WORDS = {audit.SYSTEM: _l("System"), audit.ANONYMOUS: _l("Anonymous")}


def actor_word(label: str | None) -> str | None:
    """``label`` in the reader's language when it names no account (system, anonymous)."""
    word = ACTOR_WORDS.get(label or "")
    return str(word) if word is not None else None


@dataclass
class EventView:
    """An event as the audit page shows it: the stored row, and what it says in words."""

    event: Any  # a row of EVENT_COLUMNS
    action: str  # the action in words
    step: str | None  # a transition's step, by its label in the case's workflow
    from_state: str | None  # states by their labels (the key when the workflow lacks it)
    to_state: str | None
    details: str  # the payload, as compact JSON
    actor: str | None = None  # an actor without an account in words (ACTOR_WORDS)


def _payload(event: Any) -> tuple[dict[str, Any], str]:
    """The event's payload read once: as data, and as the compact text the page shows."""
    try:
        data = json.loads(event.payload or "{}")
    except ValueError:
        return {}, event.payload or ""
    if not data:
        return {}, ""
    text = json.dumps(data, ensure_ascii=False, sort_keys=True)
    return (data if isinstance(data, dict) else {}), text


def describe(events: list[Any], locale: str) -> list[EventView]:
    """The page's events in words: actions by name, states and steps by their labels in the
    workflow revision each case runs (one statement for the page's cases)."""
    from pbflow.engine.errors import DefinitionError, NotFound
    from pbflow.engine.registry import registry

    case_ids = {e.instance_id for e in events if e.instance_id is not None}
    definitions: dict[int, int] = {}
    if case_ids:
        definitions = dict(
            db.session.execute(
                select(ProcessInstance.id, ProcessInstance.definition_id).where(
                    fastsql.among(ProcessInstance.id, case_ids)
                )
            ).all()
        )
    reg = registry()
    actions: dict[str, str] = {}  # each action's words, translated once a page
    out = []
    for e in events:
        data, text = _payload(e)
        words = actions.get(e.action)
        if words is None:
            words = actions[e.action] = action_label(e.action)
        d = None
        if e.instance_id in definitions:
            try:
                d = reg.stored(definitions[e.instance_id])
            except (NotFound, DefinitionError):
                d = None  # the words fall back to the stored keys
        step = None
        if e.action == "transition" and d is not None:
            trigger = data.get("trigger")
            t = d.transition(e.from_state, trigger) if trigger and e.from_state else None
            step = t.label.get(locale) if t is not None else trigger
        from_state, to_state = (
            (d.state_label(e.from_state, locale), d.state_label(e.to_state, locale))
            if d is not None
            else (e.from_state, e.to_state)
        )
        out.append(EventView(e, words, step, from_state, to_state, text, actor_word(e.actor_label)))
    return out
