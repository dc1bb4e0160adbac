"""One transitions machine per definition version, built once and shared by every call; the
state diagram drawn once per version and language, with the case's current state marked."""

from __future__ import annotations

import pytest
import transitions

from pbflow.engine import registry as registry_module
from pbflow.engine import runtime
from pbflow.engine.registry import mermaid, registry
from tests.conftest import TEST_WORKFLOWS

REQUEST = {
    "purpose": "主题党日",
    "activity_date": "2026-03-20",
    "amount": "300",
    "budget": "资料 300",
}


@pytest.fixture
def machine_inits(monkeypatch):
    """Count every Machine (or GraphMachine) constructed."""
    count = {"n": 0}
    original = transitions.Machine.__init__

    def counting_init(self, *args, **kwargs):
        count["n"] += 1
        original(self, *args, **kwargs)

    monkeypatch.setattr(transitions.Machine, "__init__", counting_init)
    return count


def _walk(world) -> int:
    case = runtime.start("activity_funding", world.branch, world["branch_member"], REQUEST)
    runtime.fire(case.id, "submit", world["branch_member"])
    runtime.fire(case.id, "secretary_approve", world["secretary"])
    runtime.fire(case.id, "superior_approve", world["gb_secretary"])
    return case.id


def test_a_machine_is_built_once_per_version_and_reused(world, monkeypatch, machine_inits):
    built = []
    original = registry_module.build_machine

    def counting_build(d):
        built.append(d.content_hash)
        return original(d)

    monkeypatch.setattr(registry_module, "build_machine", counting_build)
    _walk(world)
    _walk(world)
    d = registry().get("activity_funding")
    assert built == [d.content_hash]
    assert machine_inits["n"] == 1
    assert registry().machine(d) is registry().machine(d)
    # Reading the files again (same text) keeps the machine: it is keyed by content.
    registry().reload()
    _walk(world)
    assert built == [d.content_hash] and machine_inits["n"] == 1


def test_the_shared_machine_holds_no_case(world):
    case_id = _walk(world)
    machine = registry().machine(registry().get("activity_funding"))
    assert machine.models == []
    assert runtime.load_case(case_id).state == "approved"


@pytest.mark.workflows_dir(TEST_WORKFLOWS)
def test_each_version_gets_its_own_machine(world, tmp_path):
    text = (TEST_WORKFLOWS / "guarded.yaml").read_text(encoding="utf-8")
    (tmp_path / "guarded.yaml").write_text(text, encoding="utf-8")
    reg = registry()
    reg.folder = tmp_path
    reg.reload()
    old = runtime.start("guarded", world.branch, world["member"], {"activist_on": "2024-01-01"})
    (tmp_path / "guarded.yaml").write_text(text.replace('version: "1"', 'version: "2"'))
    reg.reload()
    new = runtime.start("guarded", world.branch, world["member"], {"activist_on": "2024-01-01"})
    runtime.fire(old.id, "auto_close", "system")
    runtime.fire(new.id, "auto_close", "system")
    first, second = reg.stored(old.definition_id), reg.stored(new.definition_id)
    assert first.content_hash != second.content_hash
    assert reg.machine(first) is not reg.machine(second)
    assert reg.machine(first) is reg.machine(reg.stored(old.definition_id))


def _active_lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip().startswith("Class ")]


def test_mermaid_marks_the_current_state_and_is_drawn_once(world, machine_inits):
    d = registry().get("activity_funding")
    case = runtime.start("activity_funding", world.branch, world["branch_member"], REQUEST)
    runtime.fire(case.id, "submit", world["branch_member"])
    state = runtime.load_case(case.id).state

    text = mermaid(d, state, "en")
    assert text.startswith('---\ntitle: "Activity funding request"\n---\nstateDiagram-v2')
    assert 'state "Branch secretary review" as secretary_review' in text
    assert "secretary_review --> superior_review: secretary_approve" in text
    active = [line for line in _active_lines(text) if line.endswith("s_active")]
    assert active == ["Class secretary_review s_active"]
    assert "Class draft s_default" in text

    drawn = machine_inits["n"]
    again = mermaid(d, "approved", "en")
    assert [line for line in _active_lines(again) if line.endswith("s_active")] == [
        "Class approved s_active"
    ]
    assert "Class secretary_review s_default" in again
    assert machine_inits["n"] == drawn  # the cached drawing, not a new GraphMachine

    plain = mermaid(d, None, "zh")
    assert not [line for line in _active_lines(plain) if line.endswith("s_active")]
    assert 'state "支部书记审核" as secretary_review' in plain
    assert "classDef s_active" in plain  # the style stays defined


def test_diagram_command(runner):
    result = runner.invoke(
        args=["pbflow", "workflows", "diagram", "activity_funding", "--state", "approved"]
    )
    assert result.exit_code == 0
    assert "Class approved s_active" in result.output and "活动经费申请" in result.output
    result = runner.invoke(
        args=["pbflow", "workflows", "diagram", "activity_funding", "--state", "nowhere"]
    )
    assert result.exit_code == 2 and "'nowhere' is not a state" in result.output
