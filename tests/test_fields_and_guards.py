"""Field coercion and refusals, every guard of guards.py both ways, what available_actions
offers, and the calendar arithmetic behind time limits."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from flask_babel import force_locale

from pbflow.engine import calendar, fields, guards, runtime
from pbflow.engine.context import CaseState, Context
from pbflow.engine.definitions import Choice, FieldSpec, Label
from pbflow.engine.errors import GuardRefused, NotAllowed, ValidationFailed
from pbflow.engine.registry import registry
from pbflow.extensions import db
from pbflow.models import Attachment, Person
from tests.conftest import TEST_WORKFLOWS, make_user, recorded_set_up

pytestmark = pytest.mark.workflows_dir(TEST_WORKFLOWS)

L = Label("字段", "Field")


def spec(type_: str, **kw) -> FieldSpec:
    return FieldSpec(name="f", type=type_, label=L, **kw)


def ok(s: FieldSpec, raw):
    return fields.validate((s,), {"f": raw})["f"]


def refused(s: FieldSpec, raw) -> str:
    with pytest.raises(ValidationFailed) as exc:
        fields.validate((s,), {"f": raw})
    assert exc.value.message == "Some fields need correcting."
    return exc.value.field_errors["f"]


# --- fields -----------------------------------------------------------------------------------


def test_string_and_text(app):
    assert ok(spec("string"), "  七一 党日  ") == "七一 党日"
    assert refused(spec("string"), "one\ntwo") == "must be a single line"
    assert ok(spec("text"), "one\ntwo") == "one\ntwo"
    assert refused(spec("string", min_length=3), "ab") == "must be at least 3 characters"
    assert refused(spec("string", max_length=3), "abcd") == "must be at most 3 characters"
    assert refused(spec("string"), "x" * 201) == "must be at most 200 characters"
    assert ok(spec("string"), "x" * 200) == "x" * 200
    assert refused(spec("string"), ["a", "b"]) == "must be a single value"
    assert refused(spec("text"), {"a": 1}) == "must be a single value"


def test_integer(app):
    assert ok(spec("integer"), " 42 ") == 42
    assert ok(spec("integer"), -3) == -3
    for bad in ("4.5", "1e3", "lots", True, 2.0):
        assert refused(spec("integer"), bad) == "must be a whole number"
    assert refused(spec("integer", min=1), "0") == "must be at least 1"
    assert refused(spec("integer", max=10), 11) == "must be at most 10"
    assert ok(spec("integer", min=1, max=10), 10) == 10


def test_number_is_kept_as_a_decimal_string(app):
    assert ok(spec("number"), "1200.50") == "1200.5"
    assert ok(spec("number"), 0.1) == "0.1"
    assert ok(spec("number"), "1e3") == "1000"
    assert ok(spec("number"), "-0.25") == "-0.25"
    for bad in ("1,200", "NaN", "Infinity", "abc"):
        assert refused(spec("number"), bad) == "must be a number"
    assert refused(spec("number", min=0.01), "0") == "must be at least 0.01"
    assert refused(spec("number", max=1000000), "1000000.01") == "must be at most 1000000"
    # Huge exponents would be expanded digit by digit when stored: refused before that.
    assert refused(spec("number"), "1e999999999") == "is too large"
    assert refused(spec("number"), "1e-999999999") == "may have at most 6 decimal places"


def test_dates(app):
    assert ok(spec("date"), "2026-03-01") == "2026-03-01"
    assert ok(spec("date"), "2026/3/1") == "2026-03-01"
    assert ok(spec("date"), "2026.03.01") == "2026-03-01"
    assert ok(spec("date"), date(2026, 3, 1)) == "2026-03-01"
    assert ok(spec("date"), datetime(2026, 3, 1, 15, 30)) == "2026-03-01"
    assert ok(spec("date"), "2028-02-29") == "2028-02-29"
    for bad in (
        "2026-02-30",
        "2027-02-29",
        "2026-13-01",
        "2026-00-10",
        "01/03/2026",
        "20260301",
        "2026-W10-1",
        "2026-03-01T10:00",
        "2026-03/01",
        "next week",
        "1850-01-01",
    ):
        assert refused(spec("date"), bad) == "must be a date like 2026-03-01", bad


def test_boolean(app):
    for raw in (True, "1", "yes", "on", "TRUE", "y"):
        assert ok(spec("boolean"), raw) is True
    for raw in (False, "0", "no", "off", ""):
        assert ok(spec("boolean"), raw) is False
    assert fields.validate((spec("boolean"),), {}) == {"f": False}  # an unticked box
    assert refused(spec("boolean"), "maybe") == "must be yes or no"


def test_choice_and_multichoice(app):
    choices = (Choice("a", L), Choice("b", L), Choice("c", L))
    assert ok(spec("choice", choices=choices), " b ") == "b"
    assert refused(spec("choice", choices=choices), "d") == "is not one of the choices"
    multi = spec("multichoice", choices=choices, min_items=2, max_items=2)
    assert ok(multi, ["c", "a"]) == ["c", "a"]
    assert ok(multi, "a, b") == ["a", "b"]
    assert refused(multi, ["a", "z"]) == "is not one of the choices"
    assert refused(multi, ["a"]) == "needs at least 2"
    assert refused(multi, ["a", "b", "c"]) == "allows at most 2"
    # The same box twice is one choice, so it does not count twice towards min_items.
    assert refused(multi, ["a", "a"]) == "needs at least 2"


def test_references_must_exist(world):
    member = world["member"]
    person_id = db.session.get(Person, member.person.id).id
    attachment = Attachment(
        sha256="0" * 64,
        filename="minutes.pdf",
        content_type="application/pdf",
        size=10,
        org_id=world.branch.id,
        uploaded_by=member.id,
    )
    db.session.add(attachment)
    db.session.commit()
    assert ok(spec("user"), str(member.id)) == member.id
    assert ok(spec("person"), person_id) == person_id
    assert ok(spec("file"), attachment.id) == attachment.id
    missing = "names someone or something that does not exist"
    assert refused(spec("user"), 99999) == missing
    assert refused(spec("person"), 99999) == missing
    assert refused(spec("file"), attachment.id + 1) == missing
    assert refused(spec("user"), "admin") == "must be chosen from the list"


def test_persons(world):
    ids = [world[name].person.id for name in ("secretary", "deputy", "member")]
    two = spec("persons", min_items=2, max_items=2)
    assert ok(two, ids[:2]) == ids[:2]
    assert ok(two, f"{ids[0]}, {ids[2]}") == [ids[0], ids[2]]
    assert refused(two, [ids[0], ids[0]]) == "names the same person twice"
    assert refused(two, ids[:1]) == "needs at least 2"
    assert refused(two, ids) == "allows at most 2"
    assert refused(two, [ids[0], 99999]) == "names someone or something that does not exist"
    assert refused(two, [ids[0], "x"]) == "must be chosen from the list"


def test_per_person_text_keeps_a_line_for_each_person_it_lists(world):
    """A per-person field (a reason for each absence) maps person ids to one line of text:
    sent whole (the API) or line by line, ``<field>.<person id>`` (a form, the command
    line); blank lines are left out, and its lines are only for the people of its
    ``people`` field, as submitted with it or as the case holds them."""
    ids = [world[name].person.id for name in ("secretary", "deputy", "member")]
    reasons = FieldSpec("why", "per_person_text", L, people="who", max_length=10)
    who = FieldSpec("who", "persons", L)
    held = {"who": ids[1:]}

    def check(raw, held=held):
        return fields.validate((reasons,), raw, held=held, label=lambda name: f"<{name}>")

    def problem(raw, held=held) -> str:
        with pytest.raises(ValidationFailed) as exc:
            check(raw, held)
        return exc.value.field_errors["why"]

    assert check({"why": {str(ids[1]): " 病假 ", str(ids[2]): "  "}}) == {
        "why": {str(ids[1]): "病假"}
    }
    assert check({f"why.{ids[1]}": "出差", f"why.{ids[2]}": "未请假"}) == {
        "why": {str(ids[1]): "出差", str(ids[2]): "未请假"}
    }
    assert check({"why": {ids[1]: "出差"}, f"why.{ids[2]}": "未请假"}) == {
        "why": {str(ids[1]): "出差", str(ids[2]): "未请假"}
    }
    assert check({f"why.{ids[1]}": ""}) == {}  # no line filled in: nothing kept
    # The people submitted in the same form count before those the case holds.
    both = fields.validate((who, reasons), {"who": ids[:1], f"why.{ids[0]}": "病假"}, held=held)
    assert both == {"who": ids[:1], "why": {str(ids[0]): "病假"}}
    assert problem({f"why.{ids[0]}": "病假"}) == "has a line for someone who is not among '<who>'"
    assert problem({f"why.{ids[0]}": "病假"}, held={}) == (
        "has a line for someone who is not among '<who>'"
    )
    assert problem({"why": "病假"}) == "must give a line for each person, by their id"
    assert problem({"why": {"x": "病假"}}) == "must be chosen from the list"
    assert problem({"why": {str(ids[1]): "病假", f"0{ids[1]}": "事假"}}) == (
        "names the same person twice"
    )
    assert problem({"why": {str(ids[1]): "a\nb"}}) == "must be a single line"
    assert problem({"why": {str(ids[1]): "x" * 11}}) == "must be at most 10 characters"
    assert problem({"why": {str(ids[1]): ["a"]}}) == "must be a single value"
    assert problem({"why": {"99999": "病假"}}) == "names someone or something that does not exist"
    # A dotted name that is no per-person field's line is no field of the step.
    with pytest.raises(ValidationFailed) as exc:
        check({"other.1": "x"})
    assert exc.value.field_errors == {"other.1": "is not a field of this step"}
    required = FieldSpec("why", "per_person_text", L, required=True, people="who")
    with pytest.raises(ValidationFailed) as exc:
        fields.validate((required,), {f"why.{ids[1]}": " "}, held=held)
    assert exc.value.field_errors == {"why": "is required"}


def test_required_and_unknown_fields_are_all_reported_at_once(app):
    specs = (
        FieldSpec("name", "string", L, required=True),
        FieldSpec("count", "integer", L),
        FieldSpec("note", "text", L),
    )
    with pytest.raises(ValidationFailed) as exc:
        fields.validate(specs, {"name": "  ", "count": "x", "colour": "red"})
    assert exc.value.field_errors == {
        "name": "is required",
        "count": "must be a whole number",
        "colour": "is not a field of this step",
    }
    assert fields.validate(specs, {"name": "ok", "count": ""}) == {"name": "ok"}


# --- guards -----------------------------------------------------------------------------------


def _ctx(world, actor, data=None, values=None, **case_fields) -> Context:
    d = registry().get("guarded")
    cs = CaseState(
        id=case_fields.pop("id", None),
        definition_id=0,
        workflow_id="guarded",
        org_id=world.branch.id,
        state="open",
        data=dict(data or {}),
        version=1,
        entered_version=1,
        subject_person_id=case_fields.pop("subject_person_id", None),
        submitter_user_id=case_fields.pop("submitter_user_id", None),
        assignee_user_id=None,
        parent_id=None,
        created_at=None,
        state_entered_at=None,
    )
    return Context(d, cs, actor, dict(values or {}))


def run(name, ctx, **params):
    return guards.REGISTRY[name].fn(ctx, **params)


def test_not_submitter_and_not_subject(world):
    sec, deputy = world["secretary"], world["deputy"]
    block = run("not_submitter", _ctx(world, sec, submitter_user_id=sec.id))
    assert block.reason == "You submitted this case, so someone else must decide on it."
    assert run("not_submitter", _ctx(world, deputy, submitter_user_id=sec.id)) is None
    about_sec = {"subject_person_id": sec.person.id}
    block = run("not_subject", _ctx(world, sec, **about_sec))
    assert block.reason == "This case is about you, so someone else must take this step."
    assert run("not_subject", _ctx(world, deputy, **about_sec)) is None


def test_not_actor_of(world):
    data = {"_by": {"report_spending": world["secretary"].id}}
    block = run("not_actor_of", _ctx(world, world["secretary"], data), trigger="report_spending")
    assert "someone else must take this one" in block.reason
    assert (
        run("not_actor_of", _ctx(world, world["deputy"], data), trigger="report_spending") is None
    )
    assert run("not_actor_of", _ctx(world, world["secretary"]), trigger="report_spending") is None


def test_amount_limits_with_values_and_settings(world):
    sec = world["secretary"]
    ctx = _ctx(world, sec, {"amount": "100"})
    assert run("amount_above", ctx, field="amount", value=100).reason == (
        "Only for amounts above 100."
    )
    assert (
        run("amount_above", _ctx(world, sec, {"amount": "100.01"}), field="amount", value=100)
        is None
    )
    assert run("amount_at_most", ctx, field="amount", value=100) is None
    block = run("amount_at_most", _ctx(world, sec, {"amount": "100.5"}), field="amount", value=100)
    assert "100.5 is above 100" in block.reason
    # Submitted values win over what the case holds.
    ctx = _ctx(world, sec, {"amount": "1"}, values={"amount": "500"})
    assert run("amount_above", ctx, field="amount", value=100) is None


def test_field_present_and_date_not_future(world, clock):
    sec = world["secretary"]
    for empty in ({}, {"report": ""}, {"report": []}):
        block = run("field_present", _ctx(world, sec, empty), field="report")
        assert block.reason == "'report' has not been recorded yet."
    assert run("field_present", _ctx(world, sec, {"report": "done"}), field="report") is None
    # The clock stands at 2026-03-02 10:00 in Beijing.
    block = run("date_not_future", _ctx(world, sec, {"held": "2026-03-03"}), field="held")
    assert block.reason == "The date 2026-03-03 is in the future."
    assert run("date_not_future", _ctx(world, sec, {"held": "2026-03-02"}), field="held") is None
    assert run("date_not_future", _ctx(world, sec), field="held") is None


def test_date_not_past_allows_today_at_the_earliest(world, clock):
    sec = world["secretary"]
    # The clock stands at 2026-03-02 10:00 in Beijing.
    block = run("date_not_past", _ctx(world, sec, {"deadline": "2026-03-01"}), field="deadline")
    assert block.reason == (
        "'deadline' cannot lie in the past (2026-03-01): today at the earliest."
    )
    today = _ctx(world, sec, {"deadline": "2026-03-02"})
    assert run("date_not_past", today, field="deadline") is None
    assert run("date_not_past", _ctx(world, sec), field="deadline") is None


def test_min_time_since_tells_when_it_becomes_possible(world, clock):
    sec = world["secretary"]
    ctx = _ctx(world, sec, {"activist_on": "2025-03-03"})
    block = run("min_time_since", ctx, field="activist_on", years=1)
    assert block.reason == "Possible from 2026-03-03." and block.available_from == date(2026, 3, 3)
    ctx = _ctx(world, sec, {"activist_on": "2025-03-02"})
    assert run("min_time_since", ctx, field="activist_on", years=1) is None
    ctx = _ctx(world, sec, {"applied": "2026-01-31"})
    block = run("min_time_since", ctx, field="applied", months=1)
    assert block is None  # 2026-02-28 has passed
    assert run("min_time_since", ctx, field="applied", days=30) is None  # 2026-03-02
    block = run("min_time_since", ctx, field="applied", days=31)
    assert block.available_from == date(2026, 3, 3)
    block = run("min_time_since", _ctx(world, sec), field="applied", days=1)
    assert block.reason == "'applied' has not been recorded yet." and block.available_from is None


def test_min_time_since_reads_the_subjects_key_dates(world, clock):
    person = db.session.get(Person, world["member"].person.id)
    person.activist_on = date(2025, 6, 1)
    recorded_set_up(person)
    db.session.commit()
    ctx = _ctx(world, world["secretary"], subject_person_id=person.id)
    block = run("min_time_since", ctx, field="subject.activist_on", years=1)
    assert block.available_from == date(2026, 6, 1)


def test_max_time_since(world, clock):
    sec = world["secretary"]
    ctx = _ctx(world, sec, {"admitted": "2025-09-01"})
    block = run("max_time_since", ctx, field="admitted", months=6)
    assert block.reason == "Too late: the time limit ended on 2026-03-01."
    assert run("max_time_since", ctx, field="admitted", days=182) is None  # ends today
    assert run("max_time_since", _ctx(world, sec), field="admitted", days=1).reason == (
        "'admitted' has not been recorded yet."
    )


def test_all_children_closed(world):
    sec = world["secretary"]
    parent = runtime.start("guarded", world.branch, sec, {"activist_on": "2024-01-01"})
    ctx = _ctx(world, sec, id=parent.id)
    assert run("all_children_closed", ctx) is None
    child = runtime.start(
        "guarded", world.branch, sec, {"activist_on": "2024-01-01"}, parent_id=parent.id
    )
    runtime.start("timed", world.branch, sec, {}, parent_id=parent.id)
    assert run("all_children_closed", ctx).reason == "2 linked item(s) are still open."
    assert run("all_children_closed", ctx, workflow="guarded").reason == (
        "1 linked item(s) are still open."
    )
    runtime.fire(child.id, "auto_close", "system")
    assert run("all_children_closed", ctx, workflow="guarded") is None
    assert run("all_children_closed", ctx).reason == "1 linked item(s) are still open."


def test_person_among(world):
    """A meeting's recorder is one of those present: the people named in one field are
    among those of another, named in the refusal with both fields' labels."""
    ids = [world[name].person.id for name in ("secretary", "deputy", "member")]
    sec = world["secretary"]
    present = {"present": ids[:2]}
    assert (
        run("person_among", _ctx(world, sec, present, {"f": ids[1]}), field="f", among="present")
        is None
    )
    block = run(
        "person_among", _ctx(world, sec, present, {"f": ids[2]}), field="f", among="present"
    )
    assert block.reason == "'f' must be one of 'present': Member is not."
    block = run(
        "person_among", _ctx(world, sec, {"present": []}, {"f": ids}), field="f", among="present"
    )
    assert block.reason == "'f' must be among 'present': Secretary, Deputy, Member are not."
    with force_locale("zh"):
        block = run(
            "person_among", _ctx(world, sec, present, {"f": ids[2]}), field="f", among="present"
        )
    assert block.reason == "“f”须从“present”中选择：Member不在其中。"
    assert run("person_among", _ctx(world, sec, present), field="f", among="present") is None


