"""Procedures plug in through one Procedure object that create_app takes up. A procedure left
out brings nothing: no pages, links, demo data or periodic work, and a workflow file that needs
it (its own, or one naming its guards or effects) is refused at load, naming it."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from flask import Blueprint
from flask.cli import AppGroup
from sqlalchemy import func, select

from pbflow import create_app, demo
from pbflow.config import PROJECT_ROOT
from pbflow.engine.registry import gather_rules, registry
from pbflow.extensions import db
from pbflow.models import Meeting, ProcessInstance
from pbflow.procedures import SHIPPED, NavEntry, Procedure, installed, load

FUNDING_ONLY = pytest.mark.procedures(["activity_funding"])

# A workflow of a procedure still to come, borrowing a guard and an effect of two others.
TRANSFER = """\
id: transfer
version: "1"
title: {zh: 组织关系转接, en: Transfer of membership}
run_by: [branch]
start:
  by: [secretary]
  subject: applicant
  fields:
    - {name: applicant, type: person, label: {zh: 党员, en: Member}}
initial: draft
states:
  draft:
    label: {zh: 草稿, en: Draft}
  done:
    label: {zh: 完成, en: Done}
    final: true
transitions:
  - trigger: approve
    source: draft
    dest: done
    label: {zh: 同意, en: Approve}
    by: [secretary]
    guards: [{name: min_age, years: 18, at: applicant}]
    effects: [opinion_published]
