"""What the audit events say the records should be, compared with what the records are.

``pbflow audit verify`` replays the chain once and, as it goes, keeps for every case the state,
version and organization its events lead to, and for every meeting record a digest of each field
its recorded and edited events lead to. Afterwards the current rows are streamed (one query per
table, ordered by id) and compared: a case or meeting changed with SQL, with no event, is named.

Cases: ``case_started`` opens a case at version 1; each ``transition`` moves it to its
``to_state`` and adds one to the version (the engine's optimistic lock counter), at the event's
organization. Meetings (``pbflow/procedures/three_meetings/services.py``):
``meeting_recorded`` carries the whole record (``snapshot``) and its files; each
``meeting_edited`` carries the fields it changed and the files it added, and adds one to the
version. Training records (``pbflow/procedures/three_meetings/training.py``), the same way:
``training_recorded`` carries the whole record (``snapshot``) at version 1, each
``training_edited`` the fields it changed (``after``) and adds one to the version, and after
``training_deleted`` the row must be gone.

Rows can change while a verification runs: a row that differs from the replay is compared again
with the events written after the walk's head, at each step; only a row that matches no step is
reported.

Accounts (``pbflow/services/accounts.py``): ``user_created`` makes an active account,
``user_activated`` and ``user_deactivated`` switch it, ``role_granted`` and ``role_revoked``
(the event's organization, the payload's account and role) add and remove a role. Roles decide
who may act: a role or an account added with SQL, a role removed, or an account switched back
on, with no event, is named. Organizations likewise: ``org_created`` places one (its kind and
parent; its path follows from the parents), ``org_activated`` and ``org_deactivated`` switch
it; pbflow never moves one, and what a user may read is the subtree below their roles, so a
parent, path, kind or active flag changed with SQL is named.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from itertools import groupby
from typing import Any

from sqlalchemy import Text, cast, select

from pbflow.extensions import db
from pbflow.models import (
    Meeting,
    MeetingAttachment,
    MeetingAttendance,
    Organization,
    Person,
    ProcessInstance,
    RoleAssignment,
    TrainingRecord,
    User,
)

CASE_ACTIONS = frozenset({"case_started", "transition"})
MEETING_ACTIONS = frozenset({"meeting_recorded", "meeting_edited"})
MEETING_FIELDS = (
    "meeting_type",
    "held_on",
    "topic",
    "place",
    "chair",
    "recorder",
    "agenda",
    "minutes",
    "resolutions",
    "votes",  # absent from events before 0024: None, as the rows then
    "training_minutes",  # absent from events before 0022: None, as the rows then
    "present",
    "absent",
)
TRAINING_ACTIONS = frozenset({"training_recorded", "training_edited", "training_deleted"})
ACCOUNT_ACTIONS = frozenset(
    {
        "user_created",
        "user_activated",
        "user_deactivated",
        "role_granted",
        "role_revoked",
        "org_created",
        "org_activated",
        "org_deactivated",
    }
)
TRAINING_FIELDS = ("person_id", "taken_on", "course", "provider", "minutes", "note")
_UNKNOWN = -1  # a version no row can have: the events lack the record's start
DATA_DIGEST = "data_digest"  # in the payload of an event that leaves a case's data changed
DIGEST_MARK = f'"{DATA_DIGEST}":"'  # as the canonical payload writes it (sorted, compact)
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
_STREAM = 2000


def data_digest(data: Any) -> str:
    """The digest of a case's data as its row stores it: the JSON text every writer sends
    (``json.dumps``: the engine's statements, the ORM's JSON type, ``pbflow seed``), which
    SQLite and PostgreSQL's ``json`` keep as sent."""
    return text_digest(json.dumps(data))


def text_digest(stored: str) -> str:
    return hashlib.sha256(stored.encode()).hexdigest()[:32]


# A person's record as its events seal it: every column but the row's own creation time (the
# party status and its dates decide who votes, introduces and is admitted; the birth date the
# age; the organization who reads them).
PERSON_SEALED = (
    "name", "org_id", "user_id", "id_number", "gender", "birth_date", "ethnicity", "education",
    "job", "phone", "party_status", "on_party_probation", "applied_on", "activist_on",
    "target_on", "admitted_on", "probation_end_on", "full_member_on", "active",
)  # fmt: skip
PERSON_DIGEST = "person_digest"  # in the payload of the event that leaves a person so
PERSON_MARK = f'"{PERSON_DIGEST}":"'