def test_absences_explained(world):
    """Every person expected and not present has a reason, which may be that they were
    absent without leave; a reason is for an absence only."""
    sec, deputy, member = (world[n].person.id for n in ("secretary", "deputy", "member"))
    data = {"expected": [sec, deputy, member], "present": [sec]}

    def check(reasons, **changes):
        ctx = _ctx(world, world["secretary"], {**data, **changes}, {"why": reasons})
        return run("absences_explained", ctx, field="why", expected="expected", present="present")

    block = check({str(deputy): "病假", str(member): " "})
    assert block.reason == (
        "Give the reason for the absence of Member in 'why': the leave asked for, or absent "
        "without leave."
    )
    with force_locale("zh"):
        block = check({})
    assert block.reason == "请填写Deputy、Member的缺席原因（“why”）：所请的假，或写明“未请假”。"
    assert check({str(deputy): "病假", str(member): "未请假"}) is None
    block = check({str(sec): "迟到", str(deputy): "病假", str(member): "未请假"})
    assert block.reason == "Secretary is marked present: 'why' is for those absent."
    assert check({}, present=[sec, deputy, member]) is None
    assert check(None, present=[sec, deputy, member]) is None


def test_every_guard_in_guards_py_is_covered_here():
    import inspect
    import sys

    source = inspect.getsource(sys.modules[__name__])
    own = [name for name, rule in guards.REGISTRY.items() if rule.fn.__module__ == guards.__name__]
    assert own and all(f'"{name}"' in source for name in own)


