"""Branch assessment (DOMAIN 5): the schemes, each branch's result in a round, rewards and
penalties, and the satisfaction surveys.

A round is a case of ``workflows/assessment_round.yaml`` at the party committee; its results
hang off that case. A scheme version, once saved, is never changed (a new version is saved
instead), so a round keeps the rules it started with.

The survey tables keep the opinion box's promise of anonymity: a one-time code is stored only
as its SHA-256, under no person, and is deleted when used; an answer names only the survey,
the branch and the hour it came in, never a code or a person.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from pbflow.clock import now
from pbflow.extensions import db

AWARD_KINDS = ("commendation", "criticism", "rectification", "secretary_appraisal")
_KINDS_SQL = ",".join(f"'{k}'" for k in AWARD_KINDS)


class AssessmentScheme(db.Model):
    """One version of a year's assessment scheme (``body``: groups, criteria, vetoes, pass
    mark, star levels, whether the committee votes; see procedures/assessment/scheme.py)."""

    __tablename__ = "assessment_scheme"
    __table_args__ = (
        UniqueConstraint("year", "version", name="uq_assessment_scheme_version"),
        CheckConstraint("version >= 1", name="assessment_scheme_version"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    year: Mapped[int]
    version: Mapped[int]
    name: Mapped[str] = mapped_column(String(200))
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=now)
    created_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )


class AssessmentResult(db.Model):
    """One branch's result in one round: the score of every criterion (computed ones with the
    figures behind them, manual ones with their justification), vetoes, total and stars."""

    __tablename__ = "assessment_result"
    __table_args__ = (UniqueConstraint("round_id", "org_id", name="uq_assessment_result"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(
        ForeignKey("process_instance.id", ondelete="CASCADE"), index=True
    )
    org_id: Mapped[int] = mapped_column(
        ForeignKey("organization.id", ondelete="CASCADE"), index=True
    )
    scores: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    vetoes: Mapped[list[Any]] = mapped_column(JSON, default=list)
    self_assessment: Mapped[str | None] = mapped_column(Text)
    evidence: Mapped[str | None] = mapped_column(Text)
    total: Mapped[float] = mapped_column(default=0.0)
    stars: Mapped[int] = mapped_column(default=0)
    passed: Mapped[bool] = mapped_column(default=False)


class AssessmentAward(db.Model):
    """A reward or penalty recorded against a branch, with the decision behind it; a required
    rectification names the rectification case it opened."""

    __tablename__ = "assessment_award"
    __table_args__ = (CheckConstraint(f"kind in ({_KINDS_SQL})", name="assessment_award_kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(
        ForeignKey("organization.id", ondelete="CASCADE"), index=True
    )
    round_id: Mapped[int | None] = mapped_column(
        ForeignKey("process_instance.id", ondelete="SET NULL"), index=True
    )
    kind: Mapped[str] = mapped_column(String(30))
    text: Mapped[str] = mapped_column(Text)
    decision: Mapped[str] = mapped_column(String(500))
    decided_on: Mapped[date]
    decided_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )
    rectification_case_id: Mapped[int | None] = mapped_column(
        ForeignKey("process_instance.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=now)


class SatisfactionSurvey(db.Model):
    """A satisfaction survey of branches run by a party committee for a period: the sample
    size per branch and the seed of the draw (the draw itself is in the audit trail)."""

    __tablename__ = "satisfaction_survey"
    __table_args__ = (
        CheckConstraint("sample_size >= 1", name="survey_sample_size"),
        CheckConstraint("min_count >= 1", name="survey_min_count"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(
        ForeignKey("organization.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str] = mapped_column(String(200))
    year: Mapped[int]
    quarter: Mapped[int | None]
    criteria: Mapped[list[Any]] = mapped_column(JSON)
    sample_size: Mapped[int]
    min_count: Mapped[int]
    seed: Mapped[str] = mapped_column(String(64))
    closes_on: Mapped[date]
    created_at: Mapped[datetime] = mapped_column(default=now)
    created_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )


class SurveyCode(db.Model):
    """An unused one-time code (its SHA-256 only) for one branch of a survey; deleted when
    used. Codes are made in random order and never name the person they are handed to."""

    __tablename__ = "survey_code"

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    survey_id: Mapped[int] = mapped_column(
        ForeignKey("satisfaction_survey.id", ondelete="CASCADE"), index=True
    )
    org_id: Mapped[int] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))


class SurveyAnswer(db.Model):
    """One anonymous answer: the branch it is about, a rating (1-5) per criterion, and the
    hour it came in (no finer)."""

    __tablename__ = "survey_answer"

    id: Mapped[int] = mapped_column(primary_key=True)
    survey_id: Mapped[int] = mapped_column(
        ForeignKey("satisfaction_survey.id", ondelete="CASCADE"), index=True
    )
    org_id: Mapped[int] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    ratings: Mapped[dict[str, Any]] = mapped_column(JSON)
    answered_hour: Mapped[datetime]
