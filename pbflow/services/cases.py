"""Cases as people see them: the case page, the case list, starting a case, taking a step
with its uploaded files, voting.

Everything here works for any workflow file: labels, fields and states come from the case's
own definition version, never from workflow-specific code. Pages, the JSON API and the CLI call
these functions; the rules themselves stay in the engine.

Who may see a case is decided in :mod:`pbflow.services.visibility`, the one rule every page
that shows a case uses.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import Select, func, or_, select, true, tuple_, union_all, update
from sqlalchemy.sql.elements import True_

from pbflow import clock, title_search, validation
from pbflow.engine import actors, calendar, fastsql, runtime, votes
from pbflow.engine.context import CaseState
from pbflow.engine.definitions import (
    COMMA,
    ENTRY_SEPARATOR,
    Definition,
    FieldSpec,
    StateSpec,
    aside,
    joined,
    labelled,
)
from pbflow.engine.errors import NotFound
from pbflow.engine.registry import registry
from pbflow.extensions import db
from pbflow.extensions import session as current_session
from pbflow.models import (
    Attachment,
    AuditEvent,
    Notification,
    Organization,
    Person,
    ProcessInstance,
    RoleAssignment,
    User,
)
from pbflow.services import attachments, procedure_view
from pbflow.services.attachments import Upload
from pbflow.services.audit_search import action_label, actor_word
from pbflow.services.pagination import COUNT_LIMIT, format_cursor, parse_cursor
from pbflow.services.visibility import (
    can_view,
    get_visible_case,
    get_visible_snapshot,
    may_record_resolution,
    snapshot,
)

P = ProcessInstance
PAGE_SIZE = 25
TIMELINE_LIMIT = 500
PICKER_LIMIT = 500
NOT_HANDLERS = ("admin", "auditor")  # roles that never handle a case
REF_TYPES = ("user", "person", "persons", "file")


def _my_person_id(user: User) -> int | None:
    return actors.person_id_of_user(user.id)


# --- field labels and values ----------------------------------------------------------------


def field_specs(d: Definition) -> dict[str, FieldSpec]:
    """Every field the workflow declares (start form first, then the steps' forms)."""
    specs: dict[str, FieldSpec] = {}
    for spec in d.start_fields:
        specs.setdefault(spec.name, spec)
    for t in d.transitions:
        for spec in t.fields:
            specs.setdefault(spec.name, spec)
    for spec in d.data_fields:
        specs.setdefault(spec.name, spec)
    return specs


# Keys the effects write inside ``records`` and ``per_person`` entries besides form fields.
_ENTRY_DATES = ("on", "recorded_on")
_ENTRY_USERS = ("by",)


def _entries(spec: FieldSpec, value: Any) -> list[tuple[int | None, dict]]:
    """The entries of a ``records`` (a list) or ``per_person`` (a mapping by person id)
    value, each with its person id (None for records)."""
    if spec.type == "records" and isinstance(value, list):
        return [(None, v) for v in value if isinstance(v, dict)]
    if spec.type == "per_person" and isinstance(value, dict):
        return [
            (int(k) if str(k).isdigit() else None, v)
            for k, v in value.items()
            if isinstance(v, dict)
        ]
    return []


@dataclass
class Refs:
    """Names of the users, people and files that field values point at, loaded in bulk."""

    users: dict[int, str] = field(default_factory=dict)
    persons: dict[int, str] = field(default_factory=dict)
    files: dict[int, Attachment] = field(default_factory=dict)
    specs: dict[str, FieldSpec] = field(default_factory=dict)  # to label entries' values

    @classmethod
    def load(cls, specs: Mapping[str, FieldSpec], *value_maps: Mapping[str, Any]) -> Refs:
        wanted: dict[str, set[int]] = {"user": set(), "person": set(), "file": set()}

        def want(values: Mapping[str, Any]) -> None:
            for name, value in values.items():
                spec = specs.get(name)
                if name in _ENTRY_USERS and isinstance(value, int):
                    wanted["user"].add(value)
                if spec is None:
                    continue
                for who, entry in _entries(spec, value):
                    if who is not None:
                        wanted["person"].add(who)
                    want(entry)
                if spec.type == "per_person_text" and isinstance(value, dict):
                    wanted["person"].update(int(k) for k in value if str(k).isdigit())
                if spec.type not in REF_TYPES:
                    continue
                kind = "person" if spec.type == "persons" else spec.type
                items = value if isinstance(value, list) else [value]
                wanted[kind].update(v for v in items if isinstance(v, int))

        for values in value_maps:
            want(values or {})
        refs = cls(specs=dict(specs))
        if wanted["user"]:
            refs.users = dict(
                db.session.execute(
                    select(User.id, User.display_name).where(User.id.in_(wanted["user"]))
                ).all()
            )
        if wanted["person"]:
            refs.persons = dict(
                db.session.execute(
                    select(Person.id, Person.name).where(Person.id.in_(wanted["person"]))
                ).all()
            )
        if wanted["file"]:
            refs.files = {
                a.id: a
                for a in db.session.execute(
                    select(Attachment).where(Attachment.id.in_(wanted["file"]))
                ).scalars()
            }
        return refs


@dataclass
class FieldValue:
    name: str
    label: str
    text: str
    files: list[Attachment] = field(default_factory=list)
    items: list[str] = field(default_factory=list)  # a list value, one line each


def display_value(spec: FieldSpec | None, value: Any, refs: Refs, locale: str) -> FieldValue:
    """A stored field value as a person reads it, in the page's language."""
    name = spec.name if spec else ""
    label = spec.label.get(locale) if spec else ""
    if spec is None:
        text = json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list) else value
        return FieldValue(name, label, "" if text is None else str(text))
    items = value if isinstance(value, list) else [value]
    if spec.type in ("records", "per_person"):
        lines = [_entry_text(spec, who, e, refs, locale) for who, e in _entries(spec, value)]
        return FieldValue(name, label, ENTRY_SEPARATOR.get(locale).join(lines), items=lines)
    if spec.type == "per_person_text" and isinstance(value, dict):
        lines = [
            aside(refs.persons.get(int(k), f"#{k}") if str(k).isdigit() else str(k), text, locale)
            for k, text in value.items()
        ]
        return FieldValue(name, label, joined(lines, locale), items=lines)
    if spec.type == "boolean":
        return FieldValue(name, label, _("Yes") if value else _("No"))
    if spec.type in ("choice", "multichoice"):
        labels = {c.value: c.label.get(locale) for c in spec.choices}
        return FieldValue(name, label, joined((labels.get(str(v), str(v)) for v in items), locale))
    if spec.type == "user":
        return FieldValue(name, label, joined((refs.users.get(v, f"#{v}") for v in items), locale))
    if spec.type in ("person", "persons"):
        names = (refs.persons.get(v, f"#{v}") for v in items)
        return FieldValue(name, label, joined(names, locale))
    if spec.type == "file":
        files = [refs.files[v] for v in items if v in refs.files]
        return FieldValue(name, label, joined((a.filename for a in files), locale), files)
    return FieldValue(name, label, "" if value is None else str(value))


