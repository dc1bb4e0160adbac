"""Committee decisions: online ballots, or one resolution recorded from a meeting.

The thresholds follow DOMAIN.md 1.15: a quorum counts those present against those who should
attend, and the pass mark counts votes in favour (with absent members' written opinions)
against all who should attend, never against those present. As soon as the outcome is
certain the engine fires the state's ``passed`` or ``failed`` transition itself, as one more
audited event in the same transaction as the deciding ballot or resolution.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from pbflow import audit
from pbflow.engine import actors, locks
from pbflow.engine.context import CaseState
from pbflow.engine.definitions import Definition, VoteSpec, parse_role_electorate
from pbflow.engine.errors import GuardRefused, InvalidState, NotAllowed, ValidationFailed
from pbflow.engine.fields import parse_date
from pbflow.engine.tasks import RECORDER_ROLES  # who may record a resolution: one list
from pbflow.extensions import db
from pbflow.models import Ballot, Person, Resolution, User

CHOICES = ("for", "against", "abstain")


def _full_members(case: CaseState, on: date | None) -> list[Person]:
    """Full members of the case's organization with voting rights (not under 留党察看),
    those placed in its party groups included: a branch's general meeting is all of its
    members, whichever party group they belong to (DOMAIN 1.15)."""
    orgs = actors.org_index()
    node = orgs.get(case.org_id)
    org_ids = [case.org_id]
    if node is not None:
        org_ids += [
            n.id
            for n in orgs.values()
            if n.kind == "party_group" and n.id != node.id and n.path.startswith(node.path)
        ]
    stmt = select(Person).where(
        Person.org_id.in_(org_ids),
        Person.party_status == "full",
        Person.active,
        Person.on_party_probation.is_(False),
    )
    if on is not None:
        stmt = stmt.where((Person.full_member_on.is_(None)) | (Person.full_member_on <= on))
    return list(db.session.execute(stmt).scalars())


def vote_org_ids(vote: VoteSpec, case: CaseState) -> list[int]:
    """The organization whose body votes: the case's own, or the one the electorate names."""
    parsed = parse_role_electorate(vote.electorate)
    return actors.resolve_scope(case.org_id, parsed[1]) if parsed else [case.org_id]


def electorate_users(vote: VoteSpec, case: CaseState, on: date | None = None) -> list[int]:
    """Accounts entitled to cast an online ballot."""
    parsed = parse_role_electorate(vote.electorate)
    if parsed:
        return actors.users_with_role(parsed[0], actors.resolve_scope(case.org_id, parsed[1]))
    return sorted(p.user_id for p in _full_members(case, on) if p.user_id)


def should_attend(vote: VoteSpec, case: CaseState, on: date | None = None) -> int:
    """How many should attend (and are counted against) on the meeting date."""
    if parse_role_electorate(vote.electorate):
        return len(electorate_users(vote, case, on))
    return len(_full_members(case, on))


def more_than(mark: str, count: int, total: int) -> bool:
    """Whether ``count`` is more than half of ``total`` (``mark`` "half"), or at least two
    thirds of it ("two_thirds"): the quorums and pass marks of DOMAIN 1.15 and 3, counted
    against those who should attend."""
    if mark == "two_thirds":
        return 3 * count >= 2 * total and total > 0
    return 2 * count > total


def quorum_met(vote: VoteSpec, attended: int, total: int) -> bool:
    return vote.quorum == "none" or more_than(vote.quorum, attended, total)


def quorum_reason(vote: VoteSpec, attended: int, total: int) -> str:
    """Why a meeting without its quorum decides nothing, naming the share the vote needs."""
    if vote.quorum == "two_thirds":
        return _(
            "No quorum: %(present)s of %(total)s voting members present; at least two thirds "
            "must attend.",
            present=attended,
            total=total,
        )
    return _(
        "No quorum: %(present)s of %(total)s voting members present; more than half must attend.",
        present=attended,
        total=total,
    )


