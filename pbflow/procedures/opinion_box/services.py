"""The opinion box (DOMAIN.md section 4): submit, follow with the tracking code, the book.

The organization's side of an opinion (accept, set aside, transfer, assign, answer, review,
publish) is a set of transitions of ``workflows/opinion.yaml`` served by the generic case page;
this module serves the submitter, who needs no login, and the branch's opinion book.

Anonymity, as promised on the form:
- an anonymous opinion is started by the actor "anonymous", so no user id is stored on the
  case or in its audit events, even when the visitor is logged in;
- the submitter's later steps are taken by an ``actors.CodeHolder`` made here only after the
  tracking code was checked for that very case, and audited as "anonymous";
- no IP address or user agent is stored anywhere; the only value derived from the address
  is the rate-limit counter's key, an HMAC of the address under a random key of its time
  window, kept in a table that never names an opinion; key and counters are deleted when
  the window ends, after which no key exists to try addresses with (see "rate limits");
- the steps an anonymous person takes are dated to the hour everywhere (``anonymous_time``
  in ``workflows/opinion.yaml``), and the opinion box's pages are left out of the access log
  (``pbflow/access_log.py``);
- the tracking code travels only in POST bodies (never a URL, which ends up in logs and
  history) and never in the session cookie; the database keeps only its SHA-256.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app, has_request_context
from flask_babel import get_locale
from flask_babel import gettext as _
from sqlalchemy import (
    BigInteger,
    Date,
    Integer,
    and_,
    case,
    cast,
    extract,
    func,
    literal,
    select,
    tuple_,
)

from pbflow import audit, clock, validation
from pbflow.engine import actors, fastsql, fields, runtime, tally
from pbflow.engine.actors import CodeHolder
from pbflow.engine.errors import (
    DomainError,
    InvalidState,
    NotAllowed,
    NotFound,
    ValidationFailed,
)
from pbflow.engine.registry import registry
from pbflow.extensions import db
from pbflow.models import (
    OpinionCode,
    Organization,
    ProcessInstance,
    User,
)
from pbflow.models.process import OPINION_FACTS, OPINION_WORKFLOW
from pbflow.procedures.opinion_box import tallies
from pbflow.services import rate_limits
from pbflow.services.pagination import format_cursor

WORKFLOW = OPINION_WORKFLOW  # the cases whose facts the database keeps (``OPINION_FACTS``)
SUBMITTER_TRIGGERS = ("add_information", "accept_answer", "reject_answer")
FORM_FIELDS = ("subject", "text", "category", "contact", "anonymous")
HONEYPOT = "website"  # a hidden field people never see; bots fill in whatever looks like one

# Crockford's base32: no I, L, O or U, so a code read aloud or copied by hand survives.
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 16  # 16 symbols x 5 bits = 80 bits of randomness
_CONFUSABLE = str.maketrans({"O": "0", "I": "1", "L": "1"})
_SEPARATORS = str.maketrans("", "", " -_.\t\r\n")

RATE_DEFAULTS = {"submit": 5, "track": 30}


class RateLimited(DomainError):
    status = 429


class Refused(DomainError):
    """A submission refused before it reached the workflow (honeypot, unknown organization)."""

    status = 422


# --- tracking codes -------------------------------------------------------------------------


def new_code() -> str:
    """A fresh code like ``K7Q2-9XMP-4RTD-H8WN``: 80 random bits in four groups of four."""
    n = secrets.randbits(5 * CODE_LENGTH)
    symbols = "".join(ALPHABET[(n >> (5 * i)) & 31] for i in range(CODE_LENGTH))
    return "-".join(symbols[i : i + 4] for i in range(0, CODE_LENGTH, 4))


def normalize_code(raw: str | None) -> str | None:
    """The code's 16 symbols, forgiving case, spaces, dashes and O/0, I/L/1 confusion."""
    text = (raw or "")[:64].upper().translate(_SEPARATORS).translate(_CONFUSABLE)
    if len(text) != CODE_LENGTH or any(ch not in ALPHABET for ch in text):
        return None
    return text


def code_hash(normalized: str) -> str:
    return hashlib.sha256(f"pbflow-opinion-code:{normalized}".encode()).hexdigest()


_NO_MATCH = code_hash("")


def _case_for_code(raw: str | None) -> int | None:
    """The case a code belongs to, or None; "malformed", "no such code" and "wrong code"
    take the same path (one lookup, one constant-time comparison) and give the same answer."""
    digest = code_hash(normalize_code(raw) or "")
    row = db.session.execute(
        select(OpinionCode.instance_id, OpinionCode.code_hash).where(
            OpinionCode.code_hash == digest
        )
    ).first()
    stored = row.code_hash if row is not None else _NO_MATCH
    matched = hmac.compare_digest(stored, digest) and row is not None and digest != _NO_MATCH
    return row.instance_id if matched else None


# --- rate limits (pbflow.services.rate_limits: per-window keys deleted with the window) ------


