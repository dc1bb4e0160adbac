"""The opinion box (DOMAIN.md section 4) walked through the service and the engine: the
submitter with a tracking code, the organization through workflow transitions."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from pbflow import audit
from pbflow.engine import actors, runtime, timers
from pbflow.engine.actors import CodeHolder
from pbflow.engine.errors import GuardRefused, InvalidState, NotAllowed, NotFound, ValidationFailed
from pbflow.extensions import db
from pbflow.models import AuditEvent, Notification, ProcessInstance
from pbflow.procedures.opinion_box import services as opinions
from tests.conftest import audit_actions, make_user

OPINION = {
    "subject": "井下休息室通风差",
    "text": "三号井下休息室通风不好，夏天闷热，希望支部反映解决。",
    "category": "welfare",
    "anonymous": "1",
}


def submit(org_code="b1", *, user=None, client="198.51.100.7", **changes):
    return opinions.submit(org_code, {**OPINION, **changes}, user=user, client=client)


def case_of(code: str) -> ProcessInstance:
    case = db.session.get(ProcessInstance, opinions._case_for_code(code))
    db.session.refresh(case)
    return case


def handle_to_published(world, case_id: int, handler: str = "branch_member") -> None:
    """The organization's side, from receipt to the published answer."""
    runtime.fire(case_id, "accept", world["secretary"])
    runtime.fire(case_id, "assign", world["secretary"], {"handler": world[handler].id})
    runtime.fire(case_id, "answer", world[handler], {"answer": "已协调机电队加装风机。"})
    runtime.fire(case_id, "approve_answer", world["secretary"])
    runtime.fire(case_id, "publish", world["secretary"])


def test_anonymous_opinion_walks_from_box_to_rating(world, clock):
    slip = submit()
    assert slip.anonymous and slip.org_name == world.branch.name
    assert str(slip.answer_due) == "2026-03-23"  # 15 working days from Monday 2026-03-02
    case = case_of(slip.code)
    assert case.state == "received" and case.submitter_user_id is None
    assert "contact" not in case.data or not case.data["contact"]

    seen = opinions.follow(slip.code, user=None, client="198.51.100.7")
    assert seen.state == "received" and seen.published_answer is None
    assert [a.trigger for a in seen.actions] == ["add_information"]

    seen = opinions.act(
        slip.code,
        "add_information",
        {"more_info": "下午两点后最闷。"},
        expected_version=seen.version,
        user=None,
        client="198.51.100.7",
    )
    assert [a["text"] for a in seen.additions] == ["下午两点后最闷。"]
    assert seen.state == "received"

    handle_to_published(world, case.id)
    seen = opinions.follow(slip.code, user=None, client="198.51.100.7")
    assert seen.state == "published"
    assert seen.published_answer == "已协调机电队加装风机。"
    assert {a.trigger for a in seen.actions} == {"accept_answer", "reject_answer"}

    seen = opinions.act(
        slip.code,
        "accept_answer",
        {"rating": "5", "rating_comment": "解决得很快"},
        expected_version=seen.version,
        user=None,
        client="198.51.100.7",
    )
    assert seen.state == "closed" and seen.closed and seen.rating == 5

    events = db.session.execute(
        select(AuditEvent.action, AuditEvent.actor_label, AuditEvent.actor_user_id)
        .where(AuditEvent.instance_id == case.id)
        .order_by(AuditEvent.seq)
    ).all()
    submitter_events = [e for e in events if e.actor_label == "anonymous"]
    # started, code issued, information added, answer accepted: all anonymous, no user id
    assert [e.action for e in submitter_events] == [
        "case_started",
        "tracking_code_issued",
        "transition",
        "transition",
    ]
    assert all(e.actor_user_id is None for e in submitter_events)
    assert audit.verify_database().ok