"""


def _id_line(workflow_file: str) -> int:
    lines = (PROJECT_ROOT / "workflows" / workflow_file).read_text(encoding="utf-8").splitlines()
    return next(n for n, line in enumerate(lines, 1) if line.startswith("id:"))


def _load_transfer(tmp_path: Path):
    folder = tmp_path / "wf"
    folder.mkdir()
    (folder / "transfer.yaml").write_text(TRANSFER, encoding="utf-8")
    reg = registry()
    reg.folder = folder
    reg.reload()
    return reg


# --- all of them, by default ------------------------------------------------------------------


def test_every_shipped_procedure_is_installed_in_order(app, client):
    assert [p.name for p in installed()] == list(SHIPPED)
    assert registry().errors == []
    rules = registry().rules
    assert rules.guards["min_age"] is load("member_development").guards["min_age"]
    assert "not_submitter" in rules.guards and "opinion_published" in rules.effects
    assert rules.elsewhere == {}
    # The public link of the opinion box is in the top bar even before logging in.
    assert 'href="/opinions/"' in client.get("/login").get_data(as_text=True)


def test_a_file_using_installed_procedures_rules_loads(app, tmp_path):
    reg = _load_transfer(tmp_path)
    assert reg.errors == [] and "transfer" in reg.current


# --- one left out -----------------------------------------------------------------------------


@FUNDING_ONLY
def test_workflow_files_of_procedures_left_out_are_refused_naming_them(app, runner):
    assert [p.name for p in installed()] == ["activity_funding"]
    assert list(registry().current) == ["activity_funding"]
    refused = {Path(e.path).name: e for e in registry().errors}
    owner = {
        "life_meeting.yaml": ("life_meeting", "life_meeting"),
        "rectification.yaml": ("rectification", "life_meeting"),
        "opinion.yaml": ("opinion", "opinion_box"),
        "member_development.yaml": ("member_development", "member_development"),
        "supervision_notice.yaml": ("supervision_notice", "supervision"),
        "assessment_round.yaml": ("assessment_round", "assessment"),
        "assessment_appeal.yaml": ("assessment_appeal", "assessment"),
    }
    assert set(refused) == set(owner)
    for name, (workflow, procedure) in owner.items():
        assert refused[name].problem == (
            f"workflow '{workflow}' belongs to the procedure '{procedure}', which is not installed"
        )
        assert refused[name].line == _id_line(name)
    result = runner.invoke(args=["pbflow", "workflows", "check"])
    assert result.exit_code == 1
    assert "ok  activity_funding" in result.output
    line = _id_line("opinion.yaml")
    assert (
        f"opinion.yaml:{line}: workflow 'opinion' belongs to the procedure 'opinion_box', "
        "which is not installed"
    ) in result.output


@FUNDING_ONLY
def test_a_guard_or_effect_of_a_procedure_left_out_is_refused_at_load(app, tmp_path):
    reg = _load_transfer(tmp_path)
    assert "transfer" not in reg.current
    [error] = reg.errors
    assert error.problem == (
        "transition 'approve': guard 'min_age' belongs to the procedure 'member_development', "
        "which is not installed"
    )
    assert (
        error.line
        == TRANSFER.splitlines().index("    guards: [{name: min_age, years: 18, at: applicant}]")
        + 1
    )
    # Without that guard, the effect is named just as clearly.
    (reg.folder / "transfer.yaml").write_text(
        TRANSFER.replace("    guards: [{name: min_age, years: 18, at: applicant}]\n", ""),
        encoding="utf-8",
    )
    reg.reload()
    [error] = reg.errors
    assert error.problem == (
        "transition 'approve': effect 'opinion_published' belongs to the procedure "
        "'opinion_box', which is not installed"
    )


@FUNDING_ONLY
def test_pages_links_and_periodic_work_of_a_procedure_left_out_are_absent(
    world, client, auth, runner
):
    auth.login("secretary")
    home = client.get("/").get_data(as_text=True)
    for prefix in ("/opinions/", "/meetings/", "/development/"):
        assert f'href="{prefix}"' not in home
        assert client.get(prefix).status_code == 404
    result = runner.invoke(args=["pbflow", "tick"])
    assert result.exit_code == 0
    assert result.output.startswith("reminded 0") and "meetings:" not in result.output


@FUNDING_ONLY
def test_demo_data_of_a_procedure_left_out_is_not_loaded(app, clock):
    assert demo.load_if_empty() is not None
    workflows = db.session.execute(select(ProcessInstance.workflow_id).distinct()).scalars()
    assert set(workflows) == {"activity_funding"}
    assert db.session.execute(select(func.count()).select_from(Meeting)).scalar() == 0


# --- a procedure of one's own -----------------------------------------------------------------

greetings_cli = AppGroup("greetings", help="A procedure's own commands.")


@greetings_cli.command("hello")
def _hello() -> None:
    click.echo("hello from a procedure")


greetings_pages = Blueprint("greetings", __name__, url_prefix="/greetings")


@greetings_pages.get("/", endpoint="index")
def _greetings_index() -> str:
    return "the greetings page"


GREETINGS = Procedure(
    name="greetings",
    blueprint=greetings_pages,
    cli=greetings_cli,
    nav=(NavEntry("greetings.index", "Greetings", public=True),),
)


@pytest.mark.procedures(["activity_funding", GREETINGS])
def test_a_procedure_brings_its_pages_links_and_commands(app, client, runner):
    assert [p.name for p in installed()] == ["activity_funding", "greetings"]
    assert client.get("/greetings/").get_data(as_text=True) == "the greetings page"
    assert '<a href="/greetings/">Greetings</a>' in client.get("/login").get_data(as_text=True)
    result = runner.invoke(args=["pbflow", "greetings", "hello"])
    assert result.exit_code == 0 and result.output == "hello from a procedure\n"


def test_the_shared_commands_are_not_changed_by_a_procedure_s_own(app, runner):
    assert "greetings" not in runner.invoke(args=["pbflow", "--help"]).output


# --- mistakes in the code or the configuration stop the app -----------------------------------


@pytest.mark.parametrize("typo", ["opinions", "opinion-box", "../opinion_box"])
def test_an_unknown_procedure_name_stops_the_app(tmp_path, typo):
    config = {
        "INSTANCE_PATH": tmp_path,
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'x.sqlite3'}",
        "SECRET_KEY": "test",
        "PBFLOW_PROCEDURES": ["activity_funding", typo],
    }
    with pytest.raises(ValueError) as exc:
        create_app(config)
    assert str(exc.value) == (
        f"PBFLOW_PROCEDURES: there is no procedure '{typo}' (shipped: " + ", ".join(SHIPPED) + ")"
    )


def test_a_procedure_named_twice_stops_the_app(tmp_path):
    config = {
        "INSTANCE_PATH": tmp_path,
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'x.sqlite3'}",
        "SECRET_KEY": "test",
        "PBFLOW_PROCEDURES": ["activity_funding", "opinion_box", "activity_funding"],
    }
    with pytest.raises(ValueError) as exc:
        create_app(config)
    assert str(exc.value) == "PBFLOW_PROCEDURES names activity_funding more than once"


def test_a_guard_or_effect_name_may_be_registered_once():
    development = load("member_development")
    copy = Procedure(name="copy", guards={"min_age": development.guards["min_age"]})
    with pytest.raises(ValueError) as exc:
        gather_rules([development, copy])
    assert str(exc.value) == (
        "guard 'min_age' of the procedure 'copy' is already registered by the procedure "
        "'member_development'"
    )
    mine = Procedure(name="mine", effects={"set_date": development.effects["set_party_status"]})
    with pytest.raises(ValueError) as exc:
        gather_rules([mine])
    assert str(exc.value) == (
        "effect 'set_date' of the procedure 'mine' is already registered by the engine"
    )
