"""``flask --app app pbflow ...``: set-up, accounts, workflows, cases, timers and the audit trail.

Commands call the same service functions as the pages; a refusal prints its reason and exits
with status 1, a malformed command line exits with status 2 (click's usage error).
"""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Callable, Sequence
from datetime import UTC
from functools import wraps
from typing import TYPE_CHECKING, Any

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from pbflow import validation
from pbflow.engine.errors import DomainError

if TYPE_CHECKING:
    from pbflow.procedures import Procedure

pbflow_cli = AppGroup("pbflow", help="pbflow administration.")
# Bounded like every id and count the pages take (pbflow.validation): a number out of range is
# a usage error (exit status 2), not an overflow in the database driver.
ID = click.IntRange(1, validation.MAX_ID)
COUNT = click.IntRange(0, validation.MAX_INT)


class ChainHash(click.ParamType):
    """A head hash of the audit chain as printed by ``audit head``: 64 hexadecimal digits
    (spaces and capitals from a copy out of the minutes are tolerated)."""

    name = "hash"

    def convert(self, value: Any, param: Any, ctx: Any) -> str:
        text = "".join(str(value).split()).lower()
        if len(text) != 64 or any(c not in "0123456789abcdef" for c in text):
            self.fail(f"'{value}' is not a head hash (64 hexadecimal digits)", param, ctx)
        return text


