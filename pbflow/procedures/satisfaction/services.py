"""Satisfaction surveys (满意度测评) of branches: the draw, the one-time codes, the answers,
the rates.

The draw. The party committee runs a survey over chosen branches for a period. For each
branch pbflow draws ``sample_size`` people at random from its people records (members and
employees alike: every active person of the branch and its party groups), with a random
seed kept on the survey. The audit event ``survey_drawn`` records the seed, the sample size,
each branch's population (person ids, sorted) and the sample, so anyone can check the draw
again (``recheck``): the same seed over the same population gives the same sample.

Anonymity, as the opinion box promises it:
- each person drawn gets a one-time code (80 random bits) printed on a slip; the codes are
  made in random order, stored only as SHA-256 hashes under the branch, never under a
  person, and shown once, when the survey is made (never kept in clear, never audited);
- answering needs no account and no session: the code travels in the POST body only, and
  the page is left out of the access log (``/survey``); the code's row is deleted as the
  answer is stored, so nothing says which code an answer came with;
- an answer stores the branch, the ratings and the local hour it came in (no finer), and
  its audit event is dated to the hour and made by "anonymous";
- tries of codes are rate-limited per client address in windows with their own random
  keys that are deleted when the window ends (the opinion box's tables, bucket "survey");
- per branch, nothing is shown below the survey's minimum count of answers.
"""

from __future__ import annotations

import hashlib
import random
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import delete, select

from pbflow import audit, clock, validation
from pbflow.engine import actors
from pbflow.engine.errors import DomainError, InvalidState, NotAllowed, NotFound, ValidationFailed
from pbflow.extensions import db
from pbflow.models import (
    AuditEvent,
    Person,
    SatisfactionSurvey,
    SurveyAnswer,
    SurveyCode,
    User,
)
from pbflow.services import rate_limits
from pbflow.services.periods import Period

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 16
_CONFUSABLE = str.maketrans({"O": "0", "I": "1", "L": "1"})
_SEPARATORS = str.maketrans("", "", " -_.\t\r\n")
TRIES_PER_WINDOW = 30
RATINGS = (1, 2, 3, 4, 5)

DEFAULT_CRITERIA = [
    {
        "key": "organization",
        "label": {"zh": "支部组织生活", "en": "The branch's organizational life"},
    },
    {"key": "service", "label": {"zh": "联系服务群众", "en": "Serving the people"}},
    {"key": "conduct", "label": {"zh": "党员作风形象", "en": "Members' conduct"}},
]


class RateLimited(DomainError):
    status = 429


def _bad(field_name: str, message: str) -> ValidationFailed:
    return ValidationFailed(_("Some fields need correcting."), field_errors={field_name: message})


# --- codes -----------------------------------------------------------------------------------


def new_code() -> str:
    n = secrets.randbits(5 * CODE_LENGTH)
    symbols = "".join(ALPHABET[(n >> (5 * i)) & 31] for i in range(CODE_LENGTH))
    return "-".join(symbols[i : i + 4] for i in range(0, CODE_LENGTH, 4))


def normalize_code(raw: Any) -> str | None:
    text = str(raw or "")[:64].upper().translate(_SEPARATORS).translate(_CONFUSABLE)
    if len(text) != CODE_LENGTH or any(ch not in ALPHABET for ch in text):
        return None
    return text


def code_hash(normalized: str) -> str:
    return hashlib.sha256(f"pbflow-survey-code:{normalized}".encode()).hexdigest()


# --- the draw --------------------------------------------------------------------------------


def draw(seed: str, population: Iterable[int], size: int) -> list[int]:
    """The sample of ``size`` (or everybody when fewer) from ``population``, sorted: the same
    seed and population always give the same sample."""
    people = sorted(set(population))
    rng = random.Random(f"{seed}")
    return sorted(rng.sample(people, min(size, len(people))))


