"""Member profiles: search, create, edit, audited corrections of party status, CSV import.

Party status and its key dates are normally moved by the member-development workflow; changing
them here is an explicit *audited correction* that needs a reason (for example a record
migrated from paper with a wrong date). Every change records the before and after values.

Rights: an actor given as a ``User`` must hold ``admin`` at the person's organization or above;
``actor=None`` is the system (CLI, demo loader) and is not checked.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from sqlalchemy import or_, select, tuple_

from pbflow import audit, clock, validation
from pbflow.engine import actors, fastsql, locks
from pbflow.engine.errors import NotAllowed, NotFound, ValidationFailed
from pbflow.extensions import db
from pbflow.models import Organization, Person, User
from pbflow.models.people import PARTY_STATUSES
from pbflow.services import pagination
from pbflow.services import seen as form_seen
from pbflow.services.accounts import require_admin

GENDERS = ("male", "female")
# Accepted spellings on input (forms and CSV); stored as the code.
_GENDER_INPUT = {"male": "male", "m": "male", "男": "male", "female": "female", "f": "female"}
_GENDER_INPUT["女"] = "female"

PROFILE_FIELDS = (
    "name",
    "id_number",
    "gender",
    "birth_date",
    "ethnicity",
    "education",
    "job",
    "phone",
)
# Kept by the member-development workflow; changed here only as an audited correction.
STATUS_FIELDS = (
    "party_status",
    "applied_on",
    "activist_on",
    "target_on",
    "admitted_on",
    "probation_end_on",
    "full_member_on",
    "on_party_probation",
)
DATE_FIELDS = frozenset(
    {
        "birth_date",
        "applied_on",
        "activist_on",
        "target_on",
        "admitted_on",
        "probation_end_on",
        "full_member_on",
    }
)
MAX_LEN = {
    "name": 120,
    "id_number": 40,
    "ethnicity": 40,
    "education": 80,
    "job": 120,
    "phone": 40,
}

# CSV import: the columns, in the order the template on the page shows them.
CSV_COLUMNS = (
    "name",
    "id_number",
    "org_code",
    "gender",
    "birth_date",
    "ethnicity",
    "education",
    "job",
    "phone",
    "party_status",
    "applied_on",
    "activist_on",
    "target_on",
    "admitted_on",
    "full_member_on",
)
CSV_REQUIRED = ("name", "org_code")
MAX_IMPORT_BYTES = 2 * 1024 * 1024
MAX_IMPORT_ROWS = 10_000

STATUS_LABELS = {
    "none": _l("none"),
    "applicant": _l("applicant"),
    "activist": _l("activist"),
    "target": _l("development target"),
    "probationary": _l("probationary member"),
    "full": _l("full member"),
}
GENDER_LABELS = {"male": _l("male"), "female": _l("female")}


def gender_label(value: str | None) -> str:
    if not value:
        return ""
    code = _GENDER_INPUT.get(value.strip().lower(), value)
    return str(GENDER_LABELS.get(code, value))


def status_label(value: str | None) -> str:
    return str(STATUS_LABELS.get(value or "none", value or ""))


# --- rights and lookups ---------------------------------------------------------------------


def get_person(person_id: int, *, reader: User | None = None) -> Person:
    """A person by id; with ``reader``, only if that user may read the person's organization."""
    person = db.session.get(Person, person_id)
    if person is None or (reader is not None and not actors.can_read_org(reader, person.org_id)):
        raise NotFound(_("No such person."))
    return person