def domain_errors(fn: Callable) -> Callable:
    """Turn refusals into a one-line message and exit status 1."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except DomainError as exc:
            raise click.ClickException(str(exc)) from None

    return wrapper


def _user(username: str):
    from pbflow.services import accounts

    return accounts.get_user(username)


def _pairs(items: tuple[str, ...]) -> dict[str, Any]:
    """``name=value`` options; a repeated name gathers a list (for persons fields)."""
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise click.BadParameter(f"'{item}' is not name=value", param_hint="--field")
        name, value = item.split("=", 1)
        name = name.strip()
        if name in out:
            out[name] = (out[name] if isinstance(out[name], list) else [out[name]]) + [value]
        else:
            out[name] = value
    return out


# --- set-up -------------------------------------------------------------------------------


@pbflow_cli.command("init")
@click.option("--demo", is_flag=True, help="Load demo data if the database has no organizations.")
@domain_errors
def init_cmd(demo: bool) -> None:
    """Create or upgrade the database, store workflow versions, optionally load demo data."""
    from pbflow.services import setup

    setup.upgrade_database()
    stored = setup.sync_workflows()
    click.echo(f"database ready; workflows stored: {', '.join(stored) or 'none'}")
    # No checkpoint here (init may run as the tables' owner, before pbflow serves);
    # the next tick (or `audit head`) signs what init wrote.
    if demo:
        from pbflow import demo as demo_data

        logins = demo_data.load_if_empty()
        if logins is None:
            click.echo("demo data already present; left as it is")
        else:
            click.echo("demo data loaded")
        click.echo(demo_data.logins_text())


@pbflow_cli.command("seed")
@click.option(
    "--scale", type=click.IntRange(1, 1_000_000), required=True, help="How many cases to add."
)
@click.option("--seed", "seed_number", type=click.IntRange(0, 1_000_000), default=1,
              help="The random seed: the same number gives the same data set.")  # fmt: skip
@click.option("--years", type=click.IntRange(1, 20), default=3, help="Years of history.")
@domain_errors
def seed_cmd(scale: int, seed_number: int, years: int) -> None:
    """Add a large realistic data set (organizations, people, cases, meetings, audit trail)."""
    from pbflow.services import seed

    report = seed.seed(scale, seed_number, years=years)
    click.echo(report.summary())


# --- organizations and users ---------------------------------------------------------------

org_cli = AppGroup("org", help="Organizations.")
pbflow_cli.add_command(org_cli)


@org_cli.command("create")
@click.argument("code")
@click.argument("name")
@click.option(
    "--kind",
    required=True,
    type=click.Choice(["committee", "general_branch", "branch", "party_group"]),
)
@click.option("--parent", "parent_code", help="Code of the parent organization.")
@click.option("--name-en", help="English name.")
@domain_errors
def org_create(
    code: str, name: str, kind: str, parent_code: str | None, name_en: str | None
) -> None:
    """Create an organization under PARENT."""
    from pbflow.services import accounts

    parent = accounts.get_org(parent_code) if parent_code else None
    org = accounts.create_org(code, name, kind, parent, name_en=name_en)
    click.echo(f"created {org.kind} {org.code} (id {org.id})")


@org_cli.command("list")
def org_list() -> None:
    from sqlalchemy import select

    from pbflow.extensions import db
    from pbflow.models import Organization

    for org in db.session.execute(select(Organization).order_by(Organization.path)).scalars():
        depth = org.path.count("/") - 2
        click.echo(f"{'  ' * depth}{org.code}  {org.name}  [{org.kind}]")


user_cli = AppGroup("user", help="User accounts and roles.")
pbflow_cli.add_command(user_cli)


@user_cli.command("create")
@click.argument("username")
@click.option("--name", "display_name", required=True, help="Name shown in pages.")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option("--locale", type=click.Choice(["zh", "en"]))
@domain_errors
def user_create(username: str, display_name: str, password: str, locale: str | None) -> None:
    """Create a login account."""
    from pbflow.services import accounts

    user = accounts.create_user(username, display_name, password, locale=locale)
    click.echo(f"created user {user.username} (id {user.id})")


@user_cli.command("set-role")
@click.argument("username")
@click.argument("org_code")
@click.argument("role")
@click.option("--revoke", is_flag=True, help="Take the role away instead.")
@domain_errors
def user_set_role(username: str, org_code: str, role: str, revoke: bool) -> None:
    """Grant (or with --revoke take away) ROLE at organization ORG_CODE."""
    from pbflow.models.people import ROLES
    from pbflow.services import accounts

    if role not in ROLES:
        raise click.BadParameter(
            f"unknown role '{role}' (known: {', '.join(ROLES)})", param_hint="ROLE"
        )
    user, org = accounts.get_user(username), accounts.get_org(org_code)
    if revoke:
        accounts.revoke_role(user, org, role)
        click.echo(f"{username} no longer holds {role} at {org_code}")
    else:
        accounts.grant_role(user, org, role)
        click.echo(f"{username} holds {role} at {org_code}")


@user_cli.command("unlock")
@click.argument("username")
@domain_errors
def user_unlock(username: str) -> None:
    """Clear a lockout after repeated failed logins."""
    from pbflow.services import accounts

    accounts.unlock(_user(username))
    click.echo(f"{username} unlocked")


@user_cli.command("deactivate")
@click.argument("username")
@domain_errors
def user_deactivate(username: str) -> None:
    """Stop an account from logging in; its history stays."""
    from pbflow.services import accounts

    accounts.set_active(_user(username), False)
    click.echo(f"{username} deactivated")


# --- work waiting (the case_task table) ---------------------------------------------------

tasks_cli = AppGroup("tasks", help="Work waiting: who each open case waits on (case_task).")
pbflow_cli.add_command(tasks_cli)


@tasks_cli.command("check")
@click.option("--fix", is_flag=True, help="Rewrite the rows of the cases that differ.")
def tasks_check(fix: bool) -> None:
    """Recompute who every open case waits on and compare with the stored rows (exit 1 when
    they differ and --fix was not given)."""
    from pbflow.services import inbox

    report = inbox.check_tasks(fix=fix)
    click.echo(report.summary())
    if fix and not report.ok:
        click.echo(f"rewritten: {len(report.wrong)} cases")
    elif not report.ok:
        sys.exit(1)


# --- figures kept as data (case_tally, training_total) ----------------------------------------

figures_cli = AppGroup(
    "figures",
    help="Figures kept as data: cases counted per month (case_tally), members' training"
    " minutes per year (training_total).",
)
pbflow_cli.add_command(figures_cli)


@figures_cli.command("check")
@click.option("--fix", is_flag=True, help="Rewrite the rows that differ.")
def figures_check(fix: bool) -> None:
    """Recompute what every case counts for in the dashboards' figures, and every member's
    training minutes of a year, and compare with the stored counts (exit 1 when they differ
    and --fix was not given)."""
    from pbflow.engine import tally
    from pbflow.services import training_totals

    wrong = False
    for report in (tally.check(fix=fix), training_totals.check(fix=fix)):
        click.echo(report.summary())
        if fix and not report.ok:
            click.echo(f"rewritten: {len(report.wrong)} rows")
        wrong = wrong or not report.ok
    if wrong and not fix:
        sys.exit(1)


# --- the security log ----------------------------------------------------------------------

security_cli = AppGroup(
    "security", help="The security log: logins, lockouts, logouts, own account changes."
)
pbflow_cli.add_command(security_cli)


@security_cli.command("verify")
@click.option(
    "--file",
    "path",
    type=click.Path(dir_okay=False),
    help="Verify an export (JSON Lines) instead of the database.",
)
def security_verify(path: str | None) -> None:
    """Walk the security log's hash chain; name the first broken event (exit 1 when broken)."""
    from pbflow import security_log

    if path:
        try:
            with open(path, encoding="utf-8") as fh:
                result = security_log.verify_rows(security_log.read_export(fh))
        except OSError as exc:
            raise click.ClickException(f"cannot read {path}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise click.ClickException(f"{path}: not a UTF-8 text file") from None
        except ValueError as exc:
            raise click.ClickException(f"{path}: {exc}") from None
    else:
        result = security_log.verify_database()
    click.echo(result.summary())
    if not result.ok:
        sys.exit(1)


@security_cli.command("export")
@click.option("--out", "path", type=click.Path(dir_okay=False), help="File (default stdout).")
def security_export(path: str | None) -> None:
    """Write every security event as JSON Lines, with hashes, for offline verification."""
    from pbflow import security_log

    if path:
        try:
            with open(path, "w", encoding="utf-8") as fh:
                n = security_log.export(fh)
        except OSError as exc:
            raise click.ClickException(f"cannot write {path}: {exc.strerror}") from None
        click.echo(f"exported {n} security events to {path}", err=True)
    else:
        security_log.export(sys.stdout)


@security_cli.command("head")
def security_head() -> None:
    """Print the security log's latest sequence number and hash."""
    from pbflow import security_log

    seq, digest = security_log.head()
    click.echo(f"{seq} {digest}")


# --- workflows ------------------------------------------------------------------------------

wf_cli = AppGroup("workflows", help="Workflow definitions.")
pbflow_cli.add_command(wf_cli)


@wf_cli.command("check")
@click.argument("files", nargs=-1, type=click.Path(exists=True, dir_okay=False))
def wf_check(files: tuple[str, ...]) -> None:
    """Validate the workflow files (all of workflows/, or the FILES given) against the
    generic guards and effects and those of the installed procedures."""
    from pathlib import Path

    from pbflow.engine.definitions import load_dir, load_file
    from pbflow.engine.errors import DefinitionError
    from pbflow.engine.registry import registry

    rules = registry().rules
    errors: list[DefinitionError] = []
    found = []
    if files:
        for f in files:
            try:
                found.append(load_file(Path(f), rules))
            except DefinitionError as exc:
                errors.append(exc)
    else:
        defs, errors = load_dir(Path(current_app.config["PBFLOW_WORKFLOWS_DIR"]), rules)
        found = list(defs.values())
    for d in found:
        click.echo(
            f"ok  {d.id} (version {d.version}, {len(d.states)} states, "
            f"{len(d.transitions)} transitions)"
        )
    for exc in errors:
        click.echo(f"ERROR {exc}", err=True)
    if errors:
        sys.exit(1)


@wf_cli.command("diagram")
@click.argument("workflow_id")
@click.option("--state", help="Highlight this state.")
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh")
@domain_errors
def wf_diagram(workflow_id: str, state: str | None, lang: str) -> None:
    """Print the state diagram in mermaid syntax."""
    from pbflow.engine.registry import mermaid, registry

    d = registry().get(workflow_id)
    if state and state not in d.states:
        raise click.BadParameter(f"'{state}' is not a state of {workflow_id}", param_hint="--state")
    click.echo(mermaid(d, state, lang))


@wf_cli.command("list")
def wf_list() -> None:
    from pbflow.engine.registry import registry

    for d in registry().current.values():
        click.echo(f"{d.id}  {d.title.zh} / {d.title.en}  (version {d.version})")


# --- cases --------------------------------------------------------------------------------


def _print_case(case_id: int) -> None:
    from pbflow.engine.runtime import load_case

    cs = load_case(case_id)
    click.echo(
        json.dumps(
            {
                "id": cs.id,
                "workflow": cs.workflow_id,
                "state": cs.state,
                "version": cs.version,
                "data": cs.data,
            },
            ensure_ascii=False,
            default=str,
        )
    )


def _uploads(items: tuple[str, ...]) -> dict[str, Any]:
    """``name=PATH`` options: the files of a form's file fields, uploaded with the command.

    A file field cannot name a stored file by its id (a file belongs to one owner for good),
    so the CLI, like the pages, takes the file itself."""
    from pathlib import Path

    from pbflow.services.attachments import Upload

    out: dict[str, Any] = {}
    for name, path in _pairs(items).items():
        if isinstance(path, list):
            raise click.BadParameter(f"'{name}' is given twice", param_hint="--file")
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise click.BadParameter(
                f"cannot read {path}: {exc.strerror}", param_hint="--file"
            ) from None
        out[name] = Upload(Path(path).name, io.BytesIO(data))
    return out


@pbflow_cli.command("start")
@click.argument("workflow_id")
@click.option("--org", "org_code", required=True)
@click.option("--as", "username", required=True, help="Acting user.")
@click.option("--field", "-f", "field_items", multiple=True, help="name=value, repeatable.")
@click.option("--file", "file_items", multiple=True, help="name=PATH of a file field, repeatable.")
@domain_errors
def case_start(
    workflow_id: str,
    org_code: str,
    username: str,
    field_items: tuple[str, ...],
    file_items: tuple[str, ...],
) -> None:
    """Start a case of WORKFLOW_ID."""
    from pbflow.services import accounts, cases

    case = cases.start_case(
        _user(username),
        workflow_id,
        accounts.get_org(org_code).id,
        _pairs(field_items),
        uploads=_uploads(file_items),
    )
    _print_case(case.id)


@pbflow_cli.command("fire")
@click.argument("case_id", type=ID)
@click.argument("trigger")
@click.option("--as", "username", required=True)
@click.option("--field", "-f", "field_items", multiple=True, help="name=value, repeatable.")
@click.option("--file", "file_items", multiple=True, help="name=PATH of a file field, repeatable.")
@click.option("--comment")
@click.option("--expected-version", type=ID)
@domain_errors
def case_fire(
    case_id: int,
    trigger: str,
    username: str,
    field_items: tuple[str, ...],
    file_items: tuple[str, ...],
    comment: str | None,
    expected_version: int | None,
) -> None:
    """Take step TRIGGER on case CASE_ID."""
    from pbflow.services import cases

    cases.take_step_as(
        _user(username),
        case_id,
        trigger,
        _pairs(field_items),
        uploads=_uploads(file_items),
        expected_version=expected_version,
        comment=comment,
    )
    _print_case(case_id)


@pbflow_cli.command("actions")
@click.argument("case_id", type=ID)
@click.option("--as", "username", required=True)
@domain_errors
def case_actions(case_id: int, username: str) -> None:
    """List what a user may do on a case now (and what is blocked, with why)."""
    from pbflow.engine import runtime

    for a in runtime.available_actions(case_id, _user(username)):
        mark = "ok     " if a.enabled else "blocked"
        click.echo(f"{mark} {a.trigger}  {a.label.en}" + (f"  ({a.reason})" if a.reason else ""))


@pbflow_cli.command("show")
@click.argument("case_id", type=ID)
@domain_errors
def case_show(case_id: int) -> None:
    _print_case(case_id)


vote_cli = AppGroup("vote", help="Ballots and meeting resolutions.")
pbflow_cli.add_command(vote_cli)


@vote_cli.command("cast")
@click.argument("case_id", type=ID)
@click.argument("choice", type=click.Choice(["for", "against", "abstain"]))
@click.option("--as", "username", required=True)
@domain_errors
def vote_cast(case_id: int, choice: str, username: str) -> None:
    from pbflow.engine import votes

    outcome = votes.cast_ballot(case_id, _user(username), choice)
    click.echo(f"ballot recorded{'; vote ' + outcome if outcome else ''}")


@vote_cli.command("record")
@click.argument("case_id", type=ID)
@click.option("--as", "username", required=True)
@click.option("--date", "meeting_date", required=True)
@click.option("--attended", type=COUNT, required=True)
@click.option("--for", "votes_for", type=COUNT, required=True)
@click.option("--against", "votes_against", type=COUNT, default=0)
@click.option("--abstain", "votes_abstain", type=COUNT, default=0)
@click.option("--written-for", type=COUNT, default=0)
@click.option("--written-against", type=COUNT, default=0)
@domain_errors
def vote_record(
    case_id: int,
    username: str,
    meeting_date: str,
    attended: int,
    votes_for: int,
    votes_against: int,
    votes_abstain: int,
    written_for: int,
    written_against: int,
) -> None:
    from pbflow.engine import votes

    outcome = votes.record_resolution(
        case_id,
        _user(username),
        meeting_date=meeting_date,
        attended=attended,
        votes_for=votes_for,
        votes_against=votes_against,
        votes_abstain=votes_abstain,
        written_for=written_for,
        written_against=written_against,
    )
    click.echo(f"resolution recorded: {outcome}")


@pbflow_cli.command("tick")
@click.option(
    "--now",
    "now_text",
    help="Act as if it were this time (ISO 8601; UTC unless it carries an offset). Only on a "
    "rehearsal copy of the database (see `pbflow rehearsal`).",
)
def tick_cmd(now_text: str | None) -> None:
    """Send reminders, mark overdue cases, escalate, send queued e-mail; safe to run twice."""
    from pbflow.engine import timers
    from pbflow.services import mail, rehearsal, workcalendar

    now = None
    if now_text:
        try:
            now = validation.parse_datetime(now_text)
            if now.tzinfo is not None:  # "...T08:00+08:00" is midnight UTC, not 08:00 UTC
                now = now.astimezone(UTC).replace(tzinfo=None)
            if not validation.year_ok(now):
                raise ValueError(now_text)
        except (ValueError, OverflowError):
            raise click.BadParameter(
                "use ISO 8601 with a year from 1900 to 2999, e.g. 2027-01-31T08:00",
                param_hint="--now",
            ) from None
        if not rehearsal.is_rehearsal():
            raise click.ClickException(
                "tick --now acts as of another time: it writes audit events dated then and "
                "notifies real people. It is refused on a live database. To rehearse, copy the "
                "database, point PBFLOW_DATABASE_URL at the copy and run `pbflow rehearsal "
                "start` there first (see the README, 'Rehearsing with tick --now')."
            )
    report = timers.tick(now)
    click.echo(report.summary())
    for case_id, problem in report.failed:
        click.echo(f"case {case_id}: {problem}", err=True)
    from pbflow.procedures import installed

    for procedure in installed():
        if procedure.tick is not None:
            summary, problems = procedure.tick(now)
            click.echo(summary)
            for problem in problems:
                click.echo(problem, err=True)
    warned = workcalendar.warn_if_running_out(now)
    if warned:
        click.echo(warned)
    mail_report = mail.run(now)
    click.echo(mail_report.summary())
    for problem in mail_report.problems:
        click.echo(problem, err=True)
    _checkpoint()


# --- rehearsals, e-mail, the calendar and settings ---------------------------------------------

rehearsal_cli = AppGroup("rehearsal", help="Rehearse with `tick --now` on a copy of the database.")
pbflow_cli.add_command(rehearsal_cli)


@rehearsal_cli.command("start")
@click.option("--note", default="", help="What the rehearsal is for.")
def rehearsal_start(note: str) -> None:
    """Mark this database (a copy!) as a rehearsal: `tick --now` is allowed, no e-mail leaves."""
    from pbflow.services import rehearsal

    rehearsal.start(note)
    click.echo("this database is now a rehearsal copy: tick --now allowed, no e-mail is sent")


@rehearsal_cli.command("status")
def rehearsal_status() -> None:
    from pbflow.services import rehearsal

    click.echo("rehearsal copy" if rehearsal.is_rehearsal() else "live database")


mail_cli = AppGroup("mail", help="Notifications by e-mail (PBFLOW_SMTP_*).")
pbflow_cli.add_command(mail_cli)


@mail_cli.command("send")
def mail_send() -> None:
    """Queue the e-mail new notifications call for and send what is due; safe to run twice."""
    from pbflow.services import mail

    report = mail.run()
    click.echo(report.summary())
    for problem in report.problems:
        click.echo(problem, err=True)


calendar_cli = AppGroup("calendar", help="The working-day calendar (holidays, make-up days).")
pbflow_cli.add_command(calendar_cli)


@calendar_cli.command("show")
@click.option(
    "--year",
    type=click.IntRange(validation.MIN_YEAR, validation.MAX_YEAR),
    help="Default: this year.",
)
@domain_errors
def calendar_show(year: int | None) -> None:
    """The days of a year that differ from Monday to Friday, and what is covered."""
    from pbflow import clock
    from pbflow.services import workcalendar

    view = workcalendar.year_view(None, year or clock.today().year, "zh")
    first, last = view.official_years.start, view.official_years.stop - 1
    click.echo(f"official: {first}-{last} ({view.source})")
    click.echo(f"entered here: {', '.join(map(str, view.entered_years)) or '-'}")
    click.echo(f"covered until: {view.coverage_end.isoformat()}")
    click.echo(f"{view.year}: {'covered' if view.covered else 'NOT covered (Monday to Friday)'}")
    for d in view.days:
        status = "working" if d.working else "off"
        click.echo(f"{d.day.isoformat()}  {status:<7}  {d.source:<8}  {d.name}")


@calendar_cli.command("set")
@click.argument("day")
@click.option("--off", "status", flag_value="off", help="A day off (holiday).")
@click.option("--working", "status", flag_value="working", help="A working day.")
@click.option("--name", default="", help="What for (春节, 国庆节调休...).")
@domain_errors
def calendar_set(day: str, status: str | None, name: str) -> None:
    """Set DAY (YYYY-MM-DD) as a day off or a working day, over the official calendar."""
    from pbflow.services import workcalendar

    if status is None:
        raise click.UsageError("say --off or --working")
    row = workcalendar.set_day(None, day, status == "working", name)
    click.echo(f"{row.day.isoformat()}: {status}")


@calendar_cli.command("unset")
@click.argument("day")
@domain_errors
def calendar_unset(day: str) -> None:
    """Give DAY back to the official calendar."""
    from pbflow.services import workcalendar

    workcalendar.unset_day(None, day)
    click.echo(f"{day}: official calendar")


@calendar_cli.command("confirm")
@click.argument("year")
@click.option("--note", default="")
@domain_errors
def calendar_confirm(year: str, note: str) -> None:
    """Mark YEAR as entered (its official days are set as days): no more warnings for it."""
    from pbflow.services import workcalendar

    workcalendar.confirm_year(None, year, note)
    click.echo(f"{year}: entered")


@calendar_cli.command("unconfirm")
@click.argument("year")
@domain_errors
def calendar_unconfirm(year: str) -> None:
    from pbflow.services import workcalendar

    workcalendar.unconfirm_year(None, year)
    click.echo(f"{year}: no longer marked as entered")


settings_cli = AppGroup("settings", help="Workflow settings per organization.")
pbflow_cli.add_command(settings_cli)


@settings_cli.command("list")
@click.option("--org", "org_code", required=True)
@domain_errors
def settings_list(org_code: str) -> None:
    """Every workflow setting at ORG: value, where it comes from, default."""
    from pbflow.services import accounts, settings

    org = accounts.get_org(org_code)
    for _wf, _title, rows in settings.rows_for(org):
        for r in rows:
            source = (
                "set here"
                if r.has_own
                else (f"from {r.from_org.code}" if r.from_org else "default")
            )
            click.echo(f"{r.workflow}.{r.name} = {r.value!r}  ({source}; default {r.default!r})")


@settings_cli.command("set")
@click.argument("org_code")
@click.argument("setting")
@click.argument("value")
@domain_errors
def settings_set(org_code: str, setting: str, value: str) -> None:
    """Set WORKFLOW.SETTING at ORG_CODE to VALUE (checked against its type and bounds)."""
    from pbflow.services import accounts, settings

    workflow, _sep, name = setting.partition(".")
    if not name:
        raise click.BadParameter("write WORKFLOW.SETTING", param_hint="SETTING")
    org = accounts.get_org(org_code)
    result = settings.set_value(None, org.id, workflow, name, value)
    click.echo(f"{org.code}: {setting} = {result!r}")


@settings_cli.command("unset")
@click.argument("org_code")
@click.argument("setting")
@domain_errors
def settings_unset(org_code: str, setting: str) -> None:
    """Remove ORG_CODE's own value of WORKFLOW.SETTING: it inherits again."""
    from pbflow.services import accounts, settings

    workflow, _sep, name = setting.partition(".")
    if not name:
        raise click.BadParameter("write WORKFLOW.SETTING", param_hint="SETTING")
    org = accounts.get_org(org_code)
    result = settings.unset(None, org.id, workflow, name)
    click.echo(f"{org.code}: {setting} = {result!r} (inherited)")


# --- audit --------------------------------------------------------------------------------

token_cli = AppGroup("token", help="Access tokens of the JSON API (/api/v1).")
pbflow_cli.add_command(token_cli)


@token_cli.command("create")
@click.argument("username")
@click.argument("name")
@click.option("--scope", type=click.Choice(["read", "act", "admin"]), default="read")
@click.option("--days", type=click.IntRange(1, 366), default=90, help="Valid for (days).")
@click.option("--service", is_flag=True, help="A service token (a machine's account).")
@domain_errors
def token_create(username: str, name: str, scope: str, days: int, service: bool) -> None:
    """Make a token for USERNAME; its secret is printed once, keep it."""
    from pbflow.services import api_tokens

    made = api_tokens.create_token(
        None,
        _user(username),
        name,
        scope=scope,
        days=days,
        kind="service" if service else "personal",
    )
    click.echo(f"token {made.token.id} ({scope}, until {made.token.expires_at:%Y-%m-%d}):")
    click.echo(made.secret)


@token_cli.command("list")
@click.argument("username", required=False)
@domain_errors
def token_list(username: str | None) -> None:
    """Tokens (of USERNAME, or everybody's)."""
    from pbflow.services import api_tokens

    owner = _user(username) if username else None
    for t in api_tokens.list_tokens(None, owner=owner):
        state = "revoked" if t.revoked_at else f"until {t.expires_at:%Y-%m-%d}"
        click.echo(
            f"{t.id}\tpbf_{t.prefix}\t{t.user.username}\t{t.name}\t{t.kind}\t{t.scope}\t{state}"
        )


@token_cli.command("revoke")
@click.argument("token_id", type=ID)
@domain_errors
def token_revoke(token_id: int) -> None:
    """Revoke a token by its id."""
    from pbflow.services import api_tokens

    t = api_tokens.revoke_token(None, token_id)
    click.echo(f"token {t.id} ({t.name}) revoked")


@token_cli.command("made-by-tokens")
@click.option("--revoke", is_flag=True, help="Revoke those still live.")
@domain_errors
def token_made_by_tokens(revoke: bool) -> None:
    """Tokens made through another token, before that was refused (the audit trail names the
    token used); exits 1 while one of them is still live. --revoke revokes those."""
    from pbflow.clock import now
    from pbflow.services import api_tokens

    live = 0
    for m in api_tokens.made_through_tokens():
        t = m.token
        through = f"through token {m.through.get('token_id')} ({m.through.get('token')})"
        made = f"made {m.at:%Y-%m-%d %H:%M} by {m.by} {through}"
        if t is None:
            click.echo(f"{m.token_id}\t(gone with its account)\t{made}")
            continue
        # A deactivated owner's token is not live, but would be again on reactivation.
        state = "revoked" if t.revoked_at else "expired" if t.expires_at <= now() else "LIVE"
        if state == "LIVE" and revoke:
            api_tokens.revoke_token(None, t.id, reason="made through a token")
            state = "revoked now"
        live += state == "LIVE"
        click.echo(
            f"{t.id}\tpbf_{t.prefix}\t{t.user.username}\t{t.name}\t{t.scope}\t{made}\t{state}"
        )
    if live:
        raise click.ClickException(f"{live} live token(s) made through a token: run with --revoke")
    click.echo("no live token made through a token")


audit_cli = AppGroup("audit", help="The hash-chained audit trail.")
pbflow_cli.add_command(audit_cli)


def _public_keys(texts: tuple[str, ...]) -> list[bytes]:
    from pbflow import audit_keys

    try:
        return [audit_keys.parse_public_key(t) for t in texts]
    except audit_keys.KeyProblem as exc:
        raise click.BadParameter(str(exc), param_hint="--public-key") from None


@audit_cli.command("verify")
@click.option(
    "--file",
    "path",
    type=click.Path(dir_okay=False),
    help="Verify an export (JSON Lines) instead of the database.",
)
@click.option(
    "--head",
    "heads",
    multiple=True,
    type=ChainHash(),
    help="A head hash printed earlier that must still be in the chain.",
)
@click.option(
    "--public-key",
    "public_keys",
    multiple=True,
    help="The audit public key (ed25519:..., as printed by 'audit key', or a file holding it) "
    "that checkpoints must be signed with; default: this server's key.",
)
def audit_verify(path: str | None, heads: tuple[str, ...], public_keys: tuple[str, ...]) -> None:
    """Walk the chain; name the first broken event (exit status 1 when broken).

    Also checks every signed checkpoint, the seals of events written since the last one, and
    (on the database) that every case and meeting record is what its events say and that the
    audit search's index of persons (audit_person) lists exactly the people the events name.
    An export or a case archive (ZIP) does not hold that index, so --file does not check it.
    A case archive is checked against its signed checkpoints, and against the current chain
    head when this database holds the archive's chain.
    """
    import zipfile

    from pbflow import audit

    keys = _public_keys(public_keys)
    if path and zipfile.is_zipfile(path):
        from pbflow.documents import archive

        try:
            with open(path, "rb") as fh:
                result = archive.verify_archive(fh.read(), heads, keys)
        except ValueError as exc:
            raise click.ClickException(f"{path}: {exc}") from None
    elif path:
        try:
            with open(path, encoding="utf-8") as fh:
                result = audit.verify_rows(audit.read_export(fh), heads, keys)
        except OSError as exc:
            raise click.ClickException(f"cannot read {path}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise click.ClickException(f"{path}: not a UTF-8 text file") from None
        except ValueError as exc:
            raise click.ClickException(f"{path}: {exc}") from None
        except RecursionError:
            raise click.ClickException(f"{path}: not an export (nested too deeply)") from None
    else:
        result = audit.verify_database(heads, keys)
    click.echo(result.summary())
    if path:
        click.echo(
            "(the search index of persons is not in exports: 'pbflow audit verify' on the "
            "server checks it)"
        )
    if not result.ok:
        sys.exit(1)


def _scope(org_codes: tuple[str, ...]) -> set[int] | None:
    if not org_codes:
        return None
    from pbflow.engine import actors
    from pbflow.services import accounts

    roots = {accounts.get_org(code).id for code in org_codes}
    return {n.id for n in actors.org_index().values() if roots & set(n.ancestor_ids())}


@audit_cli.command("export")
@click.option("--out", "path", type=click.Path(dir_okay=False), help="File (default stdout).")
@click.option(
    "--org",
    "org_codes",
    multiple=True,
    help="Export for a reader of this organization (and those below it): other "
    "organizations' events are withheld, reduced to what the chain needs. Repeatable.",
)
@domain_errors
def audit_export(path: str | None, org_codes: tuple[str, ...]) -> None:
    """Write every event as JSON Lines, with hashes and checkpoints, for offline verification."""
    from pbflow import audit

    scope = _scope(org_codes)
    if path:
        try:
            with open(path, "w", encoding="utf-8") as fh:
                n = audit.export(fh, scope)
        except OSError as exc:
            raise click.ClickException(f"cannot write {path}: {exc.strerror}") from None
        click.echo(f"exported {n} events to {path}", err=True)
    else:
        audit.export(sys.stdout, scope)


def _checkpoint() -> None:
    """Sign the chain as it is now; a refusal is an alarm (exit status 1)."""
    from pbflow import audit

    try:
        audit.checkpoint()
    except audit.CheckpointRefused as exc:
        click.echo(f"audit checkpoint refused: {exc}", err=True)
        sys.exit(1)


@audit_cli.command("head")
def audit_head() -> None:
    """Sign a checkpoint, then print the latest sequence number and hash (for the minutes)."""
    from pbflow import audit

    _checkpoint()
    seq, digest = audit.head()
    click.echo(f"{seq} {digest}")


@audit_cli.command("reindex")
@click.option("--check", is_flag=True, help="Only compare the index with the events.")
def audit_reindex(check: bool) -> None:
    """Compare (--check) or rebuild the audit search's index of the people each event names
    (audit_person): an index, not evidence, made again from the events at any time."""
    from pbflow import audit
    from pbflow.extensions import db

    missing, extra = audit.check_person_index()
    if check:
        click.echo(f"audit_person: {missing} rows missing, {extra} rows too many")
        if missing or extra:
            sys.exit(1)
        return
    written = audit.rebuild_person_index()
    db.session.commit()
    click.echo(f"audit_person rebuilt: {written} rows (were {missing} missing, {extra} too many)")


@audit_cli.command("key")
def audit_key() -> None:
    """Print the audit public key (for the minutes), creating the key on first use."""
    from pbflow import audit_keys

    try:
        key = audit_keys.current()
    except audit_keys.KeyProblem as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(key.public_text)
    click.echo(f"key id {key.key_id}; private key in {audit_keys.key_path()}", err=True)


@audit_cli.command("grants")
@click.argument("role")
@click.option("--apply", is_flag=True, help="Run them on the database (as the tables' owner).")
def audit_grants(role: str, apply: bool) -> None:
    """Print the PostgreSQL GRANTs for the role pbflow runs as (see the README's production
    section): full use of ordinary tables, only SELECT and INSERT on the audit tables."""
    from pbflow import audit
    from pbflow.extensions import db

    try:
        statements = audit.postgres_grants(role, db.metadata.tables)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="ROLE") from None
    if apply:
        if db.engine.dialect.name != "postgresql":
            raise click.ClickException("grants apply to PostgreSQL only")
        from sqlalchemy import text
        from sqlalchemy.exc import DBAPIError

        with db.engine.begin() as conn:
            known = conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role})
            if known.first() is None:
                raise click.BadParameter(
                    f"there is no PostgreSQL role '{role}' (create it first, README 'Production')",
                    param_hint="ROLE",
                )
            try:
                for stmt in statements:
                    conn.exec_driver_sql(stmt)
            except DBAPIError as exc:
                # Not the tables' owner, for instance: say what the database said, no traceback.
                reason = str(getattr(exc, "orig", exc)).splitlines()[0]
                raise click.ClickException(f"the grants were refused: {reason}") from None
        click.echo(f"granted pbflow's privileges to {role}")
        return
    for stmt in statements:
        click.echo(stmt + ";")


def register_cli(app: Flask, procedures: Sequence[Procedure] = ()) -> None:
    """``flask pbflow ...``: the shared commands and those of each installed procedure."""
    group = AppGroup(pbflow_cli.name, help=pbflow_cli.help, commands=dict(pbflow_cli.commands))
    for procedure in procedures:
        if procedure.cli is not None:
            group.add_command(procedure.cli)
    app.cli.add_command(group)