def _limit(bucket: str) -> int:
    key = f"PBFLOW_OPINION_{bucket.upper()}_LIMIT"
    return int(current_app.config.get(key, RATE_DEFAULTS[bucket]))


def _take(bucket: str, client: str) -> None:
    """Count one attempt of ``client`` in the current window, or refuse it over the limit."""
    again = rate_limits.take(bucket, client, _limit(bucket))
    if again is None:
        return
    if bucket == "submit":
        message = _(
            "Too many opinions were sent from your network in a short time. Please try "
            "again after %(time)s; what you typed is kept below.",
            time=f"{again:%H:%M}",
        )
    else:
        message = _(
            "Too many tracking codes were tried from your network. Please try again "
            "after %(time)s.",
            time=f"{again:%H:%M}",
        )
    raise RateLimited(message)


def forget_past_windows(now: datetime | None = None) -> int:
    """The rate-limit windows that are over, forgotten (``pbflow tick``)."""
    return rate_limits.forget_past_windows(now)


# --- submitting -----------------------------------------------------------------------------


@dataclass
class Submitted:
    """What the one-time slip shows."""

    code: str
    org_name: str
    subject: str
    submitted_at: datetime
    answer_due: date | None
    anonymous: bool


def public_orgs() -> list[Organization]:
    """Organizations whose opinion box the public may write to, in tree order."""
    kinds = registry().get(WORKFLOW).run_by
    return list(
        db.session.execute(
            select(Organization)
            .where(Organization.active, Organization.kind.in_(kinds))
            .order_by(Organization.path)
        ).scalars()
    )


def form_fields() -> tuple:
    """The fields of the submission form, as the workflow file declares them."""
    return registry().get(WORKFLOW).start_fields


def public_org(code: str | None) -> Organization:
    if not (code or "").strip():  # the general box's "To" left at its blank choice
        raise NotFound(_("Choose where the opinion goes: your branch or the party committee."))
    org = db.session.execute(
        select(Organization).where(Organization.code == (code or "").strip())
    ).scalar()
    if org is None or not org.active or org.kind not in registry().get(WORKFLOW).run_by:
        raise NotFound(_("There is no opinion box for this organization."))
    return org


def _form_values(form: Mapping[str, Any]) -> dict[str, Any]:
    values = {name: form.get(name) for name in FORM_FIELDS if name != "anonymous"}
    # The box is ticked on the form by default for a visitor who is not logged in.
    values["anonymous"] = str(form.get("anonymous") or "").lower() in ("1", "on", "true", "yes")
    return values


def submit(org_code: str, form: Mapping[str, Any], *, user: User | None, client: str) -> Submitted:
    """Drop an opinion in an organization's box; returns the slip with the tracking code.

    ``client`` is the visitor's address, used only for the rate limit (see the module doc).
    Refusals raise a DomainError with a readable reason and write nothing (a honeypot hit
    only counts against the rate limit).
    """
    values = _form_values(form)
    try:
        org = public_org(org_code)
    except NotFound as exc:
        # Say everything at once: the organization and whatever else needs correcting.
        try:
            fields.validate(form_fields(), values)
        except ValidationFailed as bad:
            exc.field_errors = {**bad.field_errors, "org": exc.message}
        raise
    logged_in = user is not None and getattr(user, "is_authenticated", False)
    actor: Any = user if logged_in and not values["anonymous"] else audit.ANONYMOUS
    try:
        _take("submit", client)
        if (form.get(HONEYPOT) or "").strip():
            db.session.commit()  # the attempt counts against the limit; nothing else is written
            raise Refused(
                _(
                    "The form was not accepted: the field 'Leave this empty' was filled in. "
                    "Please clear it and send again."
                )
            )
        case = runtime.start(WORKFLOW, org, actor, values, commit=False)
        code = new_code()
        db.session.add(OpinionCode(instance_id=case.id, code_hash=code_hash(normalize_code(code))))
        # Dated like the case itself (to the hour when anonymous: ``anonymous_time``).
        audit.record(
            "tracking_code_issued",
            actor=actor,
            org_id=org.id,
            instance_id=case.id,
            payload={},
            at=case.created_at,
        )
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    due = case.data.get("answer_due")
    return Submitted(
        code=code,
        org_name=_org_name(org),
        subject=case.title,
        submitted_at=case.created_at,
        answer_due=date.fromisoformat(due) if due else None,
        anonymous=bool(values["anonymous"]),
    )


def _commit() -> None:
    try:
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise


# --- following ------------------------------------------------------------------------------


@dataclass
class SubmitterAction:
    trigger: str
    label: Any
    enabled: bool
    reason: str | None
    fields: tuple