def population(branch_id: int) -> list[int]:
    """Every active person recorded at the branch or its party groups."""
    index = actors.org_index()
    ids = [branch_id] + [
        n.id for n in index.values() if n.kind == "party_group" and n.parent_id == branch_id
    ]
    return sorted(
        db.session.execute(
            select(Person.id).where(Person.org_id.in_(ids), Person.active.is_(True))
        ).scalars()
    )


@dataclass
class NewSurvey:
    survey: SatisfactionSurvey
    codes: dict[int, list[str]] = field(default_factory=dict)  # branch -> its codes, once


def create(
    actor: User,
    committee_id: int,
    *,
    title: Any,
    year: int,
    quarter: int,
    sample_size: int,
    min_count: int,
    closes_on: date,
    branch_ids: Iterable[int] | None = None,
    criteria: list[dict[str, Any]] | None = None,
) -> NewSurvey:
    """Make a survey, draw its sample and make one code per person drawn (one transaction;
    the draw is audited, the codes are returned once and kept only as hashes)."""
    index = actors.org_index()
    node = index.get(committee_id)
    if node is None or node.kind != "committee":
        raise NotFound(_("No such organization."))
    if not actors.has_role(actor.id, "committee", [committee_id]):
        raise NotAllowed(_("Only the party committee's members run satisfaction surveys."))
    name = str(title or "").strip()
    if not name or validation.text_problem(name, 200):
        raise _bad("title", _("is required (plain text, at most 200 characters)"))
    if not validation.MIN_YEAR <= year <= validation.MAX_YEAR:
        raise _bad("year", _("out of range"))
    if quarter not in (0, 1, 2, 3, 4):
        raise _bad("quarter", _("is not one of the choices"))
    if not 1 <= sample_size <= 500:
        raise _bad("sample_size", _("must be from 1 to 500"))
    if not 1 <= min_count <= 100:
        raise _bad("min_count", _("must be from 1 to 100"))
    if closes_on < clock.today():
        raise _bad("closes_on", _("must not lie in the past"))
    below = [
        n.id for n in index.values() if n.kind == "branch" and committee_id in n.ancestor_ids()
    ]
    chosen = sorted(set(branch_ids)) if branch_ids else sorted(below)
    if not chosen or any(b not in below for b in chosen):
        raise _bad("branches", _("Choose branches under this committee."))
    seed = secrets.token_hex(16)
    try:
        survey = SatisfactionSurvey(
            org_id=committee_id,
            title=name,
            year=year,
            quarter=quarter or None,
            criteria=list(criteria or DEFAULT_CRITERIA),
            sample_size=sample_size,
            min_count=min_count,
            seed=seed,
            closes_on=closes_on,
            created_by_user_id=actor.id,
        )
        db.session.add(survey)
        db.session.flush()
        made = NewSurvey(survey)
        drawn = {}
        rows = []
        for b in chosen:
            people = population(b)
            sample = draw(f"{seed}:{b}", people, sample_size)
            drawn[str(b)] = {"population": people, "sample": sample}
            codes = [new_code() for _p in sample]
            made.codes[b] = codes
            rows += [(code_hash(normalize_code(c)), b) for c in codes]
        random.SystemRandom().shuffle(rows)  # no order to tell whose code is whose
        db.session.add_all(SurveyCode(code_hash=h, survey_id=survey.id, org_id=b) for h, b in rows)
        audit.record(
            "survey_drawn",
            actor=actor,
            org_id=committee_id,
            payload={
                "survey": survey.id,
                "seed": seed,
                "sample_size": sample_size,
                "min_count": min_count,
                "branches": drawn,
            },
        )
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return made


def recheck(survey_id: int) -> bool:
    """Draw the survey's sample again from its audited seed and populations: the same?"""
    survey = db.session.get(SatisfactionSurvey, survey_id)
    if survey is None:
        raise NotFound(_("No such survey."))
    events = db.session.execute(
        select(AuditEvent.payload).where(AuditEvent.action == "survey_drawn")
    ).scalars()
    import json

    for raw in events:
        payload = json.loads(raw) if isinstance(raw, str) else raw
        if payload.get("survey") != survey_id:
            continue
        return payload["seed"] == survey.seed and all(
            draw(f"{survey.seed}:{b}", d["population"], payload["sample_size"]) == d["sample"]
            for b, d in payload["branches"].items()
        )
    return False