def test_second_rating_and_rating_out_of_range_are_refused(world):
    slip = submit()
    case = case_of(slip.code)
    handle_to_published(world, case.id)
    for bad in ("0", "6", "five"):
        with pytest.raises(ValidationFailed) as exc:
            opinions.act(
                slip.code,
                "accept_answer",
                {"rating": bad},
                expected_version=None,
                user=None,
                client="c",
            )
        assert "rating" in exc.value.field_errors
    opinions.act(
        slip.code, "accept_answer", {"rating": "4"}, expected_version=None, user=None, client="c"
    )
    before = audit.head()
    with pytest.raises(InvalidState, match="closed"):
        opinions.act(
            slip.code,
            "accept_answer",
            {"rating": "1"},
            expected_version=None,
            user=None,
            client="c",
        )
    assert audit.head() == before
    assert case_of(slip.code).data["rating"] == 4


def test_named_opinion_of_a_logged_in_user_is_theirs(world):
    member = world["member"]
    slip = submit(user=member, anonymous="", contact="")
    case = case_of(slip.code)
    assert not slip.anonymous and case.submitter_user_id == member.id
    started = (
        db.session.execute(
            select(AuditEvent).where(AuditEvent.instance_id == case.id).order_by(AuditEvent.seq)
        )
        .scalars()
        .first()
    )
    assert started.actor_user_id == member.id
    handle_to_published(world, case.id)
    # The named submitter is told, and may act from the generic case page as the submitter.
    notes = (
        db.session.execute(select(Notification.kind).where(Notification.user_id == member.id))
        .scalars()
        .all()
    )
    assert "result" in notes
    triggers = {a.trigger for a in runtime.available_actions(case.id, member)}
    assert triggers == {"accept_answer", "reject_answer"}
    # With the code, logged in, they act as themselves.
    opinions.act(
        slip.code,
        "accept_answer",
        {"rating": "3"},
        expected_version=None,
        user=member,
        client="c",
    )
    last = (
        db.session.execute(
            select(AuditEvent)
            .where(AuditEvent.instance_id == case.id)
            .order_by(AuditEvent.seq.desc())
        )
        .scalars()
        .first()
    )
    assert last.actor_user_id == member.id


def test_named_opinion_without_login_needs_a_contact(world):
    with pytest.raises(GuardRefused, match="how to reach you"):
        submit(anonymous="", contact="")
    slip = submit(anonymous="", contact="张三 13800000000")
    case = case_of(slip.code)
    assert case.submitter_user_id is None and case.data["contact"] == "张三 13800000000"


def test_anonymous_with_a_contact_is_refused_so_nobody_is_unmasked_by_mistake(world):
    with pytest.raises(GuardRefused, match="stay anonymous"):
        submit(contact="李四")
    assert db.session.execute(select(ProcessInstance)).first() is None


def test_engine_refuses_an_anonymous_opinion_started_by_a_user(world):
    with pytest.raises(GuardRefused, match="must not be linked"):
        runtime.start("opinion", world.branch, world["member"], {**OPINION})


def test_code_holder_matches_only_its_own_case_and_no_logged_in_user(world):
    first = case_of(submit().code)
    second = case_of(submit().code)
    handle_to_published(world, first.id)
    handle_to_published(world, second.id)
    # A holder of the first case's code cannot act on the second case.
    with pytest.raises(NotAllowed):
        runtime.fire(second.id, "accept_answer", CodeHolder(first.id), {"rating": 5})
    # A logged-in user, even the secretary, is not a code holder of an anonymous opinion.
    with pytest.raises(NotAllowed):
        runtime.fire(second.id, "accept_answer", world["secretary"], {"rating": 5})
    assert {a.trigger for a in runtime.available_actions(second.id, world["secretary"])} == set()
    # The code holder cannot take the organization's steps.
    third = case_of(submit().code)
    with pytest.raises(NotAllowed):
        runtime.fire(third.id, "accept", CodeHolder(third.id))
    assert not actors.may_act(
        runtime.registry().get("opinion").transition("published", "accept_answer").by,
        "anonymous",
        runtime.load_case(first.id),
    )