def _entry_text(spec: FieldSpec, who: int | None, entry: Mapping, refs: Refs, locale: str):
    """One entry of a ``records`` or ``per_person`` value on one line: its person, its
    values labelled as the workflow's forms label them, who recorded it and when."""
    specs = refs.specs
    parts = [refs.persons.get(who, f"#{who}")] if who is not None else []
    when = by = ""
    for key, value in entry.items():
        if value in (None, "", []):
            continue
        if key in _ENTRY_DATES:
            when = str(value)
        elif key in _ENTRY_USERS:
            by = refs.users.get(value, "") if isinstance(value, int) else str(value)
        elif key in specs:
            row = display_value(specs[key], value, refs, locale)
            parts.append(labelled(row.label, row.text, locale) if row.text else "")
        elif isinstance(value, str | int | float):
            parts.append(str(value))
    text = " · ".join(p for p in parts if p)
    tail = COMMA.get(locale).join(x for x in (by, when) if x)
    return aside(text, tail, locale) if text else tail


def hidden_fields(*definitions: Definition | None) -> set[str]:
    """Names marked ``internal`` in any of these versions of a workflow."""
    return {
        spec.name
        for d in definitions
        if d is not None
        for spec in (*d.start_fields, *(f for t in d.transitions for f in t.fields), *d.data_fields)
        if spec.internal
    }


def case_fields(
    d: Definition, data: Mapping[str, Any], refs: Refs, locale: str, hidden: set[str] = frozenset()
):
    """The case's data in human form, in the order the workflow declares its fields. Shown
    is only what the workflow declares (a form field or a ``data`` entry) and does not mark
    ``internal``: keys starting with ``_`` and other bookkeeping stay off the page."""
    specs = field_specs(d)
    hidden = set(hidden) | hidden_fields(d)
    rows = []
    for name in specs:
        if name not in data or name in hidden:
            continue
        value = data[name]
        if value in (None, "", [], {}):
            continue
        rows.append(display_value(specs[name], value, refs, locale))
    return rows


# --- the timeline ---------------------------------------------------------------------------

_ACTION_TEXT = {
    "case_started": lambda: _("Started the case"),
    "ballot_cast": lambda: _("Cast a ballot"),
    "resolution_recorded": lambda: _("Recorded the meeting's resolution"),
    "comment_added": lambda: _("Commented"),
    "attachment_added": lambda: _("Attached a file"),
    "attachment_downloaded": lambda: _("Downloaded a file"),
    "reminder_sent": lambda: _("Reminder sent"),
    "case_overdue": lambda: _("Marked overdue"),
    "escalated": lambda: _("Escalated to the superior organization"),
    "supervision_notice_linked": lambda: _("Linked to the matter it concerns"),
    "person_updated": lambda: _("Updated the person's record"),
    "document_printed": lambda: _("Printed or downloaded a document"),
    "case_archived": lambda: _("Downloaded the case archive"),
}


@dataclass
class TimelineEntry:
    seq: int
    at: datetime
    actor: str
    action: str
    text: str
    from_state: str | None
    to_state: str | None
    comment: str | None
    fields: list[FieldValue]
    details: list[tuple[str, str]]


def _state_label(d: Definition, name: str | None, locale: str) -> str | None:
    return d.state_label(name, locale)