# --- available actions ------------------------------------------------------------------------


def test_available_actions_shows_blocked_steps_with_reason_and_date(world, clock):
    member, sec = world["member"], world["secretary"]
    case = runtime.start("guarded", world.branch, member, {"activist_on": "2025-06-01"})
    actions = {a.trigger: a for a in runtime.available_actions(case.id, sec)}
    # escalate_large is hidden while blocked; auto_close is the engine's alone.
    assert set(actions) == {"promote", "pay"}
    promote = actions["promote"]
    assert not promote.enabled
    assert promote.reason == "Possible from 2026-06-01."
    assert promote.available_from == date(2026, 6, 1)
    # The guard on pay judges the form's own field: decided on submission, not before.
    assert actions["pay"].enabled and actions["pay"].reason is None
    with pytest.raises(GuardRefused) as exc:
        runtime.fire(case.id, "pay", sec, {"paid": "600"})
    assert "600 is above 500" in exc.value.message
    with pytest.raises(GuardRefused) as exc:
        runtime.fire(case.id, "promote", sec)
    assert exc.value.available_from == date(2026, 6, 1)
    # Nothing for someone who may not act; and a member sees nothing on the secretary's steps.
    assert runtime.available_actions(case.id, member) == []
    assert runtime.available_actions(case.id, world["other_secretary"]) == []

    clock.set("2026-06-01T02:00:00")
    actions = {a.trigger: a for a in runtime.available_actions(case.id, sec)}
    assert actions["promote"].enabled and actions["promote"].available_from is None
    runtime.fire(case.id, "promote", sec)
    assert runtime.available_actions(case.id, sec) == []  # closed