def test_set_aside_with_a_reason_the_submitter_sees(world):
    slip = submit()
    case = case_of(slip.code)
    with pytest.raises(ValidationFailed):
        runtime.fire(case.id, "set_aside", world["secretary"], {})
    reason = "属个人劳动争议，请向工会反映。"
    runtime.fire(case.id, "set_aside", world["secretary"], {"set_aside_reason": reason})
    seen = opinions.follow(slip.code, user=None, client="c")
    assert seen.state == "set_aside" and seen.closed
    assert seen.set_aside_reason == reason
    assert seen.actions == []


def test_transfer_to_another_branch_moves_the_case_and_is_audited(world, clock):
    slip = submit()
    case = case_of(slip.code)
    clock.advance(days=1)
    runtime.fire(
        case.id, "transfer", world["secretary"], {"transfer_to": "b2"}, comment="机电设备问题"
    )
    case = case_of(slip.code)
    assert case.org_id == world.other_branch.id and case.state == "received"
    assert case.data["clock_from"] == "2026-03-03" and case.data["answer_due"] == "2026-03-24"
    assert case.data["transfers"][0]["to"] == world.other_branch.name
    moved = db.session.execute(
        select(AuditEvent).where(AuditEvent.action == "case_transferred")
    ).scalar_one()
    assert moved.org_id == world.branch.id and moved.instance_id == case.id
    assert moved.actor_user_id == world["secretary"].id
    # The old branch no longer acts on it; the new one does.
    with pytest.raises(NotAllowed):
        runtime.fire(case.id, "accept", world["secretary"])
    runtime.fire(case.id, "accept", world["other_secretary"])
    seen = opinions.follow(slip.code, user=None, client="c")
    assert seen.org_name == world.other_branch.name


def test_transfer_to_the_superior_and_bad_targets(world):
    case = case_of(submit().code)
    for target, reason in [
        ("nowhere", "no active organization"),
        ("b1", "already at this organization"),
    ]:
        with pytest.raises(GuardRefused, match=reason):
            runtime.fire(
                case.id, "transfer", world["secretary"], {"transfer_to": target}, comment="x"
            )
    with pytest.raises(ValidationFailed):  # a reason is required
        runtime.fire(case.id, "transfer", world["secretary"], {"transfer_to": "gb1"})
    up = {"transfer_to": "gb1"}
    runtime.fire(case.id, "transfer", world["secretary"], up, comment="超出支部权限")
    assert runtime.load_case(case.id).org_id == world.general_branch.id
    runtime.fire(case.id, "accept", world["gb_secretary"])


def test_transfer_to_another_party_committee_is_refused(world):
    from pbflow.services import accounts

    accounts.create_org("elsewhere", "另一党委", "committee")
    case = case_of(submit().code)
    with pytest.raises(GuardRefused, match="another party committee"):
        runtime.fire(
            case.id, "transfer", world["secretary"], {"transfer_to": "elsewhere"}, comment="x"
        )


def test_sent_back_and_the_handler_may_not_review_their_own_answer(world):
    case = case_of(submit().code)
    runtime.fire(case.id, "accept", world["secretary"])
    # The secretary handles it personally ...
    runtime.fire(case.id, "assign", world["secretary"], {"handler": world["secretary"].id})
    runtime.fire(case.id, "answer", world["secretary"], {"answer": "草稿"})
    # ... so cannot approve or send back their own answer; the deputy reviews it.
    with pytest.raises(GuardRefused, match="someone else"):
        runtime.fire(case.id, "approve_answer", world["secretary"])
    with pytest.raises(ValidationFailed):  # sending back needs a reason
        runtime.fire(case.id, "send_back", world["deputy"])
    runtime.fire(case.id, "send_back", world["deputy"], comment="请写明整改时间")
    assert runtime.load_case(case.id).state == "assigned"
    runtime.fire(case.id, "answer", world["secretary"], {"answer": "三月底前加装风机"})
    runtime.fire(case.id, "approve_answer", world["deputy"])
    runtime.fire(case.id, "publish", world["deputy"])
    assert runtime.load_case(case.id).data["published_answer"] == "三月底前加装风机"


