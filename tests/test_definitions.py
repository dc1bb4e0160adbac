"""Workflow files: every refusal names the file, the line when known and the problem; versions
are stored once and running cases finish on the version they started with."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from sqlalchemy import func, select

from pbflow import audit
from pbflow.engine import runtime
from pbflow.engine.definitions import load_dir, parse
from pbflow.engine.errors import DefinitionError, InvalidState
from pbflow.engine.registry import Registry, gather_rules, registry
from pbflow.extensions import db
from pbflow.models import AuditEvent, WorkflowDefinition
from tests.conftest import TEST_WORKFLOWS, audit_actions

REAL_WORKFLOWS = Path(__file__).resolve().parent.parent / "workflows"
GENERIC = gather_rules()  # the engine's own guards and effects, no procedure's

BASE = """\
id: mini
version: "1"
title: {zh: 小流程, en: Mini}
run_by: [branch]
settings:
  limit: {default: 10, min: 0, max: 100, label: {zh: 限额, en: Limit}}
start:
  by: [secretary]
  fields:
    - {name: held_on, type: date, label: {zh: 日期, en: Date}}
initial: draft
states:
  draft:
    label: {zh: 草稿, en: Draft}
  review:
    label: {zh: 审核, en: Review}
  done:
    label: {zh: 完成, en: Done}
    final: true
transitions:
  - trigger: submit
    source: draft
    dest: review
    label: {zh: 提交, en: Submit}
    by: [secretary]
  - trigger: approve
    source: review
    dest: done
    label: {zh: 批准, en: Approve}
    by: [secretary]