def timeline(case: Any, d: Definition, locale: str, *, since_version: int | None = None):
    """The case's history from its audit events, oldest first. With ``since_version``, only
    what happened after the case had that version (each transition adds one)."""
    rows = list(
        db.session.execute(
            select(AuditEvent)
            .where(AuditEvent.instance_id == case.id)
            .order_by(AuditEvent.seq.desc())
            .limit(TIMELINE_LIMIT)
        ).scalars()
    )[::-1]
    if since_version is not None:
        transitions_seen, start = 0, len(rows)
        for i, ev in enumerate(rows):
            if transitions_seen >= since_version - 1:
                start = i
                break
            if ev.action == "transition":
                transitions_seen += 1
        rows = rows[start:] if transitions_seen >= since_version - 1 else []
    payloads = [json.loads(ev.payload or "{}") for ev in rows]
    specs = field_specs(d)
    refs = Refs.load(specs, *[p.get("fields") or {} for p in payloads])
    names = dict(
        db.session.execute(
            select(User.id, User.display_name).where(
                User.id.in_({ev.actor_user_id for ev in rows if ev.actor_user_id})
            )
        ).all()
    )
    entries = []
    for ev, payload in zip(rows, payloads, strict=True):
        if ev.action == "transition":
            t = d.transition(ev.from_state, payload.get("trigger", "")) if ev.from_state else None
            text = t.label.get(locale) if t else payload.get("trigger", ev.action)
        else:
            # The timeline's own verbs, else what the audit pages call the action (a
            # procedure names its own there), else its key.
            own = _ACTION_TEXT.get(ev.action)
            text = own() if own else action_label(ev.action)
        details: list[tuple[str, str]] = []
        if ev.action == "attachment_added":
            details.append((_("File"), str(payload.get("filename", ""))))
        if ev.action == "resolution_recorded":
            details += [
                (_("Meeting date"), str(payload.get("meeting_date", ""))),
                (_("Should attend"), str(payload.get("should_attend", ""))),
                (_("Attended"), str(payload.get("attended", ""))),
                (_("For"), str(payload.get("votes_for", 0) + payload.get("written_for", 0))),
                (_("Against"), str(payload.get("votes_against", 0))),
                (_("Abstain"), str(payload.get("votes_abstain", 0))),
                (_("Outcome"), _("passed") if payload.get("outcome") == "passed" else _("failed")),
            ]
        comment = payload.get("comment") or (
            payload.get("body") if ev.action == "comment_added" else None
        )
        entries.append(
            TimelineEntry(
                seq=ev.seq,
                at=ev.at,
                actor=names.get(ev.actor_user_id, ev.actor_label)
                if ev.actor_user_id
                else (actor_word(ev.actor_label) or ev.actor_label),
                action=ev.action,
                text=text,
                from_state=_state_label(d, ev.from_state, locale),
                to_state=_state_label(d, ev.to_state, locale),
                comment=comment,
                fields=[
                    display_value(specs.get(k), v, refs, locale)
                    if k in specs
                    else FieldValue(k, k, str(v))
                    for k, v in (payload.get("fields") or {}).items()
                ],
                details=details,
            )
        )
    return entries


# --- the case page --------------------------------------------------------------------------


@dataclass
class VoteView:
    state: str
    mode: tuple[str, ...]
    voted: list[str]
    not_voted: list[str]
    resolution: Any
    my_choice: str | None
    can_ballot: bool
    can_record: bool
    should_attend: int | None


@dataclass
class ChildRow:
    case: ProcessInstance
    workflow: str
    state: str


@dataclass
class CaseView:
    case: ProcessInstance
    definition: Definition
    state: StateSpec
    workflow_title: str
    org_name: str
    subject_name: str | None
    submitter_name: str | None
    assignee_name: str | None
    fields: list[FieldValue]
    diagram: str
    progress: procedure_view.Progress
    timeline: list[TimelineEntry]
    comments: list[Any]
    attachments: list[Attachment]
    uploaders: dict[int, str]
    actions: list[runtime.Action]
    prefill: dict[str, Any]
    pickers: dict[str, list[tuple[int, str]]]
    vote: VoteView | None
    children: list[ChildRow]
    parent: ProcessInstance | None
    overdue: bool
    accept: str
    # Years the case's time limits reach into that no working-day calendar covers (counted
    # Monday to Friday, which the page says).
    calendar_gaps: list[int] = field(default_factory=list)
    # The workflows of all its child cases, seen by the reader or not: a panel that lists
    # children of one workflow (a life meeting's rectification items) reads them only when
    # there are some, where it read them for every case.
    child_workflows: frozenset[str] = frozenset()


def is_overdue(case: Any) -> bool:
    return case.closed_at is None and case.due_at is not None and case.due_at <= clock.now()


def picker_options(org_id: int, kinds: set[str]) -> dict[str, list[tuple[int, str]]]:
    """Whom a user or person field may name: people of the case's organization, those
    below it and those above it (the committee's staff), by name."""
    index = actors.org_index()
    node = index.get(org_id)
    if node is None or not kinds:
        return {}
    above = node.ancestor_ids()
    result: dict[str, list[tuple[int, str]]] = {}
    if kinds & {"person", "persons"}:
        rows = db.session.execute(
            select(Person.id, Person.name)
            .join(Organization, Organization.id == Person.org_id)
            .where(
                Person.active,
                or_(Organization.path.startswith(node.path), Person.org_id.in_(above)),
            )
            .order_by(Organization.path, Person.name, Person.id)
            .limit(PICKER_LIMIT)
        ).all()
        result["person"] = [(r.id, r.name) for r in rows]
    if "user" in kinds:
        # Only those who hold a working role here (not the system administrator's or the
        # auditor's), by the branch they belong to and then by name.
        home = (
            select(RoleAssignment.user_id, func.min(Organization.path).label("path"))
            .join(Organization, Organization.id == RoleAssignment.org_id)
            .where(
                RoleAssignment.role.not_in(NOT_HANDLERS),
                or_(Organization.path.startswith(node.path), RoleAssignment.org_id.in_(above)),
            )
            .group_by(RoleAssignment.user_id)
            .subquery()
        )
        rows = db.session.execute(
            select(User.id, User.display_name)
            .join(home, home.c.user_id == User.id)
            .where(User.active)
            .order_by(home.c.path, User.display_name, User.id)
            .limit(PICKER_LIMIT)
        ).all()
        result["user"] = [(r.id, r.display_name) for r in rows]
    return result