def test_only_the_assignee_answers_and_handlers_come_from_the_organization(world):
    case = case_of(submit().code)
    runtime.fire(case.id, "accept", world["secretary"])
    with pytest.raises(GuardRefused, match="belong to this organization"):
        runtime.fire(
            case.id, "assign", world["secretary"], {"handler": world["other_secretary"].id}
        )
    runtime.fire(case.id, "assign", world["secretary"], {"handler": world["branch_member"].id})
    with pytest.raises(NotAllowed):
        runtime.fire(case.id, "answer", world["member"], {"answer": "x"})


def test_draft_answers_are_never_shown_to_the_submitter(world):
    slip = submit()
    case = case_of(slip.code)
    runtime.fire(case.id, "accept", world["secretary"])
    runtime.fire(case.id, "assign", world["secretary"], {"handler": world["branch_member"].id})
    runtime.fire(case.id, "answer", world["branch_member"], {"answer": "内部草稿"})
    seen = opinions.follow(slip.code, user=None, client="c")
    assert seen.state == "in_review" and seen.published_answer is None


def test_reopened_up_to_the_limit_then_refused(world, clock):
    slip = submit()
    case = case_of(slip.code)
    handle_to_published(world, case.id)
    for round_ in (1, 2):
        seen = opinions.act(
            slip.code,
            "reject_answer",
            {"reject_reason": f"第{round_}次：风机还没装"},
            expected_version=None,
            user=None,
            client="c",
        )
        assert seen.state == "assigned"
        runtime.fire(case.id, "answer", world["branch_member"], {"answer": f"答复{round_}"})
        runtime.fire(case.id, "approve_answer", world["secretary"])
        runtime.fire(case.id, "publish", world["secretary"])
    seen = opinions.follow(slip.code, user=None, client="c")
    reject = next(a for a in seen.actions if a.trigger == "reject_answer")
    assert not reject.enabled and "2 time(s)" in reject.reason
    before = audit.head()
    with pytest.raises(GuardRefused, match="most allowed"):
        opinions.act(
            slip.code,
            "reject_answer",
            {"reject_reason": "第三次"},
            expected_version=None,
            user=None,
            client="c",
        )
    assert audit.head() == before
    data = runtime.load_case(case.id).data
    assert data["reopen_count"] == 2 and len(data["rejections"]) == 2
    assert data["first_published_on"] == "2026-03-02" and data["on_time"] is True


def test_reopen_limit_is_a_setting(world):
    world.committee.settings = {"opinion": {"max_reopens": 0}}
    db.session.commit()
    slip = submit()
    handle_to_published(world, case_of(slip.code).id)
    with pytest.raises(GuardRefused, match="most allowed"):
        opinions.act(
            slip.code,
            "reject_answer",
            {"reject_reason": "x"},
            expected_version=None,
            user=None,
            client="c",
        )


def test_closed_without_a_rating_by_tick_after_the_set_days(world, clock):
    slip = submit()
    case = case_of(slip.code)
    handle_to_published(world, case.id)
    clock.advance(days=14)
    assert timers.tick().fired == []
    clock.advance(days=2)
    report = timers.tick()
    assert report.fired == [(case.id, "auto_close")]
    case = case_of(slip.code)
    assert case.state == "closed_unrated" and case.closed_at is not None
    assert audit_actions(case.id)[-2:] == ["overdue", "transition"]
    assert timers.tick().fired == []  # safe to run twice
    seen = opinions.follow(slip.code, user=None, client="c")
    assert seen.closed and seen.rating is None and seen.actions == []