# --- answering -------------------------------------------------------------------------------


def forget_past_windows(now: datetime | None = None) -> int:
    """The rate-limit windows that are over, forgotten (``pbflow tick``; commits)."""
    return rate_limits.forget_past_windows(now)


def _take(client: str) -> None:
    """Count one try of a code from ``client`` in the current window (the shared rate-limit
    tables, bucket "survey", under a window key deleted when the window ends), or refuse it."""
    limit = int(current_app.config.get("PBFLOW_SURVEY_TRIES_LIMIT", TRIES_PER_WINDOW))
    again = rate_limits.take("survey", client, limit)
    if again is not None:
        raise RateLimited(
            _(
                "Too many codes were tried from your network. Please try again after %(time)s.",
                time=f"{again:%H:%M}",
            )
        )


@dataclass
class Slip:
    """What a code opens: the survey's questions about one branch (nothing about a person)."""

    survey: SatisfactionSurvey
    org_id: int


def _slip(raw_code: Any) -> tuple[SurveyCode, SatisfactionSurvey]:
    digest = code_hash(normalize_code(raw_code) or "")
    row = db.session.get(SurveyCode, digest)
    survey = db.session.get(SatisfactionSurvey, row.survey_id) if row is not None else None
    if row is None or survey is None:
        raise NotFound(_("This code is not valid, or it has been used already."))
    if survey.closes_on < clock.today():
        raise InvalidState(_("This survey is closed."))
    return row, survey


def open_slip(raw_code: Any, client: str) -> Slip:
    """The questions a code opens (the code is checked, not used)."""
    try:
        _take(client)
        row, survey = _slip(raw_code)
        db.session.commit()
    except DomainError:
        db.session.commit()  # the try is counted
        raise
    except BaseException:
        db.session.rollback()
        raise
    return Slip(survey, row.org_id)


def answer(raw_code: Any, ratings: Mapping[str, Any], client: str) -> None:
    """Store one anonymous answer and use up its code (one transaction)."""
    try:
        _take(client)
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    try:
        row, survey = _slip(raw_code)
        keys = [c["key"] for c in survey.criteria]
        clean: dict[str, int] = {}
        errors = {}
        for k in keys:
            value = validation.parse_int(ratings.get(k), low=1, high=5)
            if value is None:
                errors[f"rating_{k}"] = _("choose from 1 to 5")
            else:
                clean[k] = value
        if errors:
            raise ValidationFailed(_("Rate every question from 1 to 5."), field_errors=errors)
        hour = clock.coarse(clock.now(), "hour")
        # The code is used up by the statement that deletes it: of two answers sent with one
        # code at the same moment, only the one whose DELETE removed the row is stored.
        used = db.session.execute(
            delete(SurveyCode)
            .where(SurveyCode.code_hash == row.code_hash)
            .execution_options(synchronize_session=False)
        )
        if used.rowcount != 1:
            raise NotFound(_("This code is not valid, or it has been used already."))
        db.session.expunge(row)
        db.session.add(
            SurveyAnswer(survey_id=survey.id, org_id=row.org_id, ratings=clean, answered_hour=hour)
        )
        audit.record(
            "survey_answered",
            actor=audit.ANONYMOUS,
            org_id=row.org_id,
            payload={"survey": survey.id, "ratings": clean},
            at=hour,
        )
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise


# --- results ---------------------------------------------------------------------------------


@dataclass
class BranchRates:
    org_id: int
    answers: int
    shown: bool
    # criterion -> (satisfied, rated): rated 4 or 5 of all ratings
    per_criterion: dict[str, tuple[int, int]] = field(default_factory=dict)

    def rate(self, key: str) -> float | None:
        sat, n = self.per_criterion.get(key, (0, 0))
        return sat / n if self.shown and n else None

    @property
    def overall(self) -> tuple[int, int]:
        return (
            sum(s for s, _n in self.per_criterion.values()),
            sum(n for _s, n in self.per_criterion.values()),
        )