def ballot_outcome(vote: VoteSpec, total: int, votes_for: int, cast: int) -> str | None:
    """'passed' or 'failed' once certain whatever the remaining voters do; else None."""
    if more_than(vote.pass_mark, votes_for, total):
        return "passed"
    if not more_than(vote.pass_mark, votes_for + (total - cast), total):
        return "failed"
    return None


@dataclass
class VoteStatus:
    state: str
    mode: tuple[str, ...]
    electorate: list[int]
    voted: dict[int, str]
    resolution: Resolution | None

    @property
    def not_voted(self) -> list[int]:
        return [u for u in self.electorate if u not in self.voted]


def _vote_state(case: CaseState) -> tuple[Definition, VoteSpec]:
    from pbflow.engine.registry import registry

    d = registry().stored(case.definition_id)
    vote = d.states[case.state].vote
    if vote is None or case.closed_at is not None:
        raise InvalidState(_("No vote is open on this case now."))
    return d, vote


def status(case: CaseState) -> VoteStatus | None:
    from pbflow.engine.registry import registry

    d = registry().stored(case.definition_id)
    vote = d.states[case.state].vote
    if vote is None:
        return None
    rows = db.session.execute(
        select(Ballot.voter_user_id, Ballot.choice).where(
            Ballot.instance_id == case.id, Ballot.round == case.entered_version
        )
    )
    resolution = db.session.execute(
        select(Resolution).where(
            Resolution.instance_id == case.id, Resolution.round == case.entered_version
        )
    ).scalar()
    return VoteStatus(
        case.state,
        vote.mode,
        electorate_users(vote, case),
        {r.voter_user_id: r.choice for r in rows},
        resolution,
    )


def _lock_case(case_id: int) -> CaseState:
    """Read the case and hold it until commit, so that concurrent ballots (or a ballot and a
    resolution) are counted one after another and only one of them sees the deciding count
    (pbflow/engine/locks.py says how, on each database)."""
    return locks.hold_case(case_id)


def _decide(d: Definition, vote: VoteSpec, case: CaseState, outcome: str) -> None:
    from pbflow.engine.runtime import SYSTEM, fire_in_transaction

    trigger = vote.passed if outcome == "passed" else vote.failed
    fire_in_transaction(case.id, trigger, SYSTEM, case=case)


def cast_ballot(case_id: int, actor: User, choice: str) -> str | None:
    """Record one ballot; returns the outcome if this ballot decided the vote."""
    try:
        case = _lock_case(case_id)
        d, vote = _vote_state(case)
        if "ballot" not in vote.mode:
            raise InvalidState(_("This vote is taken at a meeting, not online."))
        if choice not in CHOICES:
            raise ValidationFailed(
                _("Choose for, against or abstain."),
                field_errors={"choice": _("is not one of the choices")},
            )
        electorate = electorate_users(vote, case)
        if actor.id not in electorate:
            raise NotAllowed(_("You are not entitled to vote on this."))
        db.session.add(
            Ballot(
                instance_id=case.id,
                state=case.state,
                round=case.entered_version,
                voter_user_id=actor.id,
                choice=choice,
            )
        )
        try:
            db.session.flush()
        except IntegrityError:
            # Roll back before building the message: the failed flush left the session
            # unusable, and translating reads the user's language (issue 10: this was a 500).
            db.session.rollback()
            raise InvalidState(_("You have already voted on this.")) from None
        audit.record(
            "ballot_cast",
            actor=actor,
            org_id=case.org_id,
            instance_id=case.id,
            from_state=case.state,
            to_state=case.state,
            payload={"choice": choice, "round": case.entered_version},
        )
        counts = dict(
            db.session.execute(
                select(Ballot.choice, func.count())
                .where(Ballot.instance_id == case.id, Ballot.round == case.entered_version)
                .group_by(Ballot.choice)
            ).all()
        )
        outcome = ballot_outcome(vote, len(electorate), counts.get("for", 0), sum(counts.values()))
        if outcome:
            _decide(d, vote, case, outcome)
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return outcome