def test_overdue_acknowledgement_is_reminded_then_escalated_to_the_superior(world, clock):
    case = case_of(submit().code)
    # Due at the end of Thursday 2026-03-05 (3 working days); reminded within a day of it.
    clock.set("2026-03-05T01:00:00")
    report = timers.tick()
    assert report.reminded == [case.id]
    reminded = set(
        db.session.execute(
            select(Notification.user_id).where(Notification.kind == "reminder")
        ).scalars()
    )
    assert reminded == {world["secretary"].id, world["deputy"].id}
    clock.set("2026-03-06T02:00:00")
    report = timers.tick()
    assert report.escalated == [case.id]
    escalated = set(
        db.session.execute(
            select(Notification.user_id).where(Notification.kind == "escalation")
        ).scalars()
    )
    assert escalated == {world["gb_secretary"].id}  # the general branch above the branch
    assert audit_actions(case.id)[-2:] == ["reminder_sent", "overdue"]
    assert timers.tick().escalated == []


def test_overdue_answer_is_escalated(world, clock):
    case = case_of(submit().code)
    runtime.fire(case.id, "accept", world["secretary"])
    runtime.fire(case.id, "assign", world["secretary"], {"handler": world["branch_member"].id})
    clock.set("2026-03-24T02:00:00")  # answer was due by the end of 2026-03-23
    assert timers.tick().escalated == [case.id]
    runtime.fire(case.id, "answer", world["branch_member"], {"answer": "迟到的答复"})
    runtime.fire(case.id, "approve_answer", world["secretary"])
    runtime.fire(case.id, "publish", world["secretary"])
    assert runtime.load_case(case.id).data["on_time"] is False


def test_unknown_wrong_and_malformed_codes_get_the_same_answer(world):
    slip = submit()
    real = slip.code
    near = real[:-1] + ("0" if real[-1] != "0" else "1")
    messages = set()
    for code in (opinions.new_code(), near, "not a code", "", None):
        with pytest.raises(NotFound) as exc:
            opinions.follow(code, user=None, client="203.0.113.9")
        messages.add(exc.value.message)
    assert len(messages) == 1


def test_codes_forgive_case_spaces_and_confusable_letters(world):
    code = submit().code
    assert len(code) == 19 and code.count("-") == 3
    sloppy = code.lower().replace("-", " ").replace("0", "o").replace("1", "l")
    assert opinions.follow(sloppy, user=None, client="c").state == "received"
    # Only a hash of the code is stored.
    from pbflow.models import OpinionCode

    stored = db.session.execute(select(OpinionCode.code_hash)).scalar_one()
    assert code.replace("-", "") not in stored and len(stored) == 64


def test_codes_carry_80_random_bits():
    codes = {opinions.new_code() for _ in range(2000)}
    assert len(codes) == 2000
    symbols = {ch for code in codes for ch in code.replace("-", "")}
    assert symbols == set(opinions.ALPHABET)  # all 32 symbols used: 5 bits each, 16 symbols


def test_rate_limit_per_client_counts_in_the_database(world, app):
    app.config["PBFLOW_OPINION_SUBMIT_LIMIT"] = 2
    submit(client="192.0.2.1")
    submit(client="192.0.2.1")
    with pytest.raises(opinions.RateLimited, match="try again after"):
        submit(client="192.0.2.1")
    submit(client="192.0.2.2")  # another client is not held back
    from pbflow.models import RateCounter

    keys = db.session.execute(select(RateCounter.key_hash, RateCounter.count)).all()
    assert sorted(count for _key, count in keys) == [1, 2]
    assert all("192.0.2" not in key for key, _count in keys)


def test_rate_limit_window_passes(world, app, clock):
    app.config["PBFLOW_OPINION_SUBMIT_LIMIT"] = 1
    submit(client="192.0.2.1")
    with pytest.raises(opinions.RateLimited):
        submit(client="192.0.2.1")
    clock.advance(hours=1)
    submit(client="192.0.2.1")


