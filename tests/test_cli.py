"""``flask --app app pbflow ...``: every command once the right way, and each bad argument
refused with a clear message, exit status 1 (refusal) or 2 (usage), nothing written and no
traceback."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text

from pbflow import audit, create_app
from pbflow.engine import runtime
from pbflow.extensions import db
from pbflow.models import (
    AuditEvent,
    Organization,
    ProcessInstance,
    RoleAssignment,
    User,
    WorkflowDefinition,
)
from pbflow.services import accounts
from tests.conftest import BACKENDS, PASSWORD, PG_URL

ROOT = Path(__file__).resolve().parent.parent
FUNDING = ROOT / "workflows" / "activity_funding.yaml"
FIELDS = [
    "purpose=主题党日",
    "activity_date=2026-03-20",
    "amount=8000",
    "budget=交通 8000",
]


def run(runner, *args: str, input: str | None = None):
    """Invoke ``pbflow ARGS``; whatever the outcome, never a traceback."""
    result = runner.invoke(args=["pbflow", *args], input=input)
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"uncaught {result.exception!r}\n{result.output}"
    )
    assert "Traceback" not in result.output
    return result


def _count(model) -> int:
    return db.session.execute(select(func.count()).select_from(model)).scalar()


class Unchanged:
    """Asserts that a block wrote nothing: no audit event, the same rows counted."""

    def __init__(self, *models):
        self.models = models

    def __enter__(self):
        self.before = audit.head(), [_count(m) for m in self.models]
        return self

    def __exit__(self, *exc):
        if exc[0] is None:
            db.session.rollback()
            assert (audit.head(), [_count(m) for m in self.models]) == self.before


# --- init on a fresh database ----------------------------------------------------------------


@pytest.fixture(params=BACKENDS)
def fresh_app(request, tmp_path):
    """An app on a brand-new, empty database (no schema at all), as on a first install."""
    config = {
        "TESTING": True,
        "SECRET_KEY": "t",
        "INSTANCE_PATH": tmp_path,
        "PBFLOW_PASSWORD_METHOD": "pbkdf2:sha256:1000",
    }
    admin = None
    if request.param == "sqlite":
        config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
    else:
        name = f"pbflow_init_{uuid.uuid4().hex[:10]}"
        admin = create_engine(PG_URL.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        config["SQLALCHEMY_DATABASE_URI"] = PG_URL.rsplit("/", 1)[0] + "/" + name
    app = create_app(config)
    yield app
    with app.app_context():
        db.engine.dispose()
    if admin is not None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _in(app, fn):
    with app.app_context():
        return fn()


def test_init_creates_the_schema_and_stores_the_workflows_idempotently(fresh_app):
    runner = fresh_app.test_cli_runner()
    first = run(runner, "init")
    assert first.exit_code == 0, first.output
    assert "database ready; workflows stored:" in first.output
    assert "activity_funding" in first.output

    def state():
        return (
            audit.head(),
            _count(WorkflowDefinition),
            [a for (a,) in db.session.execute(select(AuditEvent.action))],
        )

    head, stored, actions = _in(fresh_app, state)
    assert stored >= 1 and set(actions) == {"definition_loaded"}
    assert _in(fresh_app, audit.verify_database).ok

    second = run(runner, "init")
    assert second.exit_code == 0, second.output
    assert _in(fresh_app, state) == (head, stored, actions)

    # The append-only triggers came with the schema.
    def update_event():
        with db.engine.connect() as conn:
            conn.execute(text("UPDATE audit_event SET action = 'x' WHERE seq = 1"))

    with pytest.raises(Exception, match="append-only"):
        _in(fresh_app, update_event)


@pytest.mark.slow
def test_init_demo_loads_once_and_prints_the_logins(fresh_app):
    runner = fresh_app.test_cli_runner()
    first = run(runner, "init", "--demo")
    assert first.exit_code == 0, first.output
    assert "demo data loaded" in first.output
    assert "Demo logins (password for all: pbflow-demo)" in first.output
    assert "admin" in first.output
    counts = _in(fresh_app, lambda: (_count(Organization), _count(User), audit.head()))
    assert counts[0] >= 3 and counts[1] >= 5

    second = run(runner, "init", "--demo")
    assert second.exit_code == 0, second.output
    assert "demo data already present; left as it is" in second.output
    assert "Demo logins" in second.output
    assert _in(fresh_app, lambda: (_count(Organization), _count(User), audit.head())) == counts
    assert _in(fresh_app, audit.verify_database).ok


def test_init_refuses_an_invalid_workflow_file_by_name(tmp_path, monkeypatch):
    folder = tmp_path / "workflows"
    folder.mkdir()
    (folder / "broken.yaml").write_text("id: broken\nstates: [\n", encoding="utf-8")
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "t",
            "INSTANCE_PATH": tmp_path,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'fresh.sqlite3'}",
            "PBFLOW_WORKFLOWS_DIR": str(folder),
        }
    )
    result = run(app.test_cli_runner(), "init")
    assert result.exit_code == 1
    assert "broken.yaml" in result.output
    with app.app_context():
        assert _count(WorkflowDefinition) == 0
        db.engine.dispose()


# --- users and organizations ----------------------------------------------------------------


def test_user_create(world, runner):
    ok = run(runner, "user", "create", "newbie", "--name", "New Bie", "--password", PASSWORD)
    assert ok.exit_code == 0 and "created user newbie" in ok.output
    user = accounts.get_user("newbie")
    assert user.display_name == "New Bie" and user.password_hash != PASSWORD
    assert accounts.authenticate("newbie", PASSWORD).id == user.id

    with Unchanged(User):
        dup = run(runner, "user", "create", "newbie", "--name", "Again", "--password", PASSWORD)
    assert dup.exit_code == 1 and "username: is already taken" in dup.output
    with Unchanged(User):
        short = run(runner, "user", "create", "shorty", "--name", "S", "--password", "abc")
    assert short.exit_code == 1 and "password: must be at least 8 characters" in short.output
    with Unchanged(User):
        bad = run(runner, "user", "create", "bad name!", "--name", "B", "--password", PASSWORD)
    assert bad.exit_code == 1 and "username:" in bad.output
    with Unchanged(User):
        locale = run(runner, "user", "create", "x", "--name", "X", "--password", PASSWORD,
                     "--locale", "fr")  # fmt: skip
    assert locale.exit_code == 2


def test_user_create_prompts_for_the_password_twice(world, runner):
    result = run(
        runner,
        "user",
        "create",
        "prompted",
        "--name",
        "P",
        input=f"{PASSWORD}\n{PASSWORD}\n",
    )
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output
    assert accounts.authenticate("prompted", PASSWORD).username == "prompted"


def test_user_set_role_and_revoke(world, runner):
    granted = run(runner, "user", "set-role", "member", "b1", "group_leader")
    assert granted.exit_code == 0 and "member holds group_leader at b1" in granted.output
    roles = select(RoleAssignment.role).where(RoleAssignment.user_id == world["member"].id)
    assert "group_leader" in db.session.execute(roles).scalars().all()
    assert (
        db.session.execute(select(AuditEvent.action).order_by(AuditEvent.seq.desc()))
        .scalars()
        .first()
        == "role_granted"
    )

    revoked = run(runner, "user", "set-role", "member", "b1", "group_leader", "--revoke")
    assert revoked.exit_code == 0 and "no longer holds group_leader" in revoked.output
    assert "group_leader" not in db.session.execute(roles).scalars().all()

    with Unchanged(RoleAssignment):
        again = run(runner, "user", "set-role", "member", "b1", "group_leader", "--revoke")
    assert again.exit_code == 1 and "does not hold group_leader" in again.output


@pytest.mark.parametrize(
    ("args", "status", "message"),
    [
        (["member", "b1", "pope"], 2, "unknown role 'pope'"),
        (["nobody", "b1", "member"], 1, "No user named 'nobody'"),
        (["member", "nowhere", "member"], 1, "No organization with code 'nowhere'"),
        (["member", "b1"], 2, "Missing argument"),
    ],
)
def test_user_set_role_refusals(world, runner, args, status, message):
    with Unchanged(RoleAssignment):
        result = run(runner, "user", "set-role", *args)
    assert result.exit_code == status
    assert message in result.output


def test_user_unlock(world, runner):
    for _ in range(3):
        with pytest.raises(accounts.LoginRefused):
            accounts.authenticate("member", "wrong password")
    with pytest.raises(accounts.LoginRefused, match="locked"):
        accounts.authenticate("member", PASSWORD)

    result = run(runner, "user", "unlock", "member")
    assert result.exit_code == 0 and "member unlocked" in result.output
    assert accounts.authenticate("member", PASSWORD).username == "member"

    with Unchanged(User):
        unknown = run(runner, "user", "unlock", "nobody")
    assert unknown.exit_code == 1 and "No user named 'nobody'" in unknown.output


def test_user_deactivate(world, runner):
    result = run(runner, "user", "deactivate", "member")
    assert result.exit_code == 0 and "member deactivated" in result.output
    with pytest.raises(accounts.LoginRefused, match="deactivated"):
        accounts.authenticate("member", PASSWORD)
    with Unchanged(User):
        unknown = run(runner, "user", "deactivate", "nobody")
    assert unknown.exit_code == 1 and "No user named 'nobody'" in unknown.output


def test_org_create_and_list(world, runner):
    result = run(
        runner, "org", "create", "b7", "掘进队党支部", "--kind", "branch", "--parent", "gb1"
    )
    assert result.exit_code == 0 and "created branch b7" in result.output
    org = accounts.get_org("b7")
    assert org.parent_id == world.general_branch.id
    assert org.path == f"{world.general_branch.path}{org.id}/"

    listed = run(runner, "org", "list")
    assert listed.exit_code == 0
    lines = listed.output.splitlines()
    assert lines[0].startswith("coal") and any(line.startswith("    b7") for line in lines)


@pytest.mark.parametrize(
    ("args", "status", "message"),
    [
        (["x1", "X", "--kind", "branch", "--parent", "nowhere"], 1, "No organization with code"),
        (["x1", "X", "--kind", "committee", "--parent", "b1"], 1, "must be below its parent"),
        (["x1", "X", "--kind", "general_branch", "--parent", "b1"], 1, "must be below"),
        (["x1", "X", "--kind", "branch"], 1, "only a party committee may stand at the top"),
        (["b1", "X", "--kind", "branch", "--parent", "gb1"], 1, "code: is already taken"),
        (["x 1", "X", "--kind", "branch", "--parent", "gb1"], 1, "code: use letters"),
        (["x1", " ", "--kind", "branch", "--parent", "gb1"], 1, "name: is required"),
        (["x1", "X", "--kind", "cell", "--parent", "gb1"], 2, "Invalid value for '--kind'"),
        (["x1", "X", "--parent", "gb1"], 2, "Missing option '--kind'"),
    ],
)
def test_org_create_refusals(world, runner, args, status, message):
    with Unchanged(Organization):
        result = run(runner, "org", "create", *args)
    assert result.exit_code == status
    assert message in result.output


# --- workflows -------------------------------------------------------------------------------


def test_workflows_check_passes_on_the_shipped_files(app, runner):
    everything = run(runner, "workflows", "check")
    assert everything.exit_code == 0, everything.output
    assert "ok  activity_funding (version 1.0" in everything.output

    one = run(runner, "workflows", "check", str(FUNDING))
    assert one.exit_code == 0
    assert one.output.startswith("ok  activity_funding")


def test_workflows_check_names_the_bad_file_and_line(app, runner, tmp_path):
    source = FUNDING.read_text(encoding="utf-8")
    lines = source.splitlines()
    target = next(i for i, line in enumerate(lines) if line.strip() == "dest: secretary_review")
    lines[target] = lines[target].replace("secretary_review", "nowhere")
    bad = tmp_path / "bad_funding.yaml"
    bad.write_text("\n".join(lines) + "\n", encoding="utf-8")

    result = run(runner, "workflows", "check", str(FUNDING), str(bad))
    assert result.exit_code == 1
    assert "ok  activity_funding" in result.output
    error = next(line for line in result.output.splitlines() if line.startswith("ERROR"))
    assert f"{bad}:" in error and "nowhere" in error
    line_number = int(error.split(f"{bad}:", 1)[1].split(":", 1)[0])
    assert abs(line_number - (target + 1)) <= 3  # the transition that names it

    syntax = tmp_path / "syntax.yaml"
    syntax.write_text("id: x\nstates:\n  a: [unclosed\n", encoding="utf-8")
    result = run(runner, "workflows", "check", str(syntax))
    assert result.exit_code == 1 and f"ERROR {syntax}" in result.output

    missing = run(runner, "workflows", "check", str(tmp_path / "missing.yaml"))
    assert missing.exit_code == 2 and "does not exist" in missing.output


def test_workflows_diagram(app, runner):
    result = run(runner, "workflows", "diagram", "activity_funding", "--state", "draft")
    assert result.exit_code == 0
    assert "stateDiagram" in result.output
    assert "class draft s_active" in result.output.lower()  # mermaid keywords ignore case
    assert "class secretary_review s_default" in result.output.lower()
    assert 'state "草稿" as draft' in result.output
    english = run(runner, "workflows", "diagram", "activity_funding", "--lang", "en")
    assert 'state "Draft" as draft' in english.output and "draft s_active" not in english.output

    unknown_state = run(runner, "workflows", "diagram", "activity_funding", "--state", "limbo")
    assert unknown_state.exit_code == 2
    assert "'limbo' is not a state of activity_funding" in unknown_state.output
    unknown = run(runner, "workflows", "diagram", "no_such_flow")
    assert unknown.exit_code == 1 and "unknown workflow 'no_such_flow'" in unknown.output


def test_workflows_list(app, runner):
    result = run(runner, "workflows", "list")
    assert result.exit_code == 0
    assert "activity_funding  活动经费申请 / Activity funding request" in result.output


# --- cases -----------------------------------------------------------------------------------


def _fields(*items: str) -> list[str]:
    out = []
    for item in items:
        out += ["--field", item]
    return out


def _start(runner) -> dict:
    result = run(
        runner,
        "start",
        "activity_funding",
        "--org",
        "b1",
        "--as",
        "branch_member",
        *_fields(*FIELDS),
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_a_case_driven_from_the_command_line(world, runner):
    case = _start(runner)
    assert case["state"] == "draft" and case["workflow"] == "activity_funding"
    assert case["data"]["purpose"] == "主题党日" and case["version"] == 1

    actions = run(runner, "actions", str(case["id"]), "--as", "branch_member")
    assert actions.exit_code == 0
    assert any(line.startswith("ok      submit") for line in actions.output.splitlines())

    fired = run(runner, "fire", str(case["id"]), "submit", "--as", "branch_member")
    assert fired.exit_code == 0, fired.output
    assert json.loads(fired.output)["state"] == "secretary_review"

    returned = run(
        runner,
        "fire",
        str(case["id"]),
        "return_for_changes",
        "--as",
        "secretary",
        "--comment",
        "请列明交通费",
        "--expected-version",
        "2",
    )
    assert returned.exit_code == 0, returned.output
    shown = run(runner, "show", str(case["id"]))
    assert json.loads(shown.output)["state"] == "draft"
    assert json.loads(shown.output)["version"] == 3
    assert audit.verify_database().ok


@pytest.mark.parametrize(
    ("args", "status", "message"),
    [
        (["fire", "{id}", "secretary_approve", "--as", "secretary"], 1, "not possible"),
        (["fire", "{id}", "submit", "--as", "member"], 1, "You may not take this step"),
        (["fire", "{id}", "no_such_step", "--as", "secretary"], 1, "Unknown step 'no_such_step'"),
        (["fire", "{id}", "submit", "--as", "nobody"], 1, "No user named 'nobody'"),
        (
            ["fire", "{id}", "submit", "--as", "branch_member", "--expected-version", "7"],
            1,
            "reload",
        ),  # fmt: skip
        (
            ["fire", "{id}", "submit", "--as", "branch_member", "--field", "amount"],
            2,
            "'amount' is not name=value",
        ),  # fmt: skip
        (["fire", "99999", "submit", "--as", "branch_member"], 1, "No such case"),
        (["fire", "abc", "submit", "--as", "branch_member"], 2, "'abc' is not a valid integer"),
        (["fire", "{id}", "submit"], 2, "Missing option '--as'"),
        (["actions", "99999", "--as", "secretary"], 1, "No such case"),
        (["show", "99999"], 1, "No such case"),
        (
            ["start", "activity_funding", "--org", "b1", "--as", "member", *_fields(*FIELDS)],
            1,
            "may not",
        ),  # fmt: skip
        (
            [
                "start",
                "activity_funding",
                "--org",
                "b1",
                "--as",
                "secretary",
                "--field",
                "amount=lots",
                "--field",
                "purpose=x",
            ],
            1,
            "amount:",
        ),  # fmt: skip
        (
            ["start", "activity_funding", "--org", "b1", "--as", "secretary", "--field", "purpose"],
            2,
            "'purpose' is not name=value",
        ),  # fmt: skip
        (
            ["start", "no_such_flow", "--org", "b1", "--as", "secretary"],
            1,
            "unknown workflow 'no_such_flow'",
        ),  # fmt: skip
        (
            ["start", "activity_funding", "--org", "nowhere", "--as", "secretary"],
            1,
            "No organization with code 'nowhere'",
        ),  # fmt: skip
    ],
)
def test_refused_case_commands_write_nothing(world, runner, args, status, message):
    case = _start(runner)
    args = [a.replace("{id}", str(case["id"])) for a in args]
    with Unchanged(ProcessInstance):
        result = run(runner, *args)
    assert result.exit_code == status, result.output
    assert message in result.output
    assert runtime.load_case(case["id"]).state == "draft"


def test_vote_cast(world, runner):
    case_id = _start(runner)["id"]
    for trigger, who in [
        ("submit", "branch_member"),
        ("secretary_approve", "secretary"),
        ("forward_to_committee", "gb_secretary"),
    ]:
        assert run(runner, "fire", str(case_id), trigger, "--as", who).exit_code == 0

    first = run(runner, "vote", "cast", str(case_id), "for", "--as", "committee_a")
    assert first.exit_code == 0 and first.output.strip() == "ballot recorded"

    with Unchanged(ProcessInstance):
        twice = run(runner, "vote", "cast", str(case_id), "against", "--as", "committee_a")
    assert twice.exit_code == 1 and "already voted" in twice.output
    with Unchanged(ProcessInstance):
        outsider = run(runner, "vote", "cast", str(case_id), "for", "--as", "member")
    assert outsider.exit_code == 1 and "not entitled" in outsider.output
    with Unchanged(ProcessInstance):
        bad = run(runner, "vote", "cast", str(case_id), "maybe", "--as", "committee_b")
    assert bad.exit_code == 2 and "'maybe' is not one of" in bad.output

    deciding = run(runner, "vote", "cast", str(case_id), "for", "--as", "committee_b")
    assert deciding.exit_code == 0 and "ballot recorded; vote passed" in deciding.output
    assert runtime.load_case(case_id).state == "approved"


# --- timers ----------------------------------------------------------------------------------


def test_tick_refuses_a_bad_time(world, runner):
    with Unchanged(ProcessInstance):
        result = run(runner, "tick", "--now", "next tuesday")
    assert result.exit_code == 2 and "use ISO 8601" in result.output


def test_tick_reads_a_time_with_an_offset_as_that_instant(world, runner):
    case_id = _start(runner)["id"]
    run(runner, "fire", str(case_id), "submit", "--as", "branch_member")
    due = db.session.get(ProcessInstance, case_id).due_at
    assert due is not None
    # One hour after the limit, written as local time ten hours behind UTC: read naively as
    # UTC it would be nine hours before the limit and the case would not be overdue.
    after = (due + timedelta(hours=1)).replace(tzinfo=UTC)
    when = after.astimezone(timezone(timedelta(hours=-10))).isoformat()

    assert run(runner, "rehearsal", "start").exit_code == 0  # --now only on a rehearsal copy
    result = run(runner, "tick", "--now", when)
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    assert db.session.get(ProcessInstance, case_id).overdue_at == due + timedelta(hours=1)

    again = run(runner, "tick", "--now", when)
    assert again.exit_code == 0
    assert db.session.get(ProcessInstance, case_id).overdue_at == due + timedelta(hours=1)


def test_tick_without_a_time_uses_the_clock(world, runner, clock):
    case_id = _start(runner)["id"]
    run(runner, "fire", str(case_id), "submit", "--as", "branch_member")
    due = db.session.get(ProcessInstance, case_id).due_at
    clock.set(due + timedelta(minutes=5))
    assert run(runner, "tick").exit_code == 0
    db.session.expire_all()
    assert db.session.get(ProcessInstance, case_id).overdue_at == due + timedelta(minutes=5)