def _line_people(actions: list[Any], data: Mapping[str, Any], refs: Refs):
    """The rows of the steps' per-person fields (``people:<field>``): the people of the
    persons field each one names, as the case holds them, by name."""
    rows: dict[str, list[tuple[int, str]]] = {}
    for spec in (f for a in actions if a.enabled for f in a.fields):
        if spec.type == "per_person_text" and spec.people:
            ids = data.get(spec.people) or []
            rows[f"people:{spec.people}"] = [
                (p, refs.persons.get(p, f"#{p}")) for p in ids if isinstance(p, int)
            ]
    return rows


def _vote_view(user: User, case: ProcessInstance, today: date) -> VoteView | None:
    snap = snapshot(case)
    status = votes.status(snap) if case.closed_at is None else None
    if status is None:
        return None
    vote = registry().stored(case.definition_id).states[case.state].vote
    names = dict(
        db.session.execute(
            select(User.id, User.display_name).where(User.id.in_(status.electorate or [0]))
        ).all()
    )
    can_record = status.resolution is None and may_record_resolution(user, case)
    return VoteView(
        state=case.state,
        mode=status.mode,
        voted=[names.get(u, f"#{u}") for u in status.electorate if u in status.voted],
        not_voted=[names.get(u, f"#{u}") for u in status.not_voted],
        resolution=status.resolution,
        my_choice=status.voted.get(user.id),
        can_ballot="ballot" in status.mode
        and status.resolution is None
        and user.id in status.electorate
        and user.id not in status.voted,
        can_record=can_record,
        should_attend=votes.should_attend(vote, snap, today) if can_record else None,
    )


def _names(ids: set[int | None]) -> dict[int, str]:
    ids = {i for i in ids if i}
    if not ids:
        return {}
    return dict(
        db.session.execute(select(User.id, User.display_name).where(User.id.in_(ids))).all()
    )


def case_page(user: User, case_id: int, locale: str, *, mark_read: bool = True) -> CaseView:
    """Everything the case page shows, for this user, in a bounded number of statements.

    Opening the page reads the case's notifications; a machine reading the case through the
    API (``mark_read=False``) leaves them for the person to see."""
    case = get_visible_case(user, case_id)
    d = registry().stored(case.definition_id)
    data = dict(case.data or {})
    specs = field_specs(d)
    refs = Refs.load(specs, data)
    with calendar.noting_guesses() as guessed:
        actions = runtime.available_actions(snapshot(case), user)
    gaps = set(guessed) | _due_gaps(d, case)
    kinds = {f.type for a in actions for f in a.fields}
    atts = _attachments(case.id)
    child_cases = list(
        db.session.execute(select(P).where(P.parent_id == case.id).order_by(P.id)).scalars()
    )
    children = []
    for child in child_cases:
        if can_view(user, child):
            cd = registry().stored(child.definition_id)
            children.append(
                ChildRow(child, cd.title.get(locale), _state_label(cd, child.state, locale) or "")
            )
    parent = None
    if case.parent_id:
        candidate = db.session.get(P, case.parent_id)
        parent = candidate if candidate and can_view(user, candidate) else None
    subject = db.session.get(Person, case.subject_person_id) if case.subject_person_id else None
    people = _names({case.submitter_user_id, case.assignee_user_id} | {a.uploaded_by for a in atts})
    org = actors.org_index()[case.org_id]
    moves = procedure_view.visits(case.id)
    passed = {dest for _src, dest, _at in moves}
    from pbflow.services import comments

    view = CaseView(
        case=case,
        definition=d,
        state=d.states[case.state],
        workflow_title=d.title.get(locale),
        org_name=org.name_en if locale == "en" and org.name_en else org.name,
        subject_name=subject.name if subject else None,
        submitter_name=people.get(case.submitter_user_id),
        assignee_name=people.get(case.assignee_user_id),
        fields=case_fields(d, data, refs, locale, hidden_fields(registry().current.get(d.id))),
        diagram=procedure_view.diagram(d, case.state, passed, locale),
        progress=procedure_view.progress(
            d, case.state, moves, locale, closed=case.closed_at is not None
        ),
        timeline=timeline(case, d, locale),
        comments=comments.for_case(case.id),
        attachments=atts,
        uploaders=people,
        actions=actions,
        prefill={k: v for k, v in data.items() if not k.startswith("_")},
        pickers={**picker_options(case.org_id, kinds), **_line_people(actions, data, refs)},
        vote=_vote_view(user, case, clock.today()),
        children=children,
        parent=parent,
        overdue=is_overdue(case),
        accept=attachments.accept_attribute(),
        calendar_gaps=sorted(gaps),
        child_workflows=frozenset(child.workflow_id for child in child_cases),
    )
    if mark_read:
        _mark_notifications_read(user, case.id)
    return view


def case_actions(user: User, case_id: int) -> tuple[ProcessInstance, list[Any]]:
    """A visible case and the steps the user could take on it now (what the API's actions
    list needs, without the rest of the case page)."""
    case = get_visible_case(user, case_id)
    return case, runtime.available_actions(snapshot(case), user)


def case_comments(user: User, case_id: int) -> list[Any]:
    from pbflow.services import comments

    return comments.for_case(get_visible_case(user, case_id).id)


def _attachments(case_id: int) -> list[Attachment]:
    """A case's files, oldest first."""
    return list(
        db.session.execute(
            select(Attachment)
            .where(Attachment.instance_id == case_id)
            .order_by(Attachment.created_at, Attachment.id)
        ).scalars()
    )


def case_files(user: User, case_id: int) -> tuple[list[Attachment], dict[int, str]]:
    """A visible case's files, oldest first, and the names of those who uploaded them."""
    case = get_visible_case(user, case_id)
    atts = _attachments(case.id)
    return atts, _names({a.uploaded_by for a in atts})