def test_honeypot_is_refused_and_counted(world, app):
    app.config["PBFLOW_OPINION_SUBMIT_LIMIT"] = 1
    with pytest.raises(opinions.Refused, match="Leave this empty"):
        submit(website="http://spam.example")
    assert db.session.execute(select(ProcessInstance)).first() is None
    with pytest.raises(opinions.RateLimited):
        submit()


def test_oversize_text_is_refused(world):
    with pytest.raises(ValidationFailed) as exc:
        submit(text="意" * 5001, subject="标" * 121)
    assert set(exc.value.field_errors) == {"text", "subject"}


def test_opinion_box_only_for_active_organizations_that_keep_one(world):
    with pytest.raises(NotFound):
        submit("nowhere")
    world.branch.active = False
    db.session.commit()
    with pytest.raises(NotFound):
        submit("b1")
    assert world.branch.id not in {o.id for o in opinions.public_orgs()}


def test_other_branch_cannot_act_on_or_read_the_opinion(world):
    case = case_of(submit().code)
    with pytest.raises(NotAllowed):
        runtime.fire(case.id, "accept", world["other_secretary"])
    assert not actors.can_read_org(world["other_secretary"], case.org_id)
    outsider = make_user("outsider")
    with pytest.raises(NotAllowed):
        runtime.fire(case.id, "accept", outsider)


def test_rating_and_reopening_only_within_the_time_for_a_rating(world, clock):
    # Published on Monday 2026-03-02; the rating time (15 days) ends with 2026-03-17.
    slips = [submit(client=f"c{i}") for i in range(3)]
    for slip in slips:
        handle_to_published(world, case_of(slip.code).id)
    clock.set("2026-03-17T15:00:00")  # 23:00 local on the last day: still possible
    seen = opinions.act(
        slips[0].code,
        "accept_answer",
        {"rating": "4"},
        expected_version=None,
        user=None,
        client="c",
    )
    assert seen.state == "closed" and seen.rating == 4
    seen = opinions.act(
        slips[1].code,
        "reject_answer",
        {"reject_reason": "风机没装"},
        expected_version=None,
        user=None,
        client="c",
    )
    assert seen.state == "assigned"
    clock.set("2026-03-18T01:00:00")  # the next day, before any tick closed the case
    before = audit.head()
    for trigger, values in (
        ("accept_answer", {"rating": "5"}),
        ("reject_answer", {"reject_reason": "还是没解决"}),
    ):
        with pytest.raises(GuardRefused, match="ended on 2026-03-17"):
            opinions.act(
                slips[2].code, trigger, values, expected_version=None, user=None, client="c"
            )
    assert audit.head() == before
    assert timers.tick().fired == [(case_of(slips[2].code).id, "auto_close")]


def test_time_limits_count_working_days_over_a_public_holiday(world, clock):
    # Received on Thursday 2026-04-30, before Labour Day (1-5 May off, Saturday 9 May worked):
    # acknowledged by the end of Friday 8 May (3 working days), not Sunday 3 May.
    clock.set("2026-04-30T02:00:00")
    slip = submit()
    assert str(slip.answer_due) == "2026-05-25"  # 15 working days
    case = case_of(slip.code)
    clock.set("2026-05-08T02:00:00")
    assert timers.tick().escalated == []
    clock.set("2026-05-08T15:00:00")  # 23:00 local on the last day
    assert timers.tick().escalated == []
    clock.set("2026-05-08T16:30:00")  # 00:30 on Saturday 9 May
    assert timers.tick().escalated == [case.id]
    runtime.fire(case.id, "accept", world["secretary"])
    runtime.fire(case.id, "assign", world["secretary"], {"handler": world["branch_member"].id})
    runtime.fire(case.id, "answer", world["branch_member"], {"answer": "已处理"})
    runtime.fire(case.id, "approve_answer", world["secretary"])
    clock.set("2026-05-25T10:00:00")  # 18:00 local on the answer's last day
    runtime.fire(case.id, "publish", world["secretary"])
    assert runtime.load_case(case.id).data["on_time"] is True
