"""Votes on resolutions taken at a branch general meeting or a branch committee meeting
(DOMAIN.md 3: "resolutions with vote counts"; the general meeting decides "by more than half
of the voting members who should attend").

The recorder types, per resolution put to the vote, its wording and how many voted for,
against and abstained; pbflow says whether it passed. Who decides whether a resolution
passed is the rule, not the recorder: more than half of those entitled to vote who should
have attended voted for it (the full members not under party probation for a general
meeting, the committee for a committee meeting), not more than half of those present or of
the votes cast. The number of those entitled and the outcome are kept with the counts when
the meeting is recorded or corrected, so that a later change of membership (a probationary
member converted, someone moved) does not change what the record says was decided, and the
audit event carries the outcome as it was recorded.

Admissions and conversions are voted inside their cases (``pbflow.engine.votes``), with the
written opinions of members who could not attend; these are the meeting's other resolutions
(elections, commendations, discipline, the branch's own business).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from flask_babel import gettext as _
from flask_babel import ngettext

from pbflow.engine import actors, votes
from pbflow.engine.definitions import aside, labelled

VOTING_TYPES = ("general_meeting", "committee_meeting")
MAX_RESOLUTIONS = 30
MAX_TEXT = 500
MAX_COUNT = 9999


@dataclass
class VoteInput:
    """One resolution's row as typed (strings as received)."""

    text: str = ""
    votes_for: str = ""
    against: str = ""
    abstained: str = ""

    def blank(self) -> bool:
        return not any(
            (v or "").strip() for v in (self.text, self.votes_for, self.against, self.abstained)
        )


def voting_members(meeting_type: str, expected: Iterable[Any]) -> list[Any]:
    """Those of the people who should attend who vote there, and count for its quorum: the
    full members not under party probation at a general meeting (``actors.has_voting_rights``),
    the whole committee at a committee meeting; nobody at a meeting that takes no votes."""
    if meeting_type == "general_meeting":
        return [p for p in expected if actors.has_voting_rights(p)]
    if meeting_type == "committee_meeting":
        return list(expected)
    return []


def passes(votes_for: int, voters: int) -> bool:
    """More than half of those entitled to vote who should attend voted for it."""
    return votes.more_than("half", votes_for, voters)


def _count(raw: str) -> int | None:
    raw = (raw or "").strip()
    if not raw.isdigit() or not raw.isascii():
        return None
    value = int(raw)
    return value if value <= MAX_COUNT else None


def parse(
    meeting_type: str, rows: Sequence[VoteInput], voters: int
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The votes as stored (wording, counts, those entitled, outcome), and the problems by
    field: ``votes`` for the whole list, ``vote_<n>`` for the n-th row typed (blank rows are
    left out, and not counted: the form is shown again with the typed rows first)."""
    typed = list(enumerate((r for r in rows if not r.blank()), start=1))
    errors: dict[str, str] = {}
    if not typed:
        return [], errors
    if meeting_type not in VOTING_TYPES:
        errors["votes"] = _(
            "only a branch general meeting or a branch committee meeting votes on resolutions"
        )
        return [], errors
    if len(typed) > MAX_RESOLUTIONS:
        errors["votes"] = _("at most %(n)s resolutions", n=MAX_RESOLUTIONS)
        return [], errors
    found = []
    for i, row in typed:
        text = (row.text or "").strip()
        counts = [
            c
            for c in (_count(v) for v in (row.votes_for, row.against, row.abstained))
            if c is not None
        ]
        if not text:
            errors[f"vote_{i}"] = _("the resolution's wording is required")
        elif len(text) > MAX_TEXT:
            errors[f"vote_{i}"] = _("must be at most %(n)s characters", n=MAX_TEXT)
        elif len(counts) < 3:
            errors[f"vote_{i}"] = _(
                "votes for, against and abstaining must each be a whole number from 0 to %(n)s",
                n=MAX_COUNT,
            )
        elif sum(counts) > voters:
            errors[f"vote_{i}"] = ngettext(
                "%(cast)s votes, but only %(num)s member may vote",
                "%(cast)s votes, but only %(num)s members may vote",
                voters,
                cast=sum(counts),
            )
        else:
            votes_for, against, abstained = counts
            found.append(
                {
                    "text": text,
                    "for": votes_for,
                    "against": against,
                    "abstained": abstained,
                    "voters": voters,
                    "passed": passes(votes_for, voters),
                }
            )
    return (found if not errors else []), errors


def rows_of(votes: Iterable[dict[str, Any]] | None) -> list[VoteInput]:
    """Stored votes as form rows (a correction starts from them)."""
    return [
        VoteInput(v["text"], str(v["for"]), str(v["against"]), str(v["abstained"]))
        for v in votes or ()
    ]


def outcome(vote: dict[str, Any]) -> str:
    """What the record says was decided, in the reader's language."""
    if vote["passed"]:
        return _(
            "Passed: %(n)s of the %(voters)s who may vote were for it",
            n=vote["for"],
            voters=vote["voters"],
        )
    return _(
        "Not passed: %(n)s of the %(voters)s who may vote were for it; more than half must be",
        n=vote["for"],
        voters=vote["voters"],
    )


def counts_text(vote: dict[str, Any]) -> str:
    return _(
        "%(for)s for, %(against)s against, %(abstained)s abstaining",
        **{"for": vote["for"], "against": vote["against"], "abstained": vote["abstained"]},
    )


def line(vote: dict[str, Any], locale: str | None) -> str:
    """One resolution on one line (a correction's before and after), in ``locale``'s
    punctuation."""
    outcome = _("passed") if vote["passed"] else _("not passed")
    return labelled(vote["text"], aside(counts_text(vote), outcome, locale), locale)