def _due_gaps(d: Definition, case: ProcessInstance) -> set[int]:
    """Years with no working-day calendar that the current time limit was counted over."""
    spec = d.states[case.state].due
    if case.closed_at is not None or case.due_at is None or spec is None:
        return set()
    if spec.unit != "working_days":
        return set()
    entered = clock.to_local(case.state_entered_at).date()
    return set(calendar.uncovered_years(entered, calendar.last_day(case.due_at)))


def _mark_notifications_read(user: User, case_id: int) -> None:
    """Opening a case reads its notifications (not audited: nothing of record changes).
    Looked for first: most openings have none, and an UPDATE that matched nothing still
    took SQLite's write lock from every other request and ended the transaction, so the
    page loaded its case and the reader again to render."""
    unread = (
        Notification.user_id == user.id,
        Notification.instance_id == case_id,
        Notification.read_at.is_(None),
    )
    if db.session.execute(select(Notification.id).where(*unread).limit(1)).first() is None:
        return
    try:
        result = db.session.execute(update(Notification).where(*unread).values(read_at=clock.now()))
        if result.rowcount:
            db.session.commit()
        else:
            db.session.rollback()
    except BaseException:
        db.session.rollback()
        raise


# --- taking a step --------------------------------------------------------------------------


def _store_field_files(
    user: User,
    specs: tuple[FieldSpec, ...],
    values: dict[str, Any],
    uploads: Mapping[str, Upload],
    *,
    org_id: int,
    case_id: int | None,
) -> list[Attachment]:
    """Turn uploads of ``file`` fields into attachment ids in ``values`` (in the open
    transaction); a file field may name only a file uploaded with this same form."""
    stored: dict[str, Attachment] = {}
    for spec in specs:
        if spec.type != "file":
            continue
        upload = uploads.get(spec.name)
        if upload is not None and upload.filename:
            att = attachments.store(
                user, upload, org_id=org_id, instance_id=case_id, purpose=spec.name, field=spec.name
            )
            values[spec.name] = att.id
            stored[spec.name] = att
    attachments.claim_form_files(specs, values, stored, case_id=case_id)
    return list(stored.values())


def take_step(
    user: User,
    case_id: int,
    trigger: str,
    values: Mapping[str, Any] | None = None,
    *,
    uploads: Mapping[str, Upload] | None = None,
    expected_version: int | None = None,
    comment: str | None = None,
) -> runtime.Outcome:
    """Fire a step as the user, with the files of its ``file`` fields, in one transaction."""
    case = get_visible_snapshot(user, case_id)
    return _fire_with_files(
        user, case, trigger, values, uploads, expected_version=expected_version, comment=comment
    )


def take_step_as(
    user: User,
    case_id: int,
    trigger: str,
    values: Mapping[str, Any] | None = None,
    *,
    uploads: Mapping[str, Upload] | None = None,
    expected_version: int | None = None,
    comment: str | None = None,
) -> runtime.Outcome:
    """``take_step`` for the command line, where the operator acts in a user's name: a case
    the user cannot see is not hidden from the operator; the step's own rights decide."""
    case = runtime.load_case(case_id)
    return _fire_with_files(
        user, case, trigger, values, uploads, expected_version=expected_version, comment=comment
    )


def _fire_with_files(
    user: User,
    case: CaseState,
    trigger: str,
    values: Mapping[str, Any] | None,
    uploads: Mapping[str, Upload] | None,
    *,
    expected_version: int | None,
    comment: str | None,
) -> runtime.Outcome:
    d = registry().stored(case.definition_id)
    t = d.transition(case.state, trigger)
    values = dict(values or {})
    session = current_session()
    try:
        if t is not None:
            _store_field_files(
                user, t.fields, values, uploads or {}, org_id=case.org_id, case_id=case.id
            )
        outcome = runtime.fire_in_transaction(
            case.id,
            trigger,
            user,
            values,
            expected_version=expected_version,
            comment=comment,
            case=case,
        )
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return outcome


def changes_since(user: User, case_id: int, version: int, locale: str) -> list[TimelineEntry]:
    """What happened to a case after the version the user's form was made from."""
    case = get_visible_case(user, case_id)
    return timeline(case, registry().stored(case.definition_id), locale, since_version=version)


def cast_ballot(user: User, case_id: int, choice: str | None) -> str | None:
    get_visible_case(user, case_id)
    return votes.cast_ballot(case_id, user, (choice or "").strip())


RESOLUTION_COUNTS = (
    "attended",
    "votes_for",
    "votes_against",
    "votes_abstain",
    "written_for",
    "written_against",
    "written_abstain",
)


def record_resolution(
    user: User,
    case_id: int,
    form: Mapping[str, Any],
    minutes: Upload | None = None,
    *,
    expected_version: int | None = None,
) -> str:
    """Record a meeting's vote from what the secretary typed, with the minutes as a file."""
    case = get_visible_case(user, case_id)
    counts: dict[str, Any] = {}
    for name in RESOLUTION_COUNTS:
        raw = form.get(name)
        raw = "" if raw is None else str(raw).strip()
        if raw == "" and name.startswith("written_"):
            counts[name] = 0
        else:
            value = validation.parse_int(raw, low=0)
            counts[name] = value if value is not None else raw  # the engine names the field
    try:
        minutes_id = None
        if minutes is not None and minutes.filename:
            minutes_id = attachments.store(
                user,
                minutes,
                org_id=case.org_id,
                instance_id=case.id,
                purpose="minutes",
                field="minutes",
            ).id
    except BaseException:
        db.session.rollback()
        raise
    # record_resolution commits the stored minutes with the resolution, or rolls both back.
    return votes.record_resolution(
        case.id,
        user,
        meeting_date=form.get("meeting_date"),
        minutes_attachment_id=minutes_id,
        expected_version=expected_version,
        **counts,
    )