@dataclass
class Followed:
    """What the submitter sees on the follow page (nothing about who handles it internally
    beyond the organization, and never a draft answer)."""

    case_id: int
    version: int
    state: str
    state_label: Any
    state_description: Any
    closed: bool
    org_name: str
    subject: str
    text: str
    category: Any
    anonymous: bool
    submitted_at: datetime
    answer_due: date | None
    rate_by: datetime | None
    set_aside_reason: str | None
    published_answer: str | None
    published_on: str | None
    rating: int | None
    rating_comment: str | None
    additions: list[dict[str, Any]] = field(default_factory=list)
    rejections: list[dict[str, Any]] = field(default_factory=list)
    transfers: list[dict[str, Any]] = field(default_factory=list)
    actions: list[SubmitterAction] = field(default_factory=list)


_OPEN_BEFORE_ANSWER = ("received", "accepted", "assigned", "in_review", "approved")


def _holder_actor(case: ProcessInstance, user: User | None) -> Any:
    """A named submitter who is logged in acts as themselves; anyone else holding the code
    acts as the code holder of this one case (audited as "anonymous")."""
    logged_in = user is not None and getattr(user, "is_authenticated", False)
    if logged_in and case.submitter_user_id is not None and case.submitter_user_id == user.id:
        return user
    return CodeHolder(case.id)


def _org_name(org: Any) -> str:
    """An organization's name in the reader's language (its English name where it has one)."""
    return _org_namer()(org)


def _view(case_id: int, actor: Any) -> Followed:
    case, org_name = db.session.execute(
        select(ProcessInstance, Organization)
        .join(Organization, Organization.id == ProcessInstance.org_id)
        .where(ProcessInstance.id == case_id)
    ).one()
    d = registry().stored(case.definition_id)
    data = case.data or {}
    state = d.states[case.state]
    category = next(
        (
            c.label
            for f in d.start_fields
            if f.name == "category"
            for c in f.choices
            if c.value == data.get("category")
        ),
        data.get("category"),
    )
    actions = [
        SubmitterAction(a.trigger, a.label, a.enabled, a.reason, a.fields)
        for a in runtime.available_actions(runtime.load_case(case.id), actor)
        if a.trigger in SUBMITTER_TRIGGERS
    ]
    due = data.get("answer_due") if case.state in _OPEN_BEFORE_ANSWER else None
    return Followed(
        case_id=case.id,
        version=case.version,
        state=case.state,
        state_label=state.label,
        state_description=state.description,
        closed=case.closed_at is not None,
        org_name=_org_name(org_name),
        subject=case.title,
        text=data.get("text", ""),
        category=category,
        anonymous=bool(data.get("anonymous")),
        submitted_at=case.created_at,
        answer_due=date.fromisoformat(due) if due else None,
        rate_by=case.due_at if case.state == "published" else None,
        set_aside_reason=data.get("set_aside_reason"),
        published_answer=data.get("published_answer"),
        published_on=data.get("published_on"),
        rating=data.get("rating"),
        rating_comment=data.get("rating_comment"),
        additions=list(data.get("additions") or []),
        rejections=list(data.get("rejections") or []),
        transfers=list(data.get("transfers") or []),
        actions=actions,
    )


def _verified_case(raw_code: str | None, client: str) -> ProcessInstance:
    """The case of a tracking code. Every try takes a place in the client's limit first
    (atomically, so a burst of guesses cannot slip past it); a wrong code keeps its place,
    a right one gives it back."""
    try:
        _take("track", client)
        case_id = _case_for_code(raw_code)
        if case_id is None:
            db.session.commit()
            raise NotFound(
                _("No opinion matches this tracking code. Check the code and try again.")
            )
    except BaseException:
        db.session.rollback()
        raise
    db.session.rollback()
    return db.session.get(ProcessInstance, case_id)


def follow(raw_code: str | None, *, user: User | None, client: str) -> Followed:
    """The follow page for whoever holds the code (unknown and wrong codes: one answer)."""
    case = _verified_case(raw_code, client)
    return _view(case.id, _holder_actor(case, user))


def act(
    raw_code: str | None,
    trigger: str,
    values: Mapping[str, Any],
    *,
    expected_version: int | None,
    user: User | None,
    client: str,
) -> Followed:
    """Take one of the submitter's steps (add information, accept with a rating, reject),
    after checking the code; the workflow decides whether it is possible now."""
    case = _verified_case(raw_code, client)
    if trigger not in SUBMITTER_TRIGGERS:
        raise InvalidState(_("Unknown step '%(step)s'.", step=trigger))
    actor = _holder_actor(case, user)
    runtime.fire(case.id, trigger, actor, values, expected_version=expected_version)
    return _view(case.id, actor)


# --- the opinion book and its figures -------------------------------------------------------


@dataclass(frozen=True)
class Period:
    start: date
    end: date  # inclusive

    @property
    def label(self) -> str:
        return f"{self.start.isoformat()} – {self.end.isoformat()}"