def person_digest(values: Any) -> str:
    """The digest of a person's sealed columns, from a row, a mapping or the ORM object."""
    get = values.get if isinstance(values, dict) else lambda c: getattr(values, c)
    plain = [_plain(get(c)) for c in PERSON_SEALED]
    return text_digest(json.dumps(plain))


CREDENTIAL_DIGEST = "credential_digest"  # an account's password hash, as an event left it
CREDENTIAL_MARK = f'"{CREDENTIAL_DIGEST}":"'


def credential_digest(password_hash: str) -> str:
    """A digest of an account's password hash (itself a salted hash: this says nothing of
    the password), so that a hash replaced with SQL, to log in as someone, is named."""
    return text_digest(password_hash or "")


def _plain(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def _payload_digest(payload: str | None) -> str | None:
    """The case data's digest an event's payload carries, found without parsing it."""
    at = payload.find(DIGEST_MARK) if payload else -1
    if at < 0:
        return None
    start = at + len(DIGEST_MARK)
    return payload[start : start + 32]


def _digest(value: Any) -> bytes:
    return hashlib.sha256(_ENCODER.encode(value).encode()).digest()[:16]


def _sealed(payload: str, id_key: str, digest_key: str, into: dict[int, str]) -> int | None:
    """The record an event seals (its id under ``id_key``), its digest noted in ``into``."""
    try:
        data = json.loads(payload)
        record_id, digest = int(data[id_key]), str(data[digest_key])
    except (ValueError, KeyError, TypeError):
        return None  # not an event pbflow wrote; the chain check judges it
    into[record_id] = digest
    return record_id


class Replay:
    """The records as the events describe them, built in one pass over the chain."""

    def __init__(self) -> None:
        self.cases: dict[int, list[Any]] = {}  # id -> [state, version, org_id]
        # id -> the digest of its data its last event that changed them recorded (none for
        # a case whose events predate the digests: its data are not compared)
        self.case_data: dict[int, str] = {}
        self.person_data: dict[int, str] = {}  # id -> its last sealed record's digest
        self.credentials: dict[int, str] = {}  # account id -> its last password's digest
        self.meetings: dict[int, dict[str, Any]] = {}
        # id -> {"version", "fields", "deleted"}; a deleted record must have no row.
        self.trainings: dict[int, dict[str, Any]] = {}
        # account id -> active; (account id, organization id, role) of each role held.
        self.accounts: dict[int, bool] = {}
        self.roles: set[tuple[int, int, str]] = set()
        # organization id -> [parent id, kind, active]
        self.orgs: dict[int, list[Any]] = {}

    def case_event(self, instance_id: int, action: str, to_state: str | None, org_id: Any) -> None:
        if action == "transition":
            known = self.cases.get(instance_id)
            if known is None:
                self.cases[instance_id] = [to_state, _UNKNOWN, org_id]
            else:
                known[0] = to_state
                if known[1] != _UNKNOWN:
                    known[1] += 1
                known[2] = org_id
        elif action == "case_started":
            self.cases[instance_id] = [to_state, 1, org_id]

    def meeting_event(self, action: str, payload: str) -> None:
        try:
            data = json.loads(payload)
            meeting_id = int(data["meeting_id"])
        except (ValueError, KeyError, TypeError):
            return  # not an event pbflow wrote; the chain check judges it
        if action == "meeting_recorded":
            self.meetings[meeting_id] = {
                "version": 1,
                "fields": {name: _digest(data.get(name)) for name in MEETING_FIELDS},
                "files": set(data.get("attachments") or ()),
            }
            return
        known = self.meetings.setdefault(
            meeting_id, {"version": _UNKNOWN, "fields": {}, "files": set()}
        )
        if known["version"] != _UNKNOWN:
            known["version"] += 1
        for name, value in (data.get("after") or {}).items():
            if name == "attachments_added":
                known["files"].update(value or ())
            elif name in MEETING_FIELDS:
                known["fields"][name] = _digest(value)

    def training_event(self, action: str, payload: str) -> int | None:
        """Replay one training record event; the record's id, or None for a foreign one."""
        try:
            data = json.loads(payload)
            record_id = int(data["training_id"])
        except (ValueError, KeyError, TypeError):
            return None  # not an event pbflow wrote; the chain check judges it
        if action == "training_recorded":
            self.trainings[record_id] = {
                "version": 1,
                "fields": {name: _digest(data.get(name)) for name in TRAINING_FIELDS},
                "deleted": False,
            }
            return record_id
        known = self.trainings.setdefault(
            record_id, {"version": _UNKNOWN, "fields": {}, "deleted": False}
        )
        if action == "training_deleted":
            known["deleted"] = True
        elif action == "training_edited":
            if known["version"] != _UNKNOWN:
                known["version"] += 1
            for name, value in (data.get("after") or {}).items():
                if name in TRAINING_FIELDS:
                    known["fields"][name] = _digest(value)
        return record_id

    def person_event(self, payload: str) -> int | None:
        """The person an event seals, with the digest of their record; their id, or None."""
        return _sealed(payload, "person_id", PERSON_DIGEST, self.person_data)

    def credential_event(self, payload: str) -> int | None:
        """The account an event sets a password of, with its digest; its id, or None."""
        return _sealed(payload, "user_id", CREDENTIAL_DIGEST, self.credentials)

    def case_data_event(self, instance_id: int, payload: str | None) -> None:
        digest = _payload_digest(payload)
        if digest is not None:
            self.case_data[instance_id] = digest

    def account_event(self, action: str, org_id: Any, payload: str) -> None:
        if action.startswith("org_"):
            self.org_event(action, org_id, payload)
            return
        try:
            data = json.loads(payload)
            user_id = int(data["user_id"])
        except (ValueError, KeyError, TypeError):
            return  # not an event pbflow wrote; the chain check judges it
        if action == "user_created":
            self.accounts[user_id] = True
        elif action in ("user_activated", "user_deactivated"):
            self.accounts[user_id] = action == "user_activated"
        elif isinstance(org_id, int) and isinstance(data.get("role"), str):
            held = (user_id, org_id, data["role"])
            if action == "role_granted":
                self.roles.add(held)
            else:
                self.roles.discard(held)

    def org_event(self, action: str, org_id: Any, payload: str) -> None:
        if not isinstance(org_id, int):
            return  # not an event pbflow wrote; the chain check judges it
        if action == "org_created":
            try:
                data = json.loads(payload)
            except ValueError:
                return
            self.orgs[org_id] = [data.get("parent_id"), data.get("kind"), True]
        elif org_id in self.orgs:
            self.orgs[org_id][2] = action == "org_activated"

    def org_paths(self) -> dict[int, str | None]:
        """Each organization's path as its creation events place it (None: a parent unknown)."""
        paths: dict[int, str | None] = {}

        def path(org_id: int, depth: int = 0) -> str | None:
            if org_id in paths:
                return paths[org_id]
            known = self.orgs.get(org_id)
            if known is None or depth > 64:
                return None
            above = "/" if known[0] is None else path(known[0], depth + 1)
            paths[org_id] = None if above is None else f"{above}{org_id}/"
            return paths[org_id]

        for org_id in self.orgs:
            path(org_id)
        return paths

    def apply(self, action: str, instance_id: Any, to_state: Any, org_id: Any, payload: str):
        if instance_id is not None and action in CASE_ACTIONS:
            self.case_event(instance_id, action, to_state, org_id)
        elif action in MEETING_ACTIONS:
            self.meeting_event(action, payload)
        elif action in TRAINING_ACTIONS:
            self.training_event(action, payload)
        elif action in ACCOUNT_ACTIONS:
            self.account_event(action, org_id, payload)


# --- the records as they are ------------------------------------------------------------------


def _case_rows() -> Iterator[tuple[int, str, int, int, str]]:
    """Each case's state, version, organization and the digest of its data as stored (the
    JSON text as written, not parsed: a digest per row is what reading it costs)."""
    t = ProcessInstance.__table__
    stmt = select(t.c.id, t.c.state, t.c.version, t.c.org_id, cast(t.c.data, Text)).order_by(t.c.id)
    for case_id, state, version, org_id, data in db.session.execute(
        stmt.execution_options(yield_per=_STREAM)
    ):
        yield case_id, state, version, org_id, text_digest(data or "")


def _person_rows() -> Iterator[tuple[int, str]]:
    t = Person.__table__
    stmt = select(t.c.id, *(t.c[c] for c in PERSON_SEALED)).order_by(t.c.id)
    for row in db.session.execute(stmt.execution_options(yield_per=_STREAM)):
        yield row[0], person_digest(dict(zip(PERSON_SEALED, row[1:], strict=True)))


def _grouped(stmt) -> Iterator[tuple[int, list[tuple]]]:
    rows = db.session.execute(stmt.execution_options(yield_per=_STREAM))
    for meeting_id, group in groupby(rows, key=lambda r: r[0]):
        yield meeting_id, list(group)


def _merge(items: Iterator[Any], groups: Iterator[tuple[int, list]], key: Any) -> Iterator:
    """Pair each item with its group of child rows (both ordered by meeting id)."""
    pending = next(groups, None)
    for item in items:
        item_id = key(item)
        while pending is not None and pending[0] < item_id:
            pending = next(groups, None)
        children: list = []
        if pending is not None and pending[0] == item_id:
            children = pending[1]
            pending = next(groups, None)
        yield item, children


def meeting_fields(row: Any, attendance: Iterable[tuple]) -> dict[str, Any]:
    """A meeting row and its attendance as ``three_meetings.services.snapshot`` writes them."""
    attendance = list(attendance)
    return {
        "meeting_type": row.meeting_type,
        "held_on": row.held_on.isoformat(),
        "topic": row.topic,
        "place": row.place,
        "chair": row.chair_person_id,
        "recorder": row.recorder_person_id,
        "agenda": row.agenda,
        "minutes": row.minutes,
        "resolutions": row.resolutions,
        "votes": row.votes,
        "training_minutes": row.training_minutes,
        "present": sorted(a[1] for a in attendance if a[2]),
        "absent": {str(a[1]): a[3] or "" for a in attendance if not a[2]},
    }


def _meeting_rows(ids: set[int] | None = None) -> Iterator[tuple[int, int, dict, set]]:
    m, a, f = Meeting.__table__, MeetingAttendance.__table__, MeetingAttachment.__table__
    meetings = select(
        m.c.id, m.c.version, m.c.meeting_type, m.c.held_on, m.c.topic, m.c.place,
        m.c.chair_person_id, m.c.recorder_person_id, m.c.agenda, m.c.minutes, m.c.resolutions,
        m.c.votes, m.c.training_minutes,
    ).order_by(m.c.id)  # fmt: skip
    attendance = select(a.c.meeting_id, a.c.person_id, a.c.present, a.c.reason).order_by(
        a.c.meeting_id, a.c.person_id
    )
    files = select(f.c.meeting_id, f.c.attachment_id).order_by(f.c.meeting_id)
    if ids is not None:
        meetings = meetings.where(m.c.id.in_(ids))
        attendance = attendance.where(a.c.meeting_id.in_(ids))
        files = files.where(f.c.meeting_id.in_(ids))
    rows = db.session.execute(meetings.execution_options(yield_per=_STREAM))
    with_attendance = _merge(iter(rows), _grouped(attendance), key=lambda r: r.id)
    for (row, present), file_rows in _merge(
        with_attendance, _grouped(files), key=lambda pair: pair[0].id
    ):
        yield row.id, row.version, meeting_fields(row, present), {r[1] for r in file_rows}


def training_fields(row: Any) -> dict[str, Any]:
    """A training record row as ``three_meetings.training.snapshot`` writes it."""
    return {
        "person_id": row.person_id,
        "taken_on": row.taken_on.isoformat(),
        "course": row.course,
        "provider": row.provider,
        "minutes": row.minutes,
        "note": row.note,
    }


def _training_rows(ids: set[int] | None = None) -> Iterator[tuple[int, int, dict]]:
    t = TrainingRecord.__table__
    stmt = select(
        t.c.id, t.c.version, t.c.person_id, t.c.taken_on, t.c.course, t.c.provider,
        t.c.minutes, t.c.note,
    ).order_by(t.c.id)  # fmt: skip
    if ids is not None:
        stmt = stmt.where(t.c.id.in_(ids))
    for row in db.session.execute(stmt.execution_options(yield_per=_STREAM)):
        yield row.id, row.version, training_fields(row)


def _account_rows() -> dict[int, bool]:
    t = User.__table__
    return {r.id: bool(r.active) for r in db.session.execute(select(t.c.id, t.c.active))}


def _credential_rows() -> Iterator[tuple[int, str]]:
    t = User.__table__
    for user_id, password_hash in db.session.execute(select(t.c.id, t.c.password_hash)):
        yield user_id, credential_digest(password_hash)


def _role_rows() -> set[tuple[int, int, str]]:
    t = RoleAssignment.__table__
    stmt = select(t.c.user_id, t.c.org_id, t.c.role)
    return {(r.user_id, r.org_id, r.role) for r in db.session.execute(stmt)}


def _org_rows() -> dict[int, tuple]:
    t = Organization.__table__
    stmt = select(t.c.id, t.c.parent_id, t.c.kind, t.c.active, t.c.path)
    return {r.id: (r.parent_id, r.kind, bool(r.active), r.path) for r in db.session.execute(stmt)}


def _org_expected(replay: Replay, rows: dict[int, tuple]) -> dict[int, tuple]:
    """The organizations with a row, as their events place them. An organization whose events
    have no row is not reported here: its roles went with it (a role's row is deleted with its
    organization), which the roles' check names, and so do its cases and meetings."""
    paths = replay.org_paths()
    return {i: (*known, paths.get(i)) for i, known in replay.orgs.items() if i in rows}


def _org_problems(replay: Replay, orgs: dict[int, tuple]) -> list[str]:
    problems = []
    expected = _org_expected(replay, orgs)
    for org_id in sorted(orgs.keys() | expected.keys()):
        row, said = orgs.get(org_id), expected.get(org_id)
        if row == said:
            continue
        if said is None:
            problems.append(f"organization {org_id} has no audit events: created outside pbflow")
        else:
            names = ("parent", "kind", "active", "path")
            differs = ", ".join(
                f"{n} {a!r}, events say {b!r}"
                for n, a, b in zip(names, row, said, strict=True)
                if a != b
            )
            problems.append(
                f"organization {org_id} differs from its audit events ({differs}): "
                "changed outside pbflow"
            )
    return problems


def _account_problems(
    replay: Replay, accounts: dict[int, bool], roles: set, orgs: dict[int, tuple]
) -> list[str]:
    problems = _org_problems(replay, orgs)
    for user_id in sorted(accounts.keys() | replay.accounts.keys()):
        active, expected = accounts.get(user_id), replay.accounts.get(user_id)
        if active == expected:
            continue
        if active is None:
            problems.append(
                f"account {user_id} has audit events but no record: deleted outside pbflow"
            )
        elif expected is None:
            problems.append(f"account {user_id} has no audit events: created outside pbflow")
        else:
            said, now = ("active", "inactive") if expected else ("inactive", "active")
            problems.append(
                f"account {user_id} is {now} but its audit events say {said}: "
                "changed outside pbflow"
            )
    for user_id, org_id, role in sorted(roles - replay.roles):
        problems.append(
            f"account {user_id} holds '{role}' at organization {org_id} with no audit event: "
            "granted outside pbflow"
        )
    for user_id, org_id, role in sorted(replay.roles - roles):
        problems.append(
            f"account {user_id} lost '{role}' at organization {org_id} with no audit event: "
            "revoked outside pbflow"
        )
    return problems


# --- comparison --------------------------------------------------------------------------------


def _case_problem(case_id: int, row: tuple | None, expected: list | None, sealed: Any) -> str:
    if row is None:
        return f"case {case_id} has audit events but no record: deleted outside pbflow"
    state, version, org_id, digest = row
    if expected is None:
        return f"case {case_id} (at '{state}') has no audit events: created outside pbflow"
    if expected[1] == _UNKNOWN:
        return f"case {case_id}: its audit events lack its start"
    if (state, version, org_id) == tuple(expected) and sealed not in (None, digest):
        return (
            f"case {case_id}: its data (dates, votes, names, answers) differ from what its "
            "last audited step recorded: changed outside pbflow"
        )
    return (
        f"case {case_id} is at '{state}' (version {version}, organization {org_id}) but its "
        f"audit events say '{expected[0]}' (version {expected[1]}, organization "
        f"{expected[2]}): changed outside pbflow"
    )


def _meeting_problem(meeting_id: int, current: tuple | None, expected: dict | None) -> str:
    if current is None:
        return f"meeting {meeting_id} has audit events but no record: deleted outside pbflow"
    if expected is None:
        return f"meeting {meeting_id} has no audit events: recorded outside pbflow"
    if expected["version"] == _UNKNOWN:
        return f"meeting {meeting_id}: its audit events lack its recording"
    version, fields, files = current
    differs = sorted(n for n in MEETING_FIELDS if _digest(fields[n]) != expected["fields"].get(n))
    if files != expected["files"]:
        differs.append("attachments")
    if version != expected["version"]:
        differs.append(f"version {version}, events say {expected['version']}")
    return (
        f"meeting {meeting_id} differs from its last audited edit ({', '.join(differs)}): "
        "changed outside pbflow"
    )


def _training_problem(record_id: int, current: tuple | None, expected: dict | None) -> str:
    if current is None:
        return f"training record {record_id} has audit events but no record: deleted outside pbflow"
    if expected is None:
        return f"training record {record_id} has no audit events: recorded outside pbflow"
    if expected["deleted"]:
        return (
            f"training record {record_id} was deleted (its audit events say so) but its record "
            "is there: restored or inserted outside pbflow"
        )
    if expected["version"] == _UNKNOWN:
        return f"training record {record_id}: its audit events lack its recording"
    version, fields = current
    differs = sorted(n for n in TRAINING_FIELDS if _digest(fields[n]) != expected["fields"].get(n))
    if version != expected["version"]:
        differs.append(f"version {version}, events say {expected['version']}")
    return (
        f"training record {record_id} differs from its last audited edit "
        f"({', '.join(differs)}): changed outside pbflow"
    )


def _training_matches(current: tuple | None, expected: dict | None) -> bool:
    if expected is not None and expected["deleted"]:
        return current is None
    if current is None or expected is None:
        return current is None and expected is None
    version, fields = current
    return version == expected["version"] and all(
        _digest(fields[n]) == expected["fields"].get(n) for n in TRAINING_FIELDS
    )


def _meeting_matches(current: tuple | None, expected: dict | None) -> bool:
    if current is None or expected is None:
        return current is None and expected is None
    version, fields, files = current
    return (
        version == expected["version"]
        and files == expected["files"]
        and all(_digest(fields[n]) == expected["fields"].get(n) for n in MEETING_FIELDS)
    )


def compare(replay: Replay, later_events: Any) -> list[str]:
    """Problems between the replayed records and the rows; ``later_events(case ids, meeting
    ids, training record ids)`` yields the events written after the walk's head for those, to
    excuse rows that moved on while the walk ran."""
    cases, sealed = replay.cases, replay.case_data
    odd_cases: dict[int, tuple | None] = {}
    for case_id, state, version, org_id, digest in _case_rows():
        expected = cases.pop(case_id, None)
        if (
            expected is None
            or expected[0] != state
            or expected[1] != version
            or (expected[2] != org_id)
            or sealed.get(case_id, digest) != digest
        ):
            odd_cases[case_id] = (state, version, org_id, digest)
            if expected is not None:
                cases[case_id] = expected
    for case_id in cases.keys() - odd_cases.keys():
        odd_cases[case_id] = None
    odd_meetings: dict[int, tuple | None] = {}
    seen: set[int] = set()
    for meeting_id, version, fields, files in _meeting_rows():
        seen.add(meeting_id)
        current = (version, fields, files)
        if not _meeting_matches(current, replay.meetings.get(meeting_id)):
            odd_meetings[meeting_id] = current
    for meeting_id in replay.meetings.keys() - seen:
        odd_meetings[meeting_id] = None
    odd_trainings: dict[int, tuple | None] = {}
    seen = set()
    for record_id, version, fields in _training_rows():
        seen.add(record_id)
        current = (version, fields)
        if not _training_matches(current, replay.trainings.get(record_id)):
            odd_trainings[record_id] = current
    for record_id, expected in replay.trainings.items():
        if record_id not in seen and not expected["deleted"]:
            odd_trainings[record_id] = None
    odd_persons = {
        person_id: digest
        for person_id, digest in _person_rows()
        if replay.person_data.get(person_id, digest) != digest
    }
    odd_credentials = {
        user_id: digest
        for user_id, digest in _credential_rows()
        if replay.credentials.get(user_id, digest) != digest
    }
    accounts, roles, orgs = _account_rows(), _role_rows(), _org_rows()
    odd_accounts = (
        accounts != replay.accounts or roles != replay.roles or orgs != _org_expected(replay, orgs)
    )
    if not (
        odd_cases or odd_meetings or odd_trainings or odd_accounts or odd_persons or odd_credentials
    ):
        return []
    return _recheck(
        replay,
        odd_cases,
        odd_meetings,
        odd_trainings,
        later_events,
        (accounts, roles, orgs) if odd_accounts else None,
        odd_persons,
        odd_credentials,
    )


def _recheck(
    replay: Replay,
    odd_cases: dict,
    odd_meetings: dict,
    odd_trainings: dict,
    later_events: Any,
    odd_accounts: tuple[dict, set, dict] | None = None,
    odd_persons: dict[int, str] | None = None,
    odd_credentials: dict[int, str] | None = None,
) -> list[str]:
    cases, meetings, trainings = replay.cases, replay.meetings, replay.trainings

    def case_ok(case_id: int) -> bool:
        row, expected = odd_cases[case_id], cases.get(case_id)
        if row is None or expected is None:
            return row is None and expected is None
        digest = row[3]
        return (expected[0], expected[1], expected[2], sealed.get(case_id, digest)) == row

    sealed = replay.case_data

    excused_cases = {c for c in odd_cases if case_ok(c)}
    excused_meetings: set[int] = set()
    excused_trainings: set[int] = set()
    accounts_ok = odd_accounts is None
    odd_persons = dict(odd_persons or {})
    odd_credentials = dict(odd_credentials or {})
    for action, instance_id, to_state, org_id, payload in later_events(
        set(odd_cases),
        set(odd_meetings),
        set(odd_trainings),
        every=not accounts_ok or bool(odd_persons) or bool(odd_credentials),
    ):
        if odd_persons and PERSON_MARK in payload:
            person_id = replay.person_event(payload)
            if person_id in odd_persons and replay.person_data[person_id] == odd_persons[person_id]:
                del odd_persons[person_id]  # changed by pbflow while the walk ran
        if odd_credentials and CREDENTIAL_MARK in payload:
            user_id = replay.credential_event(payload)
            set_now = replay.credentials.get(user_id) if user_id is not None else None
            if user_id in odd_credentials and set_now == odd_credentials[user_id]:
                del odd_credentials[user_id]  # set by pbflow while the walk ran
        if action in ACCOUNT_ACTIONS:
            if not accounts_ok and odd_accounts is not None:
                replay.account_event(action, org_id, payload)
                accounts_ok = (
                    replay.accounts,
                    replay.roles,
                    _org_expected(replay, odd_accounts[2]),
                ) == odd_accounts
        elif instance_id in odd_cases:
            if instance_id not in excused_cases:
                if action in CASE_ACTIONS:
                    replay.case_event(instance_id, action, to_state, org_id)
                replay.case_data_event(instance_id, payload)
                if case_ok(instance_id):
                    excused_cases.add(instance_id)
        elif action in MEETING_ACTIONS:
            try:
                meeting_id = int(json.loads(payload)["meeting_id"])
            except (ValueError, KeyError, TypeError):
                continue
            if meeting_id in odd_meetings and meeting_id not in excused_meetings:
                replay.meeting_event(action, payload)
                if _meeting_matches(odd_meetings[meeting_id], meetings.get(meeting_id)):
                    excused_meetings.add(meeting_id)
        elif action in TRAINING_ACTIONS:
            try:
                record_id = int(json.loads(payload)["training_id"])
            except (ValueError, KeyError, TypeError):
                continue
            if record_id in odd_trainings and record_id not in excused_trainings:
                replay.training_event(action, payload)
                if _training_matches(odd_trainings[record_id], trainings.get(record_id)):
                    excused_trainings.add(record_id)
    problems = [
        _case_problem(case_id, row, cases.get(case_id), sealed.get(case_id))
        for case_id, row in sorted(odd_cases.items())
        if case_id not in excused_cases
    ]
    problems += [
        _meeting_problem(meeting_id, current, meetings.get(meeting_id))
        for meeting_id, current in sorted(odd_meetings.items())
        if meeting_id not in excused_meetings
    ]
    problems += [
        _training_problem(record_id, current, trainings.get(record_id))
        for record_id, current in sorted(odd_trainings.items())
        if record_id not in excused_trainings
    ]
    if not accounts_ok and odd_accounts is not None:
        problems += _account_problems(replay, *odd_accounts)
    problems += [
        f"person {person_id}: their record (party status and its dates, organization, name, "
        "birth date...) differs from what its last audited change recorded: changed outside "
        "pbflow"
        for person_id in sorted(odd_persons)
    ]
    problems += [
        f"account {user_id}: its password is not the one its last audited password change "
        "set: replaced outside pbflow"
        for user_id in sorted(odd_credentials)
    ]
    return problems