def test_hidden_step_appears_once_its_rule_is_met(world):
    sec = world["secretary"]
    case = runtime.start(
        "guarded", world.branch, world["member"], {"activist_on": "2024-01-01", "amount": "150"}
    )
    actions = {a.trigger: a for a in runtime.available_actions(case.id, sec)}
    assert actions["escalate_large"].enabled
    assert "auto_close" not in actions


def test_blocked_reasons_follow_the_submitter_rule(world):
    sec = world["secretary"]
    case = runtime.start("guarded", world.branch, sec, {"activist_on": "2024-01-01"})
    promote = {a.trigger: a for a in runtime.available_actions(case.id, sec)}["promote"]
    assert not promote.enabled and "someone else" in promote.reason
    assert promote.available_from is None
    deputy = make_user("deputy2", [(world.branch, "secretary")])
    assert {a.trigger: a for a in runtime.available_actions(case.id, deputy)}["promote"].enabled


def test_people_may_not_take_system_steps(world):
    case = runtime.start("guarded", world.branch, world["member"], {"activist_on": "2024-01-01"})
    with pytest.raises(NotAllowed, match="taken by: system"):
        runtime.fire(case.id, "auto_close", world["secretary"])
    with pytest.raises(NotAllowed, match="must be taken by a person"):
        runtime.fire(case.id, "promote", "system")