def quarter_of(day: date) -> Period:
    first = 3 * ((day.month - 1) // 3) + 1
    after = date(day.year + 1, 1, 1) if first == 10 else date(day.year, first + 3, 1)
    return Period(date(day.year, first, 1), after - timedelta(days=1))


def parse_period(start_text: str | None, end_text: str | None) -> Period:
    """A period from two ISO dates; the current quarter when none is given (handling is
    reviewed every quarter, DOMAIN 4)."""
    if not start_text and not end_text:
        return quarter_of(clock.today())
    try:
        start = validation.parse_date(start_text) if start_text else None
        end = validation.parse_date(end_text) if end_text else None
    except ValueError:
        raise DomainError(_("Dates must look like 2026-03-01.")) from None
    start = start or date(end.year, 1, 1)
    end = end or clock.today()
    if end < start:
        raise DomainError(_("The period ends before it starts."))
    if (end - start).days > 3 * 366:
        raise DomainError(_("Choose a period of at most three years."))
    return Period(start, end)


@dataclass
class BookRow:
    case_id: int
    org_id: int
    org_name: str
    received_on: date
    category: Any
    subject: str
    text: str
    anonymous: bool
    contact: str | None
    state: str
    state_label: Any
    handler: str | None
    answer_due: str | None
    answered_on: str | None
    on_time: bool | None
    answer: str | None
    rating: int | None
    rating_comment: str | None
    reopened: int
    set_aside_reason: str | None
    additions: list[dict[str, Any]]


@dataclass
class Figures:
    """Counts and sums, so figures add up in the database (one GROUP BY) or row by row alike:
    ``days_to_answer`` is the sum of the days from receipt to the first answer over the
    answered opinions, ``rating_sum`` the sum of the ``rated`` ratings, ``satisfied`` the
    ratings of 4 or 5."""

    org_id: int
    org_name: str
    received: int = 0
    set_aside: int = 0
    answered: int = 0
    answered_on_time: int = 0
    days_to_answer: int = 0
    reopened: int = 0
    rated: int = 0
    rating_sum: int = 0
    satisfied: int = 0
    unrated_closed: int = 0

    COUNTS = (
        "received",
        "set_aside",
        "answered",
        "answered_on_time",
        "days_to_answer",
        "reopened",
        "rated",
        "rating_sum",
        "satisfied",
        "unrated_closed",
    )

    @property
    def on_time_share(self) -> float | None:
        return self.answered_on_time / self.answered if self.answered else None

    @property
    def average_days(self) -> float | None:
        return self.days_to_answer / self.answered if self.answered else None

    @property
    def mean_rating(self) -> float | None:
        return self.rating_sum / self.rated if self.rated else None

    @property
    def satisfied_share(self) -> float | None:
        """Share of ratings that are 4 or 5: the satisfaction rate of DOMAIN 4."""
        return self.satisfied / self.rated if self.rated else None

    def merge(self, other: Figures) -> None:
        """Add another set of figures (of a month, say) to these."""
        for name in self.COUNTS:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    @property
    def counted(self) -> bool:
        """Whether anything at all was counted (a row of naughts otherwise)."""
        return any(getattr(self, name) for name in self.COUNTS)


@dataclass
class Book:
    """The book of a period: the figures over every opinion in it, and one page of entries
    (``next_after``: the cursor of the next page, None on the last)."""

    org: actors.OrgNode
    period: Period
    rows: list[BookRow]
    total: Figures
    by_org: list[Figures]
    next_after: str | None = None
    first_page: bool = True

    @property
    def with_figures(self) -> list[Figures]:
        """The organizations with anything to count in the period: the page's table. A
        committee's party groups rarely receive an opinion: at 100,000 cases 54 of its 114
        rows were naught in every column (the dashboard's opinions download still has a row
        for every branch and every organization above one)."""
        return [f for f in self.by_org if f.counted]

    @property
    def without_figures(self) -> list[Figures]:
        """The others, named below the table."""
        return [f for f in self.by_org if not f.counted]


BOOK_PAGE = 50


def _require_reader(viewer: User | None, org: actors.OrgNode) -> None:
    if viewer is None or not getattr(viewer, "is_authenticated", False):
        raise NotAllowed(_("Please log in to see the opinion book."))
    if not actors.can_read_org(viewer, org.id):
        raise NotAllowed(_("You may not see the opinion book of this organization."))


def book(
    org_code: str,
    period: Period | tuple[str | None, str | None],
    *,
    viewer: User | None,
    after: tuple[datetime, int] | None = None,
    page_size: int | None = BOOK_PAGE,
) -> Book:
    """The opinions received in the period by the organization and those below it, with
    answers and ratings, and the figures per organization: the figures over the whole period,
    the entries one page (``page_size``, after the cursor ``after``; None: every entry, for
    the exports). A fixed number of statements whatever the number of opinions.

    ``period`` may be given as the two dates typed (from, to): they are read after the
    rights are checked, so that whoever may not read the book is refused as such, whatever
    the dates."""
    org = actors.org_by_code(org_code)
    if org is None:
        raise NotFound(_("No organization with code '%(code)s'.", code=org_code))
    _require_reader(viewer, org)
    if not isinstance(period, Period):
        period = parse_period(*period)
    index = actors.org_index()
    subtree = [n for n in index.values() if org.id in n.ancestor_ids()]
    subtree.sort(key=lambda n: n.path)
    start = clock.local_midnight_utc(period.start)
    end = clock.local_midnight_utc(period.end + timedelta(days=1))
    P = ProcessInstance
    in_subtree = fastsql.among(P.org_id, [n.id for n in subtree])
    # The figures over the whole period, per organization: its whole UTC months from the
    # figures kept as data, the hours at either end from the opinions received in them.
    counted = figures([n.id for n in subtree], period.start, period.end, "period").by_org
    by_org = [counted[n.id] for n in subtree]
    total = Figures(org.id, _org_name(org))
    for fig in by_org:
        total.merge(fig)
    # One page of entries, in the order of ``ix_case_workflow_created_org`` (received, id;
    # the organization filtered in the index): the page reads its own rows and no more.
    # After a cursor the period starts at the cursor's time, so that the index is entered
    # there rather than walked from the period's start.
    entries = [
        P.workflow_id == WORKFLOW,
        P.created_at >= (start if after is None else max(start, after[0])),
        P.created_at < end,
        in_subtree,
    ]
    if after is not None:
        entries.append(tuple_(P.created_at, P.id) > tuple_(*after))
    # Rows of the columns an entry shows, not the cases as ORM objects.
    stmt = (
        select(
            P.id,
            P.definition_id,
            P.org_id,
            P.created_at,
            P.title,
            P.state,
            P.data,
            User.display_name,
        )
        .outerjoin(User, User.id == ProcessInstance.assignee_user_id)
        .where(*entries)
        .order_by(ProcessInstance.created_at, ProcessInstance.id)
    )
    if page_size is not None:
        stmt = stmt.limit(page_size + 1)
    result = db.session.execute(stmt).all()
    next_after = None
    if page_size is not None and len(result) > page_size:
        result = result[:page_size]
        last = result[-1]
        next_after = format_cursor((last.created_at, last.id))
    name = _org_namer()
    rows = [_book_row(r, r.display_name, name(index[r.org_id])) for r in result]
    return Book(org, period, rows, total, by_org, next_after, first_page=after is None)


def _epoch_seconds(when: Any, postgres: bool) -> Any:
    """Whole seconds since 1970 of a naive UTC time (or a date: its UTC midnight)."""
    if postgres:
        return cast(func.floor(extract("epoch", when)), BigInteger)
    return cast(func.strftime("%s", when), Integer)


def _offsets(start: datetime, end: datetime) -> tuple[tuple[int, int], ...]:
    """The local UTC offsets over ``start``..``end`` (naive UTC): (from epoch second, offset in
    seconds), a single pair where the zone keeps one offset (Asia/Shanghai)."""
    return _zone_offsets(clock.local_tz().key, start, end)


@functools.lru_cache(maxsize=256)
def _zone_offsets(zone: str, start: datetime, end: datetime) -> tuple[tuple[int, int], ...]:
    """``_offsets`` for a zone by name: a pure function of its arguments (a day at a time over
    three years is a thousand look-ups), so worked out once per period."""
    tz = ZoneInfo(zone)

    def offset(second: int) -> int:
        return int(datetime.fromtimestamp(second, tz).utcoffset().total_seconds())

    first = int(start.replace(tzinfo=UTC).timestamp())
    last = int(end.replace(tzinfo=UTC).timestamp())
    found = [(first, offset(first))]
    t = first
    while t < last:
        step = min(t + 86400, last)
        if offset(step) == found[-1][1]:
            t = step
            continue
        low, high = t, step  # the change is in (low, high]
        while high - low > 1:
            mid = (low + high) // 2
            low, high = (mid, high) if offset(mid) == found[-1][1] else (low, mid)
        found.append((high, offset(high)))
        t = high
    return tuple(found)


def _facts(*where: Any) -> Any:
    """The opinions' few facts the figures count: the generated columns the database keeps
    from each opinion's ``data`` (``pbflow.models.process.OPINION_FACTS``), read with the
    organization, state and time of receipt from the index ``ix_case_opinion_facts`` alone,
    without parsing a single document."""
    P = ProcessInstance
    T = ProcessInstance.__table__
    return (
        select(
            P.org_id,
            P.state,
            P.created_at,
            T.c.opinion_answered_on.label("answered_on"),
            T.c.opinion_on_time.label("on_time"),
            T.c.opinion_rating.label("rating"),
            T.c.opinion_reopened.label("reopened"),
        )
        .where(*where)
        .subquery("opinion_facts")
    )


def _figure_columns(r: Any, start: datetime, end: datetime) -> list[Any]:
    """The SQL sums of ``Figures.COUNTS`` over the facts ``r`` of opinions received
    ``start``..``end``, in that order, meaning exactly what a row-by-row count would (the
    tests keep one as their oracle). The days to an answer are the first answer's date less
    the local date of receipt, both as day numbers: the received time's epoch seconds
    shifted by the local offset of that time, whole days."""
    postgres = db.session.get_bind().dialect.name == "postgresql"
    answered_on = r.c.answered_on
    on_time = r.c.on_time
    rating = cast(func.nullif(r.c.rating, ""), Integer)
    reopened = cast(func.nullif(r.c.reopened, ""), Integer)
    answered = and_(answered_on.is_not(None), answered_on != "")
    received_at = _epoch_seconds(r.c.created_at, postgres)
    offsets = _offsets(start, end)
    shift: Any = offsets[-1][1]
    if len(offsets) > 1:
        # Each offset holds until the next one's first second.
        bounds = [(offsets[i + 1][0], offsets[i][1]) for i in range(len(offsets) - 1)]
        shift = case(*((received_at < until, off) for until, off in bounds), else_=shift)
    received_day = (received_at + shift) // 86400
    answered_day = _epoch_seconds(cast(answered_on, Date) if postgres else answered_on, postgres)
    answered_day = answered_day // 86400

    def number(condition: Any) -> Any:
        return func.count().filter(condition)

    return [
        func.count(),
        number(r.c.state == "set_aside"),
        number(answered),
        number(and_(answered, on_time.in_(("true", "1")))),
        func.sum(answered_day - received_day).filter(answered),
        number(func.coalesce(reopened, 0) != 0),
        func.count(rating),
        func.sum(rating),
        number(rating >= 4),
        number(r.c.state == "closed_unrated"),
    ]


@dataclass
class OpinionFigures:
    """The opinion box's figures for a set of organizations over a period: per organization,
    and per organization and month (or quarter) for the charts over time."""

    by_org: dict[int, Figures]
    by_column: dict[tuple[int, date], Figures]  # (org id, column start)


def _column_starts(first: date, last: date, grain: str) -> list[date]:
    """The first days of the local months (or quarters) ``first``..``last`` touches; for the
    grain "period", ``first`` alone (one column, the whole period)."""
    if grain == "period":
        return [first]
    step = 3 if grain == "quarter" else 1
    column = date(first.year, (first.month - 1) // step * step + 1, 1)
    starts = []
    while column <= last:
        starts.append(column)
        month = column.month - 1 + step
        column = date(column.year + month // 12, month % 12 + 1, 1)
    return starts


def figures(
    org_ids: list[int],
    first: date,
    last: date,
    grain: str = "month",
    *,
    columns_by_org: bool = True,
    by_org: bool = True,
) -> OpinionFigures:
    """Opinions received ``first``..``last`` (local days) by each organization: received,
    answered on time, days to answer, reopened, ratings (DOMAIN 4), per organization and per
    organization and column: a local month, a quarter, or with the grain "period" the whole
    period (or, without ``columns_by_org``, per column over all of them, keyed ``(None,
    column start)``; without ``by_org`` only those, none per organization: a page that shows
    the sums reads a row per figure, not one per organization). An opinion counts where it
    is now, the organization
    answerable for it (one transferred counts at its new organization). No rights are
    checked: the caller has.

    Counted from the figures kept as data (pbflow.engine.tally, ``tallies``): each opinion's
    facts at the UTC month it was received, summed per column between the month boundaries
    nearest the columns' local starts; the hours between such a boundary and a column's start
    are counted from the opinions received in them, as ``figures_by_scan`` counts (for a
    local month in Beijing, the eight hours before the UTC month begins; for a period that
    starts or ends on another day, at most half a month's). Two statements
    whatever the number of opinions. Should the days to an answer have been counted in
    another time zone than the one configured now, every opinion is read instead."""
    ids = sorted(set(org_ids))
    index = actors.org_index()
    name = _org_namer()
    columns_by_org = columns_by_org and by_org
    result = OpinionFigures(
        {oid: Figures(oid, name(index[oid])) for oid in ids if oid in index} if by_org else {},
        {},
    )
    if not ids:
        return result
    starts = _column_starts(first, last, grain)
    bounds = [clock.local_midnight_utc(c) for c in (first, *starts[1:])]
    bounds.append(clock.local_midnight_utc(last + timedelta(days=1)))
    cuts = [tally.Cut.of(b) for b in bounds]
    zone = clock.local_tz().key
    names = {m: n for n, m in tallies.MEASURES.items()}
    ranges = [(cuts[i].index, cuts[i + 1].index) for i in range(len(starts))]
    # (org or None, column) -> {figure: count}; org -> {figure: count} over the period
    cells: dict[tuple[int | None, int], dict[str, int]] = {}
    totals: dict[int, dict[str, int]] = {}

    def add(into: dict, key: Any, figure: str, n: int) -> None:
        counts = into.get(key)
        if counts is None:
            counts = into[key] = {}
        counts[figure] = counts.get(figure, 0) + n

    whole = [(cuts[0].index, cuts[-1].index)]
    # Without columns per organization: the columns over all of them, and the whole period
    # per organization (fewer sums to read and add than a column per organization).
    read = [(ranges, True)] if columns_by_org else [(ranges, False), (whole, True)]
    if not by_org:
        read = [(ranges, False)]
    for these, per_org in read:
        for measure, state, org_id, *values in tally.column_sums(
            list(names), WORKFLOW, ids, these, by_org=per_org
        ):
            if measure == tallies.DAYS and state != zone:
                if any(values):  # counted in another zone: read every opinion instead
                    found = figures_by_scan(ids, first, last, grain, columns_by_org=columns_by_org)
                    if not by_org:
                        found.by_org = {}
                    return found
                continue
            figure = names[measure]
            for column, n in enumerate(values):
                if not n:
                    continue
                if these is ranges:
                    add(cells, (org_id, column), figure, n)
                if per_org:
                    add(totals, org_id, figure, n)
    # The windows: [boundary, column start) belongs to the column before the boundary's month
    # (taken off it, added to the column), and the other way round; over the period only the
    # first and the last boundary's count (the others move opinions between its columns).
    windows = [(i, c) for i, c in enumerate(cuts) if c.sign]
    for (org_id, w), counts in _window_counts(ids, [c for _i, c in windows]).items():
        i, cut = windows[w]
        for column, sign in ((i - 1, cut.sign), (i, -cut.sign)):
            if 0 <= column < len(starts):
                key = (org_id if columns_by_org else None, column)
                for figure, n in counts.items():
                    if n:
                        add(cells, key, figure, sign * n)
                        add(totals, org_id, figure, sign * n)
    for (org_id, column), counts in cells.items():
        if any(counts.values()):
            label = name(index[org_id]) if org_id is not None else ""
            result.by_column[(org_id, starts[column])] = Figures(org_id, label, **counts)
    for org_id, counts in totals.items() if by_org else ():
        fig = result.by_org[org_id]
        for figure, n in counts.items():
            setattr(fig, figure, n)
    return result


def _org_namer() -> Any:
    """``_org_name`` with the reader's language looked up once."""
    locale = str(get_locale() or "zh") if has_request_context() else "zh"
    if locale == "en":
        return lambda org: getattr(org, "name_en", None) or org.name
    return lambda org: org.name


def _window_counts(ids: list[int], cuts: list[tally.Cut]) -> dict[tuple[int, int], dict]:
    """The figures of the opinions received in each cut's window, per (organization,
    window): their facts read from the generated columns by the index of received times (a
    few hours' worth; the organizations picked after), counted as the figures kept as data
    count each opinion (``tallies.counts``). Windows may overlap (two cuts next to one month
    boundary): each opinion counts in every window it is in. One statement."""
    if not cuts:
        return {}
    f = fastsql.flavour()
    p = f.placeholder
    ranges, params = [], []
    # A few organizations (a branch's dashboard) are read alone, as tally.windows does.
    among, among_params = fastsql.any_of("org_id", ids, f) if len(ids) <= tally.NARROW else ("", [])
    for c in cuts:
        narrow = f" AND {among}" if among else ""
        ranges.append(f"(workflow_id = {p}{narrow} AND created_at >= {p} AND created_at < {p})")
        params += [WORKFLOW, *among_params, f.dt(c.low), f.dt(c.high)]
    rows = fastsql.read(
        f"SELECT org_id, state, created_at, {', '.join(OPINION_FACTS)} FROM process_instance"
        f" WHERE {' OR '.join(ranges)}",
        params,
    )
    scope = set(ids)
    names = {m: n for n, m in tallies.MEASURES.items()}
    found: dict[tuple[int, int], dict] = {}
    for org_id, state, received, *facts in rows:
        if org_id not in scope:
            continue
        received = f.read_dt(received)
        facts = [None if v is None else str(v) for v in facts]  # SQLite may give a number
        counted = [(names[m], n) for m, _s, _at, n in tallies.counts(state, received, *facts)]
        for w, c in enumerate(cuts):
            if c.low <= received < c.high:
                into = found.setdefault((org_id, w), {"received": 0})
                into["received"] += 1
                for figure, n in counted:
                    into[figure] = into.get(figure, 0) + n
    return found


def figures_by_scan(
    org_ids: list[int],
    first: date,
    last: date,
    grain: str = "month",
    *,
    columns_by_org: bool = True,
) -> OpinionFigures:
    """``figures`` counted from every opinion of the period, from the generated columns and
    their index: one statement (the counts kept as data are not read)."""
    ids = sorted(set(org_ids))
    index = actors.org_index()
    result = OpinionFigures(
        {oid: Figures(oid, _org_name(index[oid])) for oid in ids if oid in index}, {}
    )
    if not ids:
        return result
    P = ProcessInstance
    start = clock.local_midnight_utc(first)
    end = clock.local_midnight_utc(last + timedelta(days=1))
    r = _facts(
        P.workflow_id == WORKFLOW, P.org_id.in_(ids), P.created_at >= start, P.created_at < end
    )
    # The columns (local months or quarters) the period touches, and the column of each
    # opinion by the UTC instants at which the local columns begin.
    starts = _column_starts(first, last, grain)
    bounds = [clock.local_midnight_utc(c) for c in starts[1:]]
    bucket = _column_of(r.c.created_at, bounds, 0, len(starts) - 1).label("bucket")
    rows = db.session.execute(
        select(r.c.org_id, bucket, *_figure_columns(r, start, end)).group_by(
            r.c.org_id, *([bucket] if len(starts) > 1 else [])
        )
    )
    for org_id, index_of_column, *counts in rows:
        fig = Figures(org_id, _org_name(index[org_id]))
        for name, value in zip(Figures.COUNTS, counts, strict=True):
            setattr(fig, name, int(value or 0))
        result.by_org[org_id].merge(fig)
        if columns_by_org:
            result.by_column[(org_id, starts[index_of_column])] = fig
        else:
            key = (None, starts[index_of_column])
            result.by_column.setdefault(key, Figures(None, "")).merge(fig)
    return result


def _column_of(received: Any, bounds: list[datetime], low: int, high: int) -> Any:
    """Which of the columns ``low``..``high`` an opinion received at ``received`` falls in,
    ``bounds[i - 1]`` being the first instant of column ``i``: a balanced CASE, so that each
    opinion is compared with the log2 of the number of columns, not with each of them."""
    if low == high:
        return literal(low)
    mid = (low + high + 1) // 2
    return case(
        (received < bounds[mid - 1], _column_of(received, bounds, low, mid - 1)),
        else_=_column_of(received, bounds, mid, high),
    )


def _book_row(case: Any, handler: str | None, org_name: str) -> BookRow:
    """An entry of the book from a case's row (id, definition, organization, time of
    receipt, title, state, data)."""
    d = registry().stored(case.definition_id)
    data = case.data or {}
    category = next(
        (
            c.label
            for f in d.start_fields
            if f.name == "category"
            for c in f.choices
            if c.value == data.get("category")
        ),
        data.get("category"),
    )
    return BookRow(
        case_id=case.id,
        org_id=case.org_id,
        org_name=org_name,
        received_on=clock.to_local(case.created_at).date(),
        category=category,
        subject=case.title,
        text=data.get("text", ""),
        anonymous=bool(data.get("anonymous")),
        contact=data.get("contact"),
        state=case.state,
        state_label=d.states[case.state].label,
        handler=handler,
        answer_due=data.get("answer_due"),
        answered_on=data.get("first_published_on"),
        on_time=data.get("on_time"),
        answer=data.get("published_answer"),
        rating=data.get("rating"),
        rating_comment=data.get("rating_comment"),
        reopened=int(data.get("reopen_count") or 0),
        set_aside_reason=data.get("set_aside_reason"),
        additions=list(data.get("additions") or []),
    )


def book_table(b: Book, locale: str):
    """The book's rows as an export table (CSV or Excel, ``pbflow.services.exports``): the
    same rows the page shows, typed, formula-looking text made inert."""
    from pbflow.services.exports import Column, Table

    def on_time(r: BookRow) -> str:
        return "" if r.on_time is None else (_("yes") if r.on_time else _("no"))

    rows = (
        [
            r.case_id,
            r.received_on,
            r.org_name,
            r.category.get(locale) if hasattr(r.category, "zh") else r.category,
            r.subject,
            r.text,
            _("anonymous") if r.anonymous else (r.contact or _("named")),
            r.state_label.get(locale),
            r.handler,
            r.answer_due,
            r.answered_on,
            on_time(r),
            r.answer or r.set_aside_reason,
            r.rating,
            r.rating_comment,
            r.reopened,
        ]
        for r in b.rows
    )
    return Table(
        f"opinions-{b.org.code}-{b.period.start}-{b.period.end}",
        [
            Column(_("No."), "int", 8),
            Column(_("Received"), "date", 12),
            Column(_("Organization"), width=18),
            Column(_("Category"), width=12),
            Column(_("Subject"), width=24),
            Column(_("Opinion"), width=40),
            Column(_("Submitter"), width=14),
            Column(_("Status"), width=14),
            Column(_("Handler"), width=12),
            Column(_("Answer due"), "date", 12),
            Column(_("Answered"), "date", 12),
            Column(_("On time"), width=8),
            Column(_("Answer"), width=40),
            Column(_("Rating"), "int", 8),
            Column(_("Rating comment"), width=24),
            Column(_("Reopened"), "int", 9),
        ],
        rows,
        sheet=_("Opinion book"),
    )