# --- starting a case ------------------------------------------------------------------------


@dataclass
class StartOption:
    definition: Definition
    orgs: list[actors.OrgNode]


def may_start(d: Definition, org_id: int, user: User) -> bool:
    """Whether the user may start the workflow at this organization (the engine's ``start``
    check, asked in advance so the page offers only what will be accepted)."""
    node = actors.org_index().get(org_id)
    if node is None or node.kind not in d.run_by:
        return False
    subject = _my_person_id(user) if d.subject == "self" else None
    if d.subject == "self" and subject is None:
        return False
    provisional = CaseState(
        id=None,
        definition_id=0,
        workflow_id=d.id,
        org_id=org_id,
        state=d.initial,
        data={},
        version=0,
        entered_version=0,
        subject_person_id=subject,
        submitter_user_id=user.id,
        assignee_user_id=None,
        parent_id=None,
        created_at=None,
        state_entered_at=None,
    )
    return actors.may_act(d.start_by, user, provisional)


def _related_orgs(user: User) -> set[int]:
    """Organizations a user might start something at: what they read, where they hold a role,
    and their own member organization."""
    orgs = set(actors.readable_org_ids(user))
    orgs |= {oid for oid, _role in actors.roles_of(user.id)}
    pid = _my_person_id(user)
    if pid is not None:
        org_id = db.session.execute(select(Person.org_id).where(Person.id == pid)).scalar()
        if org_id is not None:
            orgs.add(org_id)
    return orgs


def start_options(user: User) -> list[StartOption]:
    """The workflows the user may start, each with the organizations where they may."""
    index = actors.org_index()
    candidates = sorted(
        (index[o] for o in _related_orgs(user) if o in index), key=lambda n: (n.path, n.id)
    )
    options = []
    for d in sorted(registry().current.values(), key=lambda d: d.id):
        orgs = [n for n in candidates if may_start(d, n.id, user)]
        if orgs:
            options.append(StartOption(d, orgs))
    return options


def start_case(
    user: User,
    workflow_id: str,
    org_id: int,
    values: Mapping[str, Any] | None = None,
    *,
    uploads: Mapping[str, Upload] | None = None,
) -> ProcessInstance:
    """Start a case with its start form's values and files, in one transaction."""
    d = registry().get(workflow_id)
    if actors.org_index().get(org_id) is None:
        raise NotFound(_("No such organization."))
    values = dict(values or {})
    session = current_session()
    try:
        stored = _store_field_files(
            user, d.start_fields, values, uploads or {}, org_id=org_id, case_id=None
        )
        case = runtime.start(workflow_id, org_id, user, values, commit=False)
        # The start form's own uploads become the new case's files, in this transaction.
        for att in stored:
            att.instance_id = case.id
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return case


# --- the case list --------------------------------------------------------------------------

STATUS_CHOICES = ("open", "closed", "all")


@dataclass
class CaseFilters:
    workflow: str | None = None
    state: str | None = None
    org_id: int | None = None
    person: str | None = None
    q: str | None = None
    overdue: bool = False
    status: str = "open"
    date_from: date | None = None
    date_to: date | None = None
    page: int = 1
    # Keyset cursor: the (last change, id) of the last case of the page before.
    after: tuple[datetime, int] | None = None
    # Whether the index of the titles finds ``q`` (asked once for the list's statements).
    title_memo: dict[str, bool] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def parse(cls, args: Mapping[str, Any]) -> tuple[CaseFilters, dict[str, str]]:
        """Filters from query arguments; a bad value is dropped and reported, not fatal."""
        errors: dict[str, str] = {}
        f = cls()

        def text(name: str) -> str | None:
            value = str(args.get(name) or "").strip()
            return value[:200] or None

        f.workflow, f.state, f.person, f.q = (
            text("workflow"),
            text("state"),
            text("person"),
            text("q"),
        )
        raw_org = text("org")
        if raw_org:
            f.org_id = validation.parse_id(raw_org)
            if f.org_id is None:
                errors["org"] = _("must be chosen from the list")
        f.overdue = str(args.get("overdue") or "").lower() in ("1", "on", "true", "yes")
        status = text("status") or "open"
        if status in STATUS_CHOICES:
            f.status = status
        else:
            errors["status"] = _("is not one of the choices")
        for name in ("date_from", "date_to"):
            raw = text(name)
            if raw:
                try:
                    setattr(f, name, validation.parse_date(raw))
                except ValueError:
                    errors[name] = _("must be a date like 2026-03-01")
        f.page = validation.parse_page(text("page"))
        f.after = parse_cursor(text("after"))
        return f, errors

    def query_args(self, **changes: Any) -> dict[str, Any]:
        """The filters as query arguments (for pagination links)."""
        args = {
            "workflow": self.workflow,
            "state": self.state,
            "org": self.org_id,
            "person": self.person,
            "q": self.q,
            "overdue": "1" if self.overdue else None,
            "status": self.status if self.status != "open" else None,
            "date_from": self.date_from.isoformat() if self.date_from else None,
            "date_to": self.date_to.isoformat() if self.date_to else None,
            "page": self.page if self.page > 1 else None,
            "after": format_cursor(self.after),
        }
        args.update(changes)
        return {k: v for k, v in args.items() if v not in (None, "")}


@dataclass
class CaseRow:
    case: ProcessInstance
    workflow: str
    state: str
    org_name: str
    subject_name: str | None
    overdue: bool


@dataclass
class StateCount:
    workflow_id: str
    workflow: str
    state: str
    label: str
    count: int