# --- calendar ---------------------------------------------------------------------------------


def test_add_months_keeps_to_the_end_of_short_months():
    assert calendar.add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert calendar.add_months(date(2028, 1, 31), 1) == date(2028, 2, 29)
    assert calendar.add_months(date(2026, 3, 31), 1) == date(2026, 4, 30)
    assert calendar.add_months(date(2026, 1, 15), 1) == date(2026, 2, 15)
    assert calendar.add_months(date(2026, 11, 30), 3) == date(2027, 2, 28)
    assert calendar.add_months(date(2028, 2, 29), 12) == date(2029, 2, 28)
    assert calendar.add(date(2028, 2, 29), 4, "years") == date(2032, 2, 29)
    assert calendar.add_months(date(2026, 3, 31), -1) == date(2026, 2, 28)


def test_a_birthday_on_29_february_falls_on_1_march_in_a_common_year():
    """Ages (the applicant's 18, DOMAIN 1.1) are not periods of months: someone born on 29
    February has not reached the age on 28 February."""
    assert calendar.birthday(date(2008, 6, 1), 18) == date(2026, 6, 1)
    assert calendar.birthday(date(2008, 2, 29), 18) == date(2026, 3, 1)
    assert calendar.birthday(date(2008, 2, 29), 20) == date(2028, 2, 29)
    assert calendar.birthday(date(2008, 2, 28), 18) == date(2026, 2, 28)


def test_working_days_skip_weekends():
    friday = date(2026, 3, 6)
    assert calendar.add_working_days(friday, 1) == date(2026, 3, 9)  # Monday
    assert calendar.add_working_days(friday, 5) == date(2026, 3, 13)
    assert calendar.add_working_days(date(2026, 3, 7), 1) == date(2026, 3, 9)  # from Saturday
    assert calendar.add(date(2026, 3, 2), 15, "working_days") == date(2026, 3, 23)
    assert calendar.add(date(2026, 3, 2), 3, "days") == date(2026, 3, 5)
    with pytest.raises(ValueError):
        calendar.add(date(2026, 3, 2), 3, "fortnights")


def test_end_of_day_is_local_midnight_in_utc(app):
    assert app.config["PBFLOW_TIMEZONE"] == "Asia/Shanghai"
    # A limit "by 2026-03-01" in Beijing ends at 2026-03-02 00:00 +08:00.
    assert calendar.end_of_day_utc(date(2026, 3, 1)) == datetime(2026, 3, 1, 16, 0)
    app.config["PBFLOW_TIMEZONE"] = "UTC"
    assert calendar.end_of_day_utc(date(2026, 3, 1)) == datetime(2026, 3, 2, 0, 0)