def record_resolution(
    case_id: int,
    actor: User,
    *,
    meeting_date: Any,
    attended: int,
    votes_for: int,
    votes_against: int,
    votes_abstain: int,
    written_for: int = 0,
    written_against: int = 0,
    written_abstain: int = 0,
    minutes_attachment_id: int | None = None,
    expected_version: int | None = None,
) -> str:
    """Record the meeting's vote and move the case on; refuse a meeting without a quorum."""
    from pbflow.engine.runtime import ConcurrentChange

    try:
        case = _lock_case(case_id)
        if expected_version is not None and expected_version != case.version:
            raise ConcurrentChange(
                _("This case changed since you opened it; please reload it and try again.")
            )
        d, vote = _vote_state(case)
        if "meeting" not in vote.mode:
            raise InvalidState(_("This vote is taken online, not at a meeting."))
        body = vote_org_ids(vote, case)
        if not any(actors.has_role(actor.id, r, body) for r in RECORDER_ROLES):
            raise NotAllowed(
                _(
                    "Only the secretary, a deputy or the organizing member of the "
                    "voting body may record its resolution."
                )
            )
        try:
            day = parse_date(meeting_date)
        except (TypeError, ValueError):
            raise ValidationFailed(
                _("Some fields need correcting."),
                field_errors={"meeting_date": _("must be a date like 2026-03-01")},
            ) from None
        counts = {
            "attended": attended,
            "votes_for": votes_for,
            "votes_against": votes_against,
            "votes_abstain": votes_abstain,
            "written_for": written_for,
            "written_against": written_against,
            "written_abstain": written_abstain,
        }
        errors = {
            k: _("must be a whole number, 0 or more")
            for k, v in counts.items()
            if not isinstance(v, int) or isinstance(v, bool) or v < 0
        }
        from pbflow import clock

        if not errors and day > clock.today():
            errors["meeting_date"] = _("cannot be in the future")
        total = should_attend(vote, case, day)
        if not errors:
            if attended > total:
                errors["attended"] = _("cannot exceed the %(n)s who should attend", n=total)
            if votes_for + votes_against + votes_abstain > attended:
                errors["votes_for"] = _("more votes than members present")
            if written_for + written_against + written_abstain > total - attended:
                errors["written_for"] = _("more written opinions than absent members")
        if errors:
            raise ValidationFailed(_("Some fields need correcting."), field_errors=errors)
        if not quorum_met(vote, attended, total):
            raise GuardRefused(quorum_reason(vote, attended, total))
        outcome = (
            "passed" if more_than(vote.pass_mark, votes_for + written_for, total) else "failed"
        )
        db.session.add(
            Resolution(
                instance_id=case.id,
                state=case.state,
                round=case.entered_version,
                meeting_date=day,
                should_attend=total,
                outcome=outcome,
                recorded_by=actor.id,
                minutes_attachment_id=minutes_attachment_id,
                **counts,
            )
        )
        try:
            db.session.flush()
        except IntegrityError:
            db.session.rollback()  # see cast_ballot
            raise InvalidState(_("A resolution is already recorded for this vote.")) from None
        audit.record(
            "resolution_recorded",
            actor=actor,
            org_id=case.org_id,
            instance_id=case.id,
            from_state=case.state,
            to_state=case.state,
            payload={**counts, "meeting_date": day, "should_attend": total, "outcome": outcome},
        )
        case.data = dict(case.data or {})
        case.data.setdefault("_resolutions", {})[case.state] = day.isoformat()
        # Steps after a vote date things from the meeting (admission = resolution date).
        case.data["last_resolution_date"] = day.isoformat()
        _decide(d, vote, case, outcome)
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return outcome