@dataclass
class CaseList:
    """One page of the list. ``total`` is exact when ``exact``, else "more than COUNT_LIMIT";
    ``page``/``pages`` number the pages within the counted part; past it (and whenever
    ``filters.after`` is set) pages follow the cursor ``next_after`` and carry no number."""

    rows: list[CaseRow]
    total: int
    page: int | None
    pages: int | None
    counts: list[StateCount]
    filters: CaseFilters
    exact: bool = True
    next_after: str | None = None
    limit: int = COUNT_LIMIT


# The cases table again, for the reader's own cases (made once: aliasing a table copies its
# 25 columns, a millisecond of a branch secretary's case list when it was made per request).
_VISIBLE = P.__table__.alias("visible")


def visibility_clause(user: User):
    """SQL form of "cases in the list for this user": the organizations they read (the same
    set as ``actors.readable_org_ids``), plus cases where they are subject, submitter or
    assignee. A reader of every organization gets no condition at all (the list then walks
    the index of its order); anyone else gets the ids of their cases as a union of indexed
    look-ups (by organization, submitter, assignee, subject), so a branch's list is as cheap
    in a committee of 100,000 cases as in one of 1,000."""
    index = actors.org_index()
    orgs = sorted(actors.readable_org_ids(user))
    if index and len(orgs) == len(index):
        return true()
    v = _VISIBLE
    parts = [select(v.c.id).where(v.c.submitter_user_id == user.id)]
    parts.append(select(v.c.id).where(v.c.assignee_user_id == user.id))
    if orgs:
        parts.append(select(v.c.id).where(fastsql.among(v.c.org_id, orgs)))
    pid = _my_person_id(user)
    if pid is not None:
        parts.append(select(v.c.id).where(v.c.subject_person_id == pid))
    return P.id.in_(union_all(*parts))


def _is_open(narrowed: bool):
    """``closed_at IS NULL``. SQLite's statistics see one closed_at value among 100,000 and
    take the open cases for a handful: given a reader's own few cases (``narrowed``), it
    walked every open case to find them (6 ms for a branch's 14; 95 ms for the cases of the
    people of a name nobody has). Half the cases are open, and ``likely()`` tells it so: it
    starts from the reader's cases, or from the people."""
    is_open = P.closed_at.is_(None)
    if narrowed and db.session.get_bind().dialect.name == "sqlite":
        return func.likely(is_open)
    return is_open


def _filtered(stmt: Select, user: User, f: CaseFilters, *, with_state: bool = True) -> Select:
    visible = visibility_clause(user)
    # A few cases to start from: the reader's own, the cases of the people of a name, or of
    # a text few titles hold.
    narrowed = not isinstance(visible, True_) or bool(f.person)
    stmt = stmt.where(visible)
    if f.workflow:
        stmt = stmt.where(P.workflow_id == f.workflow)
    if f.state and with_state:
        stmt = stmt.where(P.state == f.state)
    if f.org_id is not None:
        index = actors.org_index()
        node = index.get(f.org_id)
        below = [o for o, n in index.items() if node and n.path.startswith(node.path)]
        stmt = stmt.where(fastsql.among(P.org_id, below) if below else P.id.is_(None))
    if f.person:
        # The people of that name first (a read of the people, a fifth of the cases), then
        # their cases by the subject's index: reading every case with its subject joined was
        # 118 ms at 100,000 cases for a name nobody has.
        named = select(Person.id).where(Person.name.icontains(f.person, autoescape=True))
        stmt = stmt.where(P.subject_person_id.in_(named))
    if f.q:
        text_match = title_search.title_condition(db.session, f.q, f.title_memo)
        if text_match is None:
            text_match = P.title.icontains(f.q, autoescape=True)
        else:  # few cases hold the text: start from them
            narrowed = True
        case_id = validation.parse_id(f.q.lstrip("#"))
        stmt = stmt.where(or_(text_match, P.id == case_id) if case_id is not None else text_match)
    if f.status == "open":
        stmt = stmt.where(_is_open(narrowed))
    elif f.status == "closed":
        stmt = stmt.where(P.closed_at.is_not(None))
    if f.overdue:
        stmt = stmt.where(_is_open(narrowed), P.due_at <= clock.now())
    if f.date_from:
        stmt = stmt.where(P.created_at >= clock.local_midnight_utc(f.date_from))
    if f.date_to:
        stmt = stmt.where(
            P.created_at < clock.local_midnight_utc(date.fromordinal(f.date_to.toordinal() + 1))
        )
    return stmt


def _joined(stmt: Select) -> Select:
    return stmt.join(Organization, Organization.id == P.org_id).outerjoin(
        Person, Person.id == P.subject_person_id
    )


def _workflow_label(workflow_id: str, definition_id: int | None, locale: str) -> str:
    d = registry().current.get(workflow_id)
    if d is None and definition_id is not None:
        d = registry().stored(definition_id)
    return d.title.get(locale) if d else workflow_id


def _state_label_any(workflow_id: str, definition_id: int | None, state: str, locale: str):
    d = registry().current.get(workflow_id)
    if (d is None or state not in d.states) and definition_id is not None:
        d = registry().stored(definition_id)
    return _state_label(d, state, locale) if d else state


def _matching_ids(user: User, f: CaseFilters, *, with_state: bool = True) -> list[int]:
    """The ids of the matching cases, at most COUNT_LIMIT + 1, read from the cases alone (no
    filter needs the organization's or the subject's row: a search through every case
    looked each one's up for nothing)."""
    stmt = _filtered(select(P.id), user, f, with_state=with_state)
    return list(db.session.execute(stmt.limit(COUNT_LIMIT + 1)).scalars())