def _rates(
    survey: SatisfactionSurvey, branch_ids: Iterable[int] | None = None
) -> dict[int, BranchRates]:
    stmt = select(SurveyAnswer.org_id, SurveyAnswer.ratings).where(
        SurveyAnswer.survey_id == survey.id
    )
    out: dict[int, BranchRates] = {}
    for b in branch_ids or ():
        out[b] = BranchRates(b, 0, False)
    for org_id, ratings in db.session.execute(stmt):
        if branch_ids is not None and org_id not in out:
            continue
        br = out.setdefault(org_id, BranchRates(org_id, 0, False))
        br.answers += 1
        for k, v in (ratings or {}).items():
            sat, n = br.per_criterion.get(k, (0, 0))
            br.per_criterion[k] = (sat + (1 if int(v) >= 4 else 0), n + 1)
    for br in out.values():
        br.shown = br.answers >= survey.min_count
        if not br.shown:
            br.per_criterion = {}
    return out


@dataclass
class SurveyView:
    survey: SatisfactionSurvey
    branches: list[BranchRates]
    codes_left: dict[int, int]


def get(viewer: User, survey_id: int) -> SurveyView:
    survey = db.session.get(SatisfactionSurvey, survey_id)
    if survey is None or not actors.can_read_org(viewer, survey.org_id):
        raise NotFound(_("No such survey."))
    drawn = sorted(
        {
            b
            for (b,) in db.session.execute(
                select(SurveyCode.org_id).where(SurveyCode.survey_id == survey.id)
            )
        }
        | {
            b
            for (b,) in db.session.execute(
                select(SurveyAnswer.org_id).where(SurveyAnswer.survey_id == survey.id)
            )
        }
    )
    left: dict[int, int] = {}
    for (b,) in db.session.execute(
        select(SurveyCode.org_id).where(SurveyCode.survey_id == survey.id)
    ):
        left[b] = left.get(b, 0) + 1
    rates = _rates(survey, drawn)
    return SurveyView(survey, [rates[b] for b in drawn], left)


def committees_of(viewer: User) -> list[int]:
    """The party committees where the viewer may run surveys (a committee member)."""
    index = actors.org_index()
    return sorted(
        oid
        for oid, role in actors.roles_of(viewer.id)
        if role == "committee" and oid in index and index[oid].kind == "committee"
    )


def surveys_of(viewer: User) -> list[SatisfactionSurvey]:
    readable = actors.readable_org_ids(viewer)
    return [
        s
        for s in db.session.execute(
            select(SatisfactionSurvey).order_by(SatisfactionSurvey.id.desc())
        ).scalars()
        if s.org_id in readable
    ]


def survey_satisfaction(
    committee_id: int, branch_ids: list[int], period: Period
) -> dict[int, tuple[int, int, int, dict[str, tuple[int, int]]]]:
    """The figure the assessment reads: for each branch with enough answers in the latest
    survey of the period by the committee, (rated 4-5, all ratings, survey id, and per
    question (rated 4-5, ratings)). No rights are checked: the caller has."""
    quarter = (period.start.month - 1) // 3 + 1 if period.kind == "quarter" else None
    survey = db.session.execute(
        select(SatisfactionSurvey)
        .where(
            SatisfactionSurvey.org_id == committee_id,
            SatisfactionSurvey.year == period.start.year,
            SatisfactionSurvey.quarter.is_(None)
            if quarter is None
            else SatisfactionSurvey.quarter == quarter,
        )
        .order_by(SatisfactionSurvey.id.desc())
        .limit(1)
    ).scalar()
    if survey is None:
        return {}
    out = {}
    for b, br in _rates(survey, branch_ids).items():
        if br.shown:
            sat, n = br.overall
            out[b] = (sat, n, survey.id, dict(br.per_criterion))
    return out