"""


def _variant(*pairs: str) -> str:
    """BASE with each (old, new) replacement applied; each old text must be there."""
    text = BASE
    for old, new in zip(pairs[::2], pairs[1::2], strict=True):
        assert old in text, old
        text = text.replace(old, new, 1)
    return text


def _refusal(text: str) -> DefinitionError:
    with pytest.raises(DefinitionError) as exc:
        parse(text, "workflows/mini.yaml", GENERIC)
    assert str(exc.value).startswith("workflows/mini.yaml")
    return exc.value


def _add_transition(yaml_text: str) -> str:
    return BASE + yaml_text


def test_the_base_file_is_valid():
    d = parse(BASE, "workflows/mini.yaml", GENERIC)
    assert d.id == "mini" and d.initial == "draft" and d.states["done"].final
    assert d.transition("review", "approve").dest == "done"


def test_not_yaml_names_file_and_line():
    err = _refusal(BASE + "  - trigger: [unclosed\n")
    assert "not valid YAML" in err.problem and err.line == 32  # where YAML noticed


def test_unknown_top_level_key_points_at_the_typo():
    err = _refusal(_variant("initial: draft", "initial: draft\ntransitons: []"))
    assert "unknown key(s) transitons" in err.problem
    assert err.line == 12 and "workflows/mini.yaml:12" in str(err)


def test_missing_top_level_key():
    err = _refusal(_variant("initial: draft\n", ""))
    assert "missing key(s) initial" in err.problem


@pytest.mark.parametrize(
    "old,new",
    [
        ("title: {zh: 小流程, en: Mini}", "title: {zh: 小流程}"),
        ("label: {zh: 审核, en: Review}", "label: {en: Review}"),
        ("label: {zh: 提交, en: Submit}", "label: {zh: 提交, en: '  '}"),
        ("label: {zh: 日期, en: Date}", "label: 日期"),
    ],
)
def test_labels_need_both_chinese_and_english(old, new):
    err = _refusal(_variant(old, new))
    assert "needs a label with both zh and en text" in err.problem


def test_unknown_source_and_destination_states():
    err = _refusal(_variant("source: review", "source: reveiw"))
    assert "transition 'approve': unknown source state 'reveiw'" in err.problem
    assert err.line == 27
    err = _refusal(_variant("dest: done", "dest: finished"))
    assert "transition 'approve': unknown destination state 'finished'" in err.problem


def test_unreachable_state_is_named_at_its_line():
    err = _refusal(
        _variant(
            "  done:\n", "  orphan:\n    label: {zh: 孤立, en: Orphan}\n    final: true\n  done:\n"
        )
    )
    assert "unreachable state(s): orphan" in err.problem and err.line == 18


def test_non_final_state_without_way_out():
    err = _refusal(
        _variant(
            "    label: {zh: 完成, en: Done}\n    final: true\n",
            "    label: {zh: 完成, en: Done}\n",
        )
    )
    assert "state 'done' is not final and has no way out" in err.problem and err.line == 18


def test_transition_out_of_a_final_state_is_refused():
    err = _refusal(
        _add_transition(
            "  - {trigger: reopen, source: done, dest: draft, by: [secretary],"
            " label: {zh: 重开, en: Reopen}}\n"
        )
    )
    assert "source 'done' is a final state" in err.problem


def test_unknown_guard_and_bad_guard_parameters():
    err = _refusal(
        _variant("    by: [secretary]\n", "    by: [secretary]\n    guards: [no_such_rule]\n")
    )
    assert "unknown guard 'no_such_rule'" in err.problem and "not_submitter" in err.problem
    assert err.line == 26  # the guards key, since a bare name has no line of its own
    err = _refusal(
        _variant(
            "    by: [secretary]\n",
            "    by: [secretary]\n    guards: [{name: not_submitter, strict: true}]\n",
        )
    )
    assert "guard 'not_submitter': unknown parameter(s) strict" in err.problem
    err = _refusal(
        _variant(
            "    by: [secretary]\n",
            "    by: [secretary]\n    guards: [{name: min_time_since, days: 3}]\n",
        )
    )
    assert "guard 'min_time_since': missing parameter(s) field" in err.problem
    err = _refusal(
        _variant(
            "    by: [secretary]\n",
            "    by: [secretary]\n    guards: [{name: amount_above, field: x, setting: nope}]\n",
        )
    )
    assert "'amount_above' uses unknown setting 'nope'" in err.problem
    # Without a limit the guard could not judge anything: refused at load, not at run time.
    err = _refusal(
        _variant(
            "    by: [secretary]\n",
            "    by: [secretary]\n    guards: [{name: amount_above, field: amount}]\n",
        )
    )
    assert "guard 'amount_above': needs one of the parameters setting, value" in err.problem
    err = _refusal(
        _variant(
            "    by: [secretary]\n",
            "    by: [secretary]\n    guards: [{name: min_time_since, field: held_on}]\n",
        )
    )
    assert "needs one of the parameters days, months, years, setting" in err.problem


def test_a_per_person_field_names_the_persons_field_it_has_lines_for():
    """A ``per_person_text`` field (a reason for each absence) has a line for each person of
    a persons field of the workflow, which it names (``people``); it belongs to a step's
    form, where the case already names them."""
    start_field = "    - {name: held_on, type: date, label: {zh: 日期, en: Date}}\n"
    lines = "      - {name: why, type: per_person_text, people: who, label: {zh: 原因, en: Why}}\n"
    text = _variant(
        start_field,
        start_field + "    - {name: who, type: persons, label: {zh: 人员, en: People}}\n",
        "    label: {zh: 批准, en: Approve}\n    by: [secretary]\n",
        "    label: {zh: 批准, en: Approve}\n    by: [secretary]\n    fields:\n" + lines,
    )
    spec = parse(text, "workflows/mini.yaml", GENERIC).transition("review", "approve").fields[0]
    assert (spec.type, spec.people) == ("per_person_text", "who")
    err = _refusal(text.replace(", people: who", ""))
    assert "field 'why' needs 'people': the persons field" in err.problem
    err = _refusal(text.replace("people: who", "people: held_on"))
    assert "transition 'approve': field 'why': people 'held_on' is not a persons field" in (
        err.problem
    )
    assert err.line == 27  # the step whose form has the field
    err = _refusal(text.replace("type: date, label", "type: date, people: who, label"))
    assert "field 'held_on' of type date cannot have people" in err.problem
    err = _refusal(text.replace(start_field, start_field + lines[2:]))
    assert "start: a per_person_text field belongs to a step's form" in err.problem


def test_unknown_effect_and_bad_effect_parameters():
    err = _refusal(
        _variant("    by: [secretary]\n", "    by: [secretary]\n    effects: [notify_all]\n")
    )
    assert "unknown effect 'notify_all'" in err.problem
    err = _refusal(
        _variant("    by: [secretary]\n", "    by: [secretary]\n    effects: [set_date]\n")
    )
    assert "effect 'set_date': missing parameter(s) field" in err.problem


def test_unknown_role_and_bad_scope():
    err = _refusal(_variant("    by: [secretary]\n", "    by: [secretry]\n"))
    assert "unknown role or actor 'secretry'" in err.problem and err.line == 25
    err = _refusal(_variant("    by: [secretary]\n", "    by: [{role: chairman, at: parent}]\n"))
    assert "unknown role 'chairman'" in err.problem
    err = _refusal(
        _variant("    by: [secretary]\n", "    by: [{role: secretary, at: grandparent}]\n")
    )
    assert "'at' must be one of org, parent, committee" in err.problem
    assert "not 'grandparent'" in err.problem


def test_duplicate_trigger_from_one_source():
    err = _refusal(
        _add_transition(
            "  - {trigger: submit, source: draft, dest: done, by: [secretary],"
            " label: {zh: 直接, en: Directly}}\n"
        )
    )
    assert "trigger 'submit' is declared twice from state 'draft'" in err.problem
    assert err.line == 31


def test_duplicate_trigger_through_a_star_source():
    err = _refusal(
        _add_transition(
            "  - {trigger: approve, source: '*', dest: done, by: [secretary],"
            " label: {zh: 批准, en: Approve}}\n"
        )
    )
    assert "trigger 'approve' is declared twice from state 'review'" in err.problem
    # A star source with a new trigger is fine, and reaches every non-final state.
    d = parse(
        _add_transition(
            "  - {trigger: cancel, source: '*', dest: done, by: [secretary],"
            " label: {zh: 撤销, en: Cancel}}\n"
        ),
        "mini.yaml",
        GENERIC,
    )
    assert d.transition("draft", "cancel") and d.transition("review", "cancel")
    assert d.transition("done", "cancel") is None


def test_bad_field_type_and_choice_without_choices():
    err = _refusal(_variant("type: date", "type: datetime"))
    assert "field 'held_on' has unknown type 'datetime'" in err.problem and err.line == 10
    err = _refusal(_variant("type: date", "type: choice"))
    assert "field 'held_on' needs a list of choices" in err.problem
    err = _refusal(_variant("type: date", "type: choice, choices: []"))
    assert "needs a list of choices" in err.problem
    err = _refusal(_variant("type: date", "type: string, choices: [a, b]"))
    assert "of type string cannot have choices" in err.problem


VOTE_STATE = """\
    vote:
      mode: [ballot]
      electorate: {electorate}
      passed: {passed}
      failed: reject