def search(user: User, f: CaseFilters, locale: str, page_size: int = PAGE_SIZE) -> CaseList:
    """One page of the cases the user may see, newest change first, with the total and the
    counts per state: counted exactly up to COUNT_LIMIT cases (a short index walk), above
    that the page says "more than" and leaves the per-state counts out. Pages within the
    counted part are numbered (offset); past it they follow a cursor (keyset), so the 4,000th
    page costs what the first does."""
    # The matching ids, at most COUNT_LIMIT + 1: the count, and when they are all there, the
    # set the page and the per-state counts are read from (no index walk over other cases).
    ids = _matching_ids(user, f)
    total = len(ids)
    exact = total <= COUNT_LIMIT
    numbered = f.after is None
    last_numbered = max(1, -(-min(total, COUNT_LIMIT) // page_size))
    page = min(f.page, last_numbered) if numbered else None
    columns = _joined(select(P, Organization.name, Organization.name_en, Person.name))
    stmt = columns.where(fastsql.among(P.id, ids)) if exact else _filtered(columns, user, f)
    stmt = stmt.order_by(P.updated_at.desc(), P.id.desc())
    if f.after is not None:
        stmt = stmt.where(tuple_(P.updated_at, P.id) < tuple_(*f.after))
    else:
        stmt = stmt.offset((page - 1) * page_size)
    rows = db.session.execute(stmt.limit(page_size + 1)).all()
    more = len(rows) > page_size
    rows = rows[:page_size]
    next_after = None
    if more and (not numbered or not exact or page >= last_numbered) and rows:
        last = rows[-1][0]
        next_after = format_cursor((last.updated_at, last.id))
    count_rows = []
    chip_ids = _matching_ids(user, f, with_state=False) if exact and f.state else ids
    if len(chip_ids) <= COUNT_LIMIT:  # the chips count every state of the other filters
        count_rows = db.session.execute(
            select(P.workflow_id, P.state, func.min(P.definition_id), func.count(P.id))
            .where(fastsql.among(P.id, chip_ids))
            .group_by(P.workflow_id, P.state)
        ).all()
    counts = sorted(
        (
            StateCount(
                wf,
                _workflow_label(wf, def_id, locale),
                state,
                _state_label_any(wf, def_id, state, locale),
                n,
            )
            for wf, state, def_id, n in count_rows
        ),
        key=lambda c: (c.workflow, -c.count, c.label),
    )
    result = [
        CaseRow(
            case=case,
            workflow=_workflow_label(case.workflow_id, case.definition_id, locale),
            state=_state_label_any(case.workflow_id, case.definition_id, case.state, locale),
            org_name=name_en if locale == "en" and name_en else name,
            subject_name=subject,
            overdue=is_overdue(case),
        )
        for case, name, name_en, subject in rows
    ]
    f.page = page or 1
    pages = (last_numbered if exact else None) if numbered else None
    return CaseList(result, total, page, pages, counts, f, exact, next_after, COUNT_LIMIT)


def filter_choices(user: User, locale: str) -> dict[str, list[tuple[str, str]]]:
    """Options of the list's filters: workflows with their states, readable organizations."""
    index = actors.org_index()
    readable = actors.readable_org_ids(user)
    workflows = [(d.id, d.title.get(locale)) for d in registry().current.values()]
    states = []
    for d in registry().current.values():
        states += [
            (s.name, labelled(d.title.get(locale), s.label.get(locale), locale))
            for s in d.states.values()
        ]
    orgs = [
        (
            str(n.id),
            ("· " * (len(n.ancestor_ids()) - 1))
            + (n.name_en if locale == "en" and n.name_en else n.name),
        )
        for n in sorted((index[o] for o in readable if o in index), key=lambda n: n.path)
    ]
    return {"workflows": sorted(workflows, key=lambda w: w[1]), "states": states, "orgs": orgs}


def export_table(user: User, f: CaseFilters, locale: str):
    """Every case the list's filters select (the page's rights and filters, never its
    pagination), newest change first, read in batches: for CSV or Excel."""
    from pbflow.services.exports import Column, Table

    now = clock.now()
    stmt = (
        _filtered(
            _joined(
                select(
                    P.id,
                    P.workflow_id,
                    P.definition_id,
                    P.title,
                    P.state,
                    Organization.name,
                    Organization.name_en,
                    Person.name,
                    P.created_at,
                    P.updated_at,
                    P.due_at,
                    P.closed_at,
                )
            ),
            user,
            f,
        )
        .order_by(P.updated_at.desc(), P.id.desc())
        .execution_options(yield_per=1000)
    )
    rows = (
        [
            r.id,
            r.title,
            _workflow_label(r.workflow_id, r.definition_id, locale),
            _state_label_any(r.workflow_id, r.definition_id, r.state, locale),
            r.name_en if locale == "en" and r.name_en else r.name,
            r[7],
            r.created_at,
            r.updated_at,
            r.due_at,
            r.closed_at is None and r.due_at is not None and r.due_at <= now,
            r.closed_at,
        ]
        for r in db.session.execute(stmt)
    )
    return Table(
        "cases",
        [
            Column(_("No."), "int", 8),
            Column(_("Title"), width=36),
            Column(_("Procedure"), width=18),
            Column(_("State"), width=18),
            Column(_("Organization"), width=20),
            Column(_("Person"), width=12),
            Column(_("Started"), "datetime", 16),
            Column(_("Last change"), "datetime", 16),
            Column(_("Due"), "datetime", 16),
            Column(_("Overdue"), "bool", 9),
            Column(_("Closed"), "datetime", 16),
        ],
        rows,
        sheet=_("Cases"),
    )