@dataclass
class Page:
    """One page of a list, with what the pager needs."""

    items: list[Any]
    total: int
    page: int | None
    per_page: int
    # Lists counted up to pagination.COUNT_LIMIT: ``exact`` False means "more than"; past the
    # numbered pages the next one follows the cursor ``next_after`` (``page`` None there).
    exact: bool = True
    next_after: str | None = None
    limit: int = pagination.COUNT_LIMIT

    @property
    def pages(self) -> int:
        counted = self.total if self.exact else min(self.total, self.limit)
        return max(1, -(-counted // self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.page is not None and self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page is not None and self.page < self.pages


def _people_query(reader: User, text: str, org_id: int | None, party_status: str | None):
    readable = actors.readable_org_ids(reader)
    if org_id is not None:
        readable &= {
            n.id for n in actors.org_index().values() if org_id in n.ancestor_ids()
        }  # the chosen organization and everything below it
    stmt = select(Person).where(fastsql.among(Person.org_id, readable or {-1}))
    text = (text or "").strip()
    if text:
        like = f"%{text}%"
        stmt = stmt.where(
            or_(Person.name.ilike(like), Person.id_number.ilike(like), Person.phone.ilike(like))
        )
    if party_status in PARTY_STATUSES:
        stmt = stmt.where(Person.party_status == party_status)
    return stmt


def export_people(
    reader: User, *, text: str = "", org_id: int | None = None, party_status: str | None = None
):
    """Every person the list's search selects (same rights, no pagination), read in
    batches: for CSV or Excel."""
    from pbflow.services.exports import Column, Table

    stmt = _people_query(reader, text, org_id, party_status).with_only_columns(
        Person.id,
        Person.name,
        Person.org_id,
        Person.party_status,
        Person.gender,
        Person.birth_date,
        Person.education,
        Person.job,
        Person.applied_on,
        Person.admitted_on,
        Person.full_member_on,
        Person.active,
    )
    index = actors.org_index()
    rows = (
        [
            r.id,
            r.name,
            index[r.org_id].display_name() if r.org_id in index else "",
            status_label(r.party_status),
            gender_label(r.gender),
            r.birth_date,
            r.education,
            r.job,
            r.applied_on,
            r.admitted_on,
            r.full_member_on,
            r.active,
        ]
        for r in db.session.execute(
            stmt.order_by(Person.name, Person.id).execution_options(yield_per=1000)
        )
    )
    return Table(
        "people",
        [
            Column(_("No."), "int", 8),
            Column(_("Name"), width=14),
            Column(_("Organization"), width=22),
            Column(_("Party status"), width=14),
            Column(_("Gender"), width=8),
            Column(_("Birth date"), "date", 12),
            Column(_("Education"), width=12),
            Column(_("Job"), width=14),
            Column(_("Applied on"), "date", 12),
            Column(_("Admitted on"), "date", 12),
            Column(_("Full member since"), "date", 12),
            Column(_("Active"), "bool", 8),
        ],
        rows,
        sheet=_("People"),
    )


def search_people(
    reader: User,
    *,
    text: str = "",
    org_id: int | None = None,
    party_status: str | None = None,
    page: int = 1,
    per_page: int = 25,
    after: int | None = None,
) -> Page:
    """People in the organizations ``reader`` may read, by name, id number or phone, by name:
    counted up to COUNT_LIMIT, numbered pages within that, past it a cursor (``after``: the
    id of the last person shown; the page goes on from that person's name)."""
    stmt = _people_query(reader, text, org_id, party_status)
    total = pagination.bounded_count(stmt.with_only_columns(Person.id))
    exact = total <= pagination.COUNT_LIMIT
    last_numbered = max(1, -(-min(total, pagination.COUNT_LIMIT) // per_page))
    page = None if after is not None else min(max(1, page), last_numbered)
    stmt = stmt.order_by(Person.name, Person.id)
    if after is not None:
        name = select(Person.name).where(Person.id == after).scalar_subquery()
        stmt = stmt.where(tuple_(Person.name, Person.id) > tuple_(name, after))
    else:
        stmt = stmt.offset((page - 1) * per_page)
    rows = list(db.session.execute(stmt.limit(per_page + 1)).scalars())
    next_after = None
    if len(rows) > per_page:
        rows = rows[:per_page]
        if page is None or not exact or page >= last_numbered:
            next_after = str(rows[-1].id)
    return Page(rows, total, page, per_page, exact, next_after, pagination.COUNT_LIMIT)


# --- parsing and validating fields ----------------------------------------------------------


def _parse_date(value: str) -> date:
    return validation.parse_date(value)  # 2026-03-01, 2026/3/1, 2026.3.1; years 1900-2999


# Dates of what has already happened to a person (born, applied, admitted...): none lies in
# the future. The end of probation is the one date ahead (a year after admission).
PAST_DATES = DATE_FIELDS - {"probation_end_on"}
# A telephone number as people write one: digits with spaces, + - ( ) and an extension.
_PHONE = re.compile(r"\+?[0-9][0-9 ()（）+\-]*(?:(?:转|ext\.?|x)\s*[0-9]+)?", re.IGNORECASE)


def _date_problem(value: str) -> str:
    """Why ``value`` is not a date pbflow keeps: a date whose year is out of range says so,
    anything else is not a date at all."""
    match = re.fullmatch(r"(\d{4})[-/.]\d{1,2}[-/.]\d{1,2}", value)
    if match and not 1900 <= int(match[1]) <= 2999:
        return _("'%(value)s': the year must be from 1900 to 2999", value=value)
    return _("'%(value)s' is not a date (use YYYY-MM-DD)", value=value)


def clean_fields(raw: dict[str, Any], names: tuple[str, ...]) -> tuple[dict[str, Any], dict]:
    """Parse the named fields from form or CSV text into values; return (values, errors).

    Empty text means "no value" (None). Errors map field name to a readable message.
    """
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name in names:
        value = raw.get(name)
        if isinstance(value, str):
            value = value.strip()
        if name == "on_party_probation":
            values[name] = value in (True, "1", "on", "true", "yes", "y")
            continue
        if value in (None, ""):
            if name == "name":
                errors[name] = _("is required")
            elif name == "party_status":
                values[name] = "none"
            else:
                values[name] = None
            continue
        if name in DATE_FIELDS:
            if isinstance(value, date):
                values[name] = value
                continue
            try:
                values[name] = _parse_date(value)
            except ValueError:
                errors[name] = _date_problem(value)
                continue
            if name in PAST_DATES and values[name] > clock.today():
                errors[name] = _(
                    "%(date)s is in the future: this date records what has happened",
                    date=values[name].isoformat(),
                )
        elif name == "gender":
            code = _GENDER_INPUT.get(value.lower())
            if code is None:
                errors[name] = _("'%(value)s' is not one of: male, female, 男, 女", value=value)
            values[name] = code
        elif name == "party_status":
            if value not in PARTY_STATUSES:
                errors[name] = _(
                    "'%(value)s' is not one of: %(choices)s",
                    value=value,
                    choices=", ".join(PARTY_STATUSES),
                )
            values[name] = value
        else:
            limit = MAX_LEN.get(name)
            if limit and len(value) > limit:
                errors[name] = _("is longer than %(n)s characters", n=limit)
            elif name == "phone" and not (
                _PHONE.fullmatch(value) and sum(c.isdigit() for c in value) >= 3
            ):
                errors[name] = _(
                    "'%(value)s' is not a telephone number (digits, with spaces, + - ( ) "
                    "and an extension)",
                    value=value,
                )
            values[name] = value
    return values, errors


def _id_number_taken(id_number: str | None, person_id: int | None = None) -> bool:
    if not id_number:
        return False
    stmt = select(Person.id).where(Person.id_number == id_number)
    if person_id is not None:
        stmt = stmt.where(Person.id != person_id)
    return db.session.execute(stmt).first() is not None


def _commit() -> None:
    try:
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise


def _org(org_id: Any) -> Organization:
    oid = validation.parse_id(org_id)
    org = db.session.get(Organization, oid) if oid is not None else None
    if org is None:
        raise ValidationFailed(
            _("Some fields need correcting."), field_errors={"org_id": _("choose an organization")}
        )
    return org


# --- create and edit ------------------------------------------------------------------------


def create_person(raw: dict[str, Any], *, actor: Any = None) -> Person:
    """A new person from profile fields plus ``org_id`` (and optionally party status)."""
    org = _org(raw.get("org_id"))
    require_admin(actor, org.id)
    values, errors = clean_fields(raw, PROFILE_FIELDS + ("party_status",))
    if "id_number" not in errors and _id_number_taken(values.get("id_number")):
        errors["id_number"] = _("another person already has this ID number")
    if errors:
        raise ValidationFailed(_("Some fields need correcting."), field_errors=errors)
    person = Person(org_id=org.id, **values)
    db.session.add(person)
    db.session.flush()
    audit.record(
        "person_created",
        actor=actor,
        org_id=org.id,
        payload={"person_id": person.id, "values": _jsonable(values)},
    )
    _commit()
    return person


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, date) else v) for k, v in values.items()}


def _changes(person: Person, values: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """{field: {"before": old, "after": new}} for the fields whose value differs."""
    out = {}
    for name, new in values.items():
        old = getattr(person, name)
        if old != new:
            out[name] = {"before": old, "after": new}
    return _jsonable_changes(out)


def _jsonable_changes(changes: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {k: _jsonable(v) for k, v in changes.items()}


PROFILE_SEEN = (*PROFILE_FIELDS, "org_id")  # what the profile form shows (seen_profile)


def _hold_as_shown(person: Person, raw: dict[str, Any], name: str, fields: tuple[str, ...]):
    """The person's row held and read again; refused when the form (``raw[name]``) showed it
    otherwise (pbflow.services.seen)."""
    form_seen.hold_as_shown(
        person,
        locks.hold_person,
        fields,
        raw.get(name),
        _(
            "This person's record changed since you opened it (someone else saved it);"
            " reload the page and make your change again."
        ),
    )


def update_profile(person: Person, raw: dict[str, Any], *, actor: Any = None) -> dict:
    """Edit profile fields (and the organization); return the changes made (empty: none).

    One ``person_updated`` event lists every changed field with its before and after value.
    """
    require_admin(actor, person.org_id)
    _hold_as_shown(person, raw, "seen_profile", PROFILE_SEEN)
    org = _org(raw.get("org_id", person.org_id))
    if org.id != person.org_id:
        require_admin(actor, org.id)
    values, errors = clean_fields(raw, PROFILE_FIELDS)
    if "id_number" not in errors and _id_number_taken(values.get("id_number"), person.id):
        errors["id_number"] = _("another person already has this ID number")
    if errors:
        raise ValidationFailed(_("Some fields need correcting."), field_errors=errors)
    values["org_id"] = org.id
    changes = _changes(person, values)
    if not changes:
        return {}
    for name in changes:
        setattr(person, name, values[name])
    audit.record(
        "person_updated",
        actor=actor,
        org_id=person.org_id,
        payload={"person_id": person.id, "changes": changes},
    )
    _commit()
    return changes


def correct_status(person: Person, raw: dict[str, Any], reason: str, *, actor: Any = None) -> dict:
    """An audited correction of party status and key dates; ``reason`` is required.

    The workflow is the normal way these change, so the event is named differently
    (``person_status_corrected``) and carries the reason, for whoever audits it later.
    """
    require_admin(actor, person.org_id)
    _hold_as_shown(person, raw, "seen_status", STATUS_FIELDS)
    values, errors = clean_fields(raw, STATUS_FIELDS)
    reason = (reason or "").strip()
    if not reason:
        errors["reason"] = _("say why the record is corrected")
    elif len(reason) > 500:
        errors["reason"] = _("is longer than %(n)s characters", n=500)
    if errors:
        raise ValidationFailed(_("Some fields need correcting."), field_errors=errors)
    changes = _changes(person, values)
    if not changes:
        return {}
    for name in changes:
        setattr(person, name, values[name])
    audit.record(
        "person_status_corrected",
        actor=actor,
        org_id=person.org_id,
        payload={"person_id": person.id, "changes": changes, "reason": reason},
    )
    _commit()
    return changes


def set_person_active(person: Person, active: bool, *, actor: Any = None) -> None:
    """Mark a person as no longer in the organization (or back); the record stays."""
    require_admin(actor, person.org_id)
    if person.active == active:
        return
    person.active = active
    audit.record(
        "person_activated" if active else "person_deactivated",
        actor=actor,
        org_id=person.org_id,
        payload={"person_id": person.id, "name": person.name},
    )
    _commit()


# --- CSV import -----------------------------------------------------------------------------


@dataclass
class LineError:
    line: int  # line number in the file, the header being line 1
    column: str
    message: str


@dataclass
class ImportReport:
    rows: list[dict[str, Any]] = field(default_factory=list)
    errors: list[LineError] = field(default_factory=list)
    imported: int = 0

    @property
    def ok(self) -> bool:
        return not self.errors


class ImportRefused(ValidationFailed):
    """The file as a whole is refused; ``report`` lists every line's problems."""

    def __init__(self, message: str, report: ImportReport | None = None):
        super().__init__(message)
        self.report = report or ImportReport()


def _decode(data: bytes) -> str:
    if not data or not data.strip():
        raise ImportRefused(_("The file is empty."))
    if len(data) > MAX_IMPORT_BYTES:
        raise ImportRefused(
            _(
                "The file is too large (at most %(n)s KiB). Split it into several files.",
                n=MAX_IMPORT_BYTES // 1024,
            )
        )
    if b"\x00" in data:  # anywhere: PostgreSQL cannot store a NUL (issue 10)
        raise ImportRefused(
            _("This is not a CSV text file (a spreadsheet perhaps). Save it as 'CSV UTF-8'.")
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportRefused(
            _(
                "The file is not UTF-8 encoded (byte %(pos)s). In the spreadsheet program, "
                "save it as 'CSV UTF-8'.",
                pos=exc.start + 1,
            )
        ) from None


def check_csv(data: bytes, *, actor: Any = None) -> ImportReport:
    """Validate every line of a people CSV; nothing is written.

    Raises ImportRefused for a file that cannot be read at all (size, encoding, header);
    otherwise returns a report whose ``errors`` name each bad line and column.
    """
    text = _decode(data)
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip().lower() for h in next(reader)]
    except (StopIteration, csv.Error):
        raise ImportRefused(_("The file has no header line.")) from None
    unknown = [h for h in header if h and h not in CSV_COLUMNS]
    missing = [c for c in CSV_REQUIRED if c not in header]
    dup_cols = sorted({h for h in header if h and header.count(h) > 1})
    problems = []
    if unknown:
        problems.append(_("unknown columns: %(cols)s", cols=", ".join(unknown)))
    if missing:
        problems.append(_("missing columns: %(cols)s", cols=", ".join(missing)))
    if dup_cols:
        problems.append(_("repeated columns: %(cols)s", cols=", ".join(dup_cols)))
    if problems:
        raise ImportRefused(
            _("The header line is not right: %(problems)s.", problems="; ".join(problems))
        )

    report = ImportReport()
    orgs = {
        o.code: o for o in db.session.execute(select(Organization)).scalars()
    }  # one query, not one per line
    seen_ids: dict[str, int] = {}
    rows: list[tuple[int, dict[str, Any]]] = []
    try:
        for record in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in record):
                continue  # blank lines are allowed (spreadsheets leave them at the end)
            if len(rows) >= MAX_IMPORT_ROWS:
                raise ImportRefused(
                    _("The file has more than %(n)s people. Split it.", n=MAX_IMPORT_ROWS)
                )
            if len(record) != len(header):
                report.errors.append(
                    LineError(
                        line,
                        "",
                        ngettext(
                            "has %(num)s cell, the header has %(want)s",
                            "has %(num)s cells, the header has %(want)s",
                            len(record),
                            want=len(header),
                        ),
                    )
                )
                continue
            rows.append((line, dict(zip(header, record, strict=True))))
    except csv.Error as exc:
        raise ImportRefused(
            _(
                "The file is not valid CSV near line %(line)s: %(problem)s",
                line=reader.line_num,
                problem=str(exc),
            )
        ) from None
    if not rows and not report.errors:
        raise ImportRefused(_("The file has a header but no people."))

    fields = tuple(c for c in CSV_COLUMNS if c != "org_code")
    for line, raw in rows:
        values, errors = clean_fields(raw, fields)
        code = (raw.get("org_code") or "").strip()
        org = orgs.get(code)
        if not code:
            errors["org_code"] = _("is required")
        elif org is None:
            errors["org_code"] = _("no organization has code '%(code)s'", code=code)
        elif not org.active:
            errors["org_code"] = _("organization '%(code)s' is deactivated", code=code)
        else:
            try:
                require_admin(actor, org.id)
            except NotAllowed:
                errors["org_code"] = _("you are not an administrator of '%(code)s'", code=code)
        id_number = values.get("id_number")
        if id_number and "id_number" not in errors:
            if id_number in seen_ids:
                errors["id_number"] = _(
                    "the same ID number is on line %(line)s", line=seen_ids[id_number]
                )
            else:
                seen_ids[id_number] = line
        for column, message in errors.items():
            report.errors.append(LineError(line, column, message))
        if not errors:
            values["org_id"] = org.id
            report.rows.append(values | {"_line": line})
    if seen_ids:
        taken = set(
            db.session.execute(
                select(Person.id_number).where(Person.id_number.in_(list(seen_ids)))
            ).scalars()
        )
        for number in sorted(taken, key=lambda n: seen_ids[n]):
            report.errors.append(
                LineError(
                    seen_ids[number], "id_number", _("a person with this ID number already exists")
                )
            )
    report.errors.sort(
        key=lambda e: (e.line, CSV_COLUMNS.index(e.column) if e.column in CSV_COLUMNS else -1)
    )
    return report


def import_csv(data: bytes, *, actor: Any = None, filename: str = "") -> ImportReport:
    """Import every person of the file in one transaction, or nobody.

    Raises ImportRefused (with the line-by-line report) when any line is invalid.
    """
    report = check_csv(data, actor=actor)
    if not report.ok:
        raise ImportRefused(
            _(
                "Nothing was imported: %(n)s problems in the file. Correct them and upload "
                "the whole file again.",
                n=len(report.errors),
            ),
            report,
        )
    people = []
    for values in report.rows:
        line = values.pop("_line")
        person = Person(**values)
        db.session.add(person)
        people.append((line, person))
    db.session.flush()
    for line, person in people:
        audit.record(
            "person_created",
            actor=actor,
            org_id=person.org_id,
            payload={
                "person_id": person.id,
                "source": "csv",
                "line": line,
                "values": _jsonable({c: getattr(person, c) for c in PROFILE_FIELDS}),
            },
        )
    audit.record(
        "people_imported",
        actor=actor,
        payload={"count": len(people), "filename": filename[:200]},
    )
    _commit()
    report.imported = len(people)
    return report


def readable_orgs(reader: User) -> list[Organization]:
    """The organizations ``reader`` may read, in tree order (pages' pickers and the API)."""
    ids = actors.readable_org_ids(reader)
    if not ids:
        return []
    stmt = select(Organization).where(Organization.id.in_(ids)).order_by(Organization.path)
    return list(db.session.scalars(stmt))