"""
VOTE_TRANSITIONS = """\
  - {trigger: pass_vote, source: review, dest: done, by: [system], label: {zh: 通过, en: Passed}}
  - {trigger: reject, source: review, dest: draft, by: [system], label: {zh: 否决, en: Rejected}}
"""


def _with_vote(electorate="full_members", passed="pass_vote", by="system") -> str:
    text = _variant(
        "    label: {zh: 审核, en: Review}\n",
        "    label: {zh: 审核, en: Review}\n"
        + VOTE_STATE.format(electorate=electorate, passed=passed),
    )
    return text + VOTE_TRANSITIONS.replace(
        "by: [system], label: {zh: 通过", f"by: [{by}], label: {{zh: 通过"
    )


def test_vote_block_checks():
    d = parse(_with_vote(), "mini.yaml", GENERIC)
    assert d.states["review"].vote.electorate == "full_members"
    assert parse(_with_vote("role:committee@committee"), "mini.yaml", GENERIC)
    err = _refusal(_with_vote("all_members"))
    assert "unknown electorate 'all_members'" in err.problem and err.line == 19
    err = _refusal(_with_vote("role:chairman"))
    assert "unknown electorate 'role:chairman'" in err.problem
    err = _refusal(_with_vote("role:committee@moon"))
    assert "unknown electorate" in err.problem
    err = _refusal(_with_vote(passed="submit"))
    assert "vote outcome 'submit' is not a transition from 'review'" in err.problem
    err = _refusal(_with_vote(by="secretary"))
    assert "'pass_vote' is fired by the engine, so it needs 'system'" in err.problem


def test_due_and_on_overdue_checks():
    def review(extra: str) -> str:
        return _variant(
            "    label: {zh: 审核, en: Review}\n", "    label: {zh: 审核, en: Review}\n" + extra
        )

    assert parse(review("    due: {setting: limit, unit: working_days}\n"), "mini.yaml", GENERIC)
    assert parse(review("    due: {days: 5, from: held_on}\n"), "mini.yaml", GENERIC)
    err = _refusal(review("    on_overdue: [notify]\n"))
    assert "state 'review': on_overdue needs a due time" in err.problem
    err = _refusal(review("    due: {setting: nope}\n"))
    assert "due uses unknown setting 'nope'" in err.problem and err.line == 16
    err = _refusal(review("    due: {days: 5, from: sent_on}\n"))
    assert "due counts from 'sent_on', which is not a date field" in err.problem
    err = _refusal(review("    due: {days: 0}\n"))
    assert "days must be a positive whole number" in err.problem
    err = _refusal(review("    due: {days: 2, months: 1}\n"))
    assert "give exactly one of days, working_days, months" in err.problem
    err = _refusal(review("    due: {days: 2}\n    on_overdue: [{fire: approve}]\n"))
    assert "on_overdue trigger 'approve' is fired by the engine" in err.problem
    err = _refusal(review("    due: {days: 2}\n    on_overdue: [{fire: nothing}]\n"))
    assert "on_overdue trigger 'nothing' is not a transition from 'review'" in err.problem
    err = _refusal(review("    due: {days: 2}\n    on_overdue: [shout]\n"))
    assert "on_overdue must be notify, escalate or {fire: trigger}" in err.problem


def test_escalation_due_checks():
    """A state may give the superior a time of its own once the case escalates (the opinion
    box's general branch, DOMAIN 4): only with ``escalate``, from the day it escalates, and
    through a setting the file declares."""

    def review(extra: str) -> str:
        return _variant(
            "    label: {zh: 审核, en: Review}\n",
            "    label: {zh: 审核, en: Review}\n    due: {days: 2}\n" + extra,
        )

    d = parse(
        review(
            "    on_overdue: [notify, escalate]\n"
            "    escalation_due: {setting: limit, unit: working_days}\n"
        ),
        "mini.yaml",
        GENERIC,
    )
    assert d.states["review"].escalation_due.setting == "limit"
    assert d.states["draft"].escalation_due is None
    err = _refusal(review("    on_overdue: [notify]\n    escalation_due: {working_days: 7}\n"))
    assert "state 'review': escalation_due needs 'escalate' in on_overdue" in err.problem
    err = _refusal(review("    on_overdue: [escalate]\n    escalation_due: {setting: nope}\n"))
    assert "escalation_due uses unknown setting 'nope'" in err.problem
    err = _refusal(
        review("    on_overdue: [escalate]\n    escalation_due: {days: 0, from: held_on}\n")
    )
    assert "escalation_due counts from the day the case escalates" in err.problem
    err = _refusal(review("    on_overdue: [escalate]\n    escalation_due: {days: -1}\n"))
    assert "days must be a positive whole number" in err.problem


def test_duplicate_keys_are_refused_with_their_line():
    err = _refusal(
        _variant(
            "    label: {zh: 审核, en: Review}\n",
            "    label: {zh: 审核, en: Review}\n    label: {zh: 又, en: Again}\n",
        )
    )
    assert "duplicate key 'label'" in err.problem and err.line == 17


def test_wrong_shapes_are_refusals_not_crashes():
    err = _refusal(
        _variant(
            "settings:\n  limit: {default: 10, min: 0, max: 100, label: {zh: 限额, en: Limit}}\n",
            "settings: [limit]\n",
        )
    )
    assert "settings must be a mapping" in err.problem
    err = _refusal(_variant("  review:\n    label: {zh: 审核, en: Review}\n", "  review: 3\n"))
    assert "state 'review' must be a mapping" in err.problem
    err = _refusal("- just\n- a list\n")
    assert "workflow must be a mapping" in err.problem


def test_load_dir_collects_every_error_and_duplicate_ids(tmp_path):
    (tmp_path / "a.yaml").write_text(BASE, encoding="utf-8")
    (tmp_path / "b.yaml").write_text(BASE, encoding="utf-8")  # same id as a.yaml
    (tmp_path / "c.yaml").write_text("id: [broken\n", encoding="utf-8")
    (tmp_path / "d.yaml").write_text(_variant("dest: done", "dest: nowhere"), encoding="utf-8")
    (tmp_path / "notes.txt").write_text("not a workflow", encoding="utf-8")
    found, errors = load_dir(tmp_path, GENERIC)
    assert list(found) == ["mini"] and found["mini"].path.endswith("a.yaml")
    problems = {Path(e.path).name: e.problem for e in errors}
    assert set(problems) == {"b.yaml", "c.yaml", "d.yaml"}
    assert "id 'mini' is also used by" in problems["b.yaml"]
    assert "not valid YAML" in problems["c.yaml"]
    assert "unknown destination state 'nowhere'" in problems["d.yaml"]


def test_the_real_and_the_test_workflows_all_load(app):
    rules = registry().rules  # with every shipped procedure installed
    for folder in (REAL_WORKFLOWS, TEST_WORKFLOWS):
        found, errors = load_dir(folder, rules)
        assert errors == []
        assert len(found) == len(list(folder.glob("*.yaml")))
    assert "activity_funding" in load_dir(REAL_WORKFLOWS, rules)[0]


def test_workflows_check_command_reports_the_file(runner, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(_variant("    by: [secretary]\n", "    by: [nobody]\n"), encoding="utf-8")
    result = runner.invoke(args=["pbflow", "workflows", "check", str(bad)])
    assert result.exit_code == 1
    assert f"{bad}:25: transition 'submit': unknown role or actor 'nobody'" in result.output


# --- versions -------------------------------------------------------------------------------

V1 = (TEST_WORKFLOWS / "guarded.yaml").read_text(encoding="utf-8")
# Version 2 drops the automatic close and renames the waiting step's label.
V2 = (
    V1.replace('version: "1"', 'version: "2"')
    .replace("{zh: 办理中, en: Open}", "{zh: 办理中, en: In progress}")
    .replace(
        """  - trigger: auto_close
    source: open
    dest: closed_by_system
    label: {zh: 自动关闭, en: Close automatically}
    by: [system]
""",
        "",
    )
    .replace(
        """  closed_by_system:
    label: {zh: 系统关闭, en: Closed by the system}
    final: true
""",
        "",
    )
)


def _definition_events() -> list[dict]:
    rows = db.session.execute(
        select(AuditEvent.payload).where(AuditEvent.action == "definition_loaded")
    ).scalars()
    import json

    return [json.loads(r) if isinstance(r, str) else r for r in rows]


def test_a_changed_file_is_a_new_version_for_new_cases_only(world, tmp_path):
    folder = tmp_path / "wf"
    folder.mkdir()
    (folder / "guarded.yaml").write_text(V1, encoding="utf-8")
    reg = registry()
    reg.folder = folder
    reg.reload()
    start = {"activist_on": "2024-01-01"}

    old = runtime.start("guarded", world.branch, world["member"], start)
    again = runtime.start("guarded", world.branch, world["member"], start)
    assert old.definition_id == again.definition_id
    assert [e["revision"] for e in _definition_events()] == [1]

    (folder / "guarded.yaml").write_text(V2, encoding="utf-8")
    reg.reload()
    new = runtime.start("guarded", world.branch, world["member"], start)
    assert new.definition_id != old.definition_id
    events = _definition_events()
    assert [(e["workflow"], e["revision"], e["version"]) for e in events] == [
        ("guarded", 1, "1"),
        ("guarded", 2, "2"),
    ]
    assert db.session.execute(select(func.count()).select_from(WorkflowDefinition)).scalar() == 2

    # The old case still has the step version 2 dropped; the new case does not.
    out = runtime.fire(old.id, "auto_close", "system")
    assert out.state == "closed_by_system"
    with pytest.raises(InvalidState, match="Unknown step"):
        runtime.fire(new.id, "auto_close", "system")
    assert audit.verify_database().ok
    assert audit_actions(old.id) == ["case_started", "transition"]


def test_stored_parses_old_text_in_a_fresh_process(world, tmp_path):
    folder = tmp_path / "wf"
    folder.mkdir()
    (folder / "guarded.yaml").write_text(V1, encoding="utf-8")
    reg = registry()
    reg.folder = folder
    reg.reload()
    case = runtime.start("guarded", world.branch, world["member"], {"activist_on": "2024-01-01"})
    (folder / "guarded.yaml").write_text(V2, encoding="utf-8")

    # A new process (as after a deploy) sees only version 2 in the files.
    fresh = Registry(folder, reg.rules)
    fresh.reload()
    assert fresh.get("guarded").version == "2"
    old = fresh.stored(case.definition_id)
    assert old.version == "1" and "closed_by_system" in old.states
    assert old.content_hash == parse(V1, "x", GENERIC).content_hash
    assert fresh.stored(case.definition_id) is old  # parsed once


@pytest.mark.workflows_dir(TEST_WORKFLOWS)
def test_workflows_dir_marker_selects_the_folder(app):
    assert Path(app.config["PBFLOW_WORKFLOWS_DIR"]) == TEST_WORKFLOWS
    assert {"motion", "timed", "guarded", "committee_motion"} <= set(registry().current)
    assert "activity_funding" not in registry().current


def test_without_the_marker_the_real_workflows_load(app):
    assert "activity_funding" in registry().current and registry().errors == []


@pytest.mark.parametrize(
    "limit, problem",
    [
        ("{default: 10, label: {zh: 限额, en: Limit}}", "needs its bounds (min and max)"),
        ("{default: 10, min: 0, label: {zh: 限额, en: Limit}}", "needs its bounds"),
        ("{default: 10, max: 9, min: 0, label: {zh: 限额, en: Limit}}", "between min and max"),
        ("{default: 10, min: x, max: 20, label: {zh: 限额, en: Limit}}", "must be numbers"),
        ("{default: 1/2, type: fraction, min: 0, label: {zh: 比例, en: Share}}", "bounds"),
    ],
)
def test_a_number_an_office_may_change_is_bounded(limit, problem):
    """A time limit an office could set to -5 days (every case overdue at once, escalating
    up the tree) or to a million (supervision switched off) is refused where it is declared:
    every number a setting holds has both bounds, its default between them."""
    err = _refusal(
        _variant(
            "  limit: {default: 10, min: 0, max: 100, label: {zh: 限额, en: Limit}}\n",
            f"  limit: {limit}\n",
        )
    )
    assert problem in err.problem and "setting 'limit'" in err.problem


def test_a_settings_choices_carry_labels():
    """The settings page shows a choice's label, never its value: a setting's choices are
    declared as a form field's are (a bare value is shown as written)."""
    labelled = _variant(
        "  limit: {default: 10, min: 0, max: 100, label: {zh: 限额, en: Limit}}\n",
        "  rule:\n    default: each\n    type: str\n    choices:\n"
        "      - {value: each, label: {zh: 逐一, en: One by one}}\n"
        "      - {value: pairs, label: {zh: 两两, en: In pairs}}\n"
        "    label: {zh: 规则, en: Rule}\n",
    )
    spec = parse(labelled, "mini.yaml", GENERIC).settings["rule"]
    assert spec.choice_values == ("each", "pairs")
    assert spec.choice_label("pairs").get("zh") == "两两"
    assert spec.choice_label("pairs").get("en") == "In pairs"
    assert spec.choice_label("other") is None
    choices = labelled[labelled.index("    choices:\n") : labelled.index("    label: {zh: 规则")]
    err = _refusal(labelled.replace(choices, "    choices: each\n"))
    assert "setting 'rule': choices must be a list" in err.problem
    err = _refusal(labelled.replace("default: each", "default: all"))
    assert "the default is not one of its choices" in err.problem
    err = _refusal(
        labelled.replace("{value: pairs, label: {zh: 两两, en: In pairs}}", "{value: x}")
    )
    assert "missing key(s) label" in err.problem


def test_a_revision_stored_before_the_bounds_rule_still_runs_its_cases(world, clock):
    """A revision stored when its settings could be unbounded (the supervision notice's time
    limits before stop 34) is read again for the cases started on it: the bounds rule, added
    since, is not applied to it, or an upgrade would stop every such case (the inbox, the
    case page and the timers read it)."""
    import re

    current = (REAL_WORKFLOWS / "supervision_notice.yaml").read_text(encoding="utf-8")
    unbounded = re.sub(r"\n    min: \d+\n    max: \d+", "", current)
    assert unbounded != current and "min:" not in unbounded.split("start:")[0]
    with pytest.raises(DefinitionError, match="needs its bounds"):
        parse(unbounded, "supervision_notice.yaml", registry().rules)
    row = WorkflowDefinition(
        workflow_id="supervision_notice",
        revision=99,
        declared_version="1.0",
        content_hash=hashlib.sha256(unbounded.encode()).hexdigest(),
        source=unbounded,
    )
    db.session.add(row)
    db.session.commit()
    old = registry().stored(row.id)
    assert old.settings["ack_days"].min is None and old.states["issued"].due is not None
