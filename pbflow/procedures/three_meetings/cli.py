"""The procedure's commands under ``flask --app app pbflow meetings``: who owes what a year.

    flask --app app pbflow meetings training-threshold ORG_CODE 40 --as USER
    flask --app app pbflow meetings training-threshold ORG_CODE --clear --as USER
    flask --app app pbflow meetings training-threshold ORG_CODE          (shows it)

The acting user must be an administrator or the party committee at or above the
organization, as on a page; the change is audited under their name.
"""

from __future__ import annotations

import click
from flask.cli import AppGroup

from pbflow.engine.errors import DomainError
from pbflow.procedures.three_meetings import training
from pbflow.procedures.three_meetings.hours import hours_text

cli = AppGroup("meetings", help="Three meetings and one lesson: yearly requirements.")


def _describe(code: str, t: training.Threshold) -> str:
    where = f"own setting {t.own:g}" if t.own is not None else "no own setting"
    above = f", {hours_text(t.above)} from above" if t.above is not None else ""
    return f"{code}: {hours_text(t.minutes)} hours of training a year ({where}{above})"


@cli.command("training-threshold")
@click.argument("org_code")
@click.argument("hours", required=False)
@click.option("--clear", is_flag=True, help="Remove the organization's own setting.")
@click.option("--as", "username", help="Acting user (an administrator or the committee).")
def training_threshold(org_code: str, hours: str | None, clear: bool, username: str | None):
    """Show or set the hours of training ORG_CODE's members owe a year (for it and those
    below it): HOURS in half hours, or --clear to go back to what applies from above."""
    from pbflow.services import accounts

    if hours is not None and clear:
        raise click.UsageError("give HOURS or --clear, not both")
    if (hours is not None or clear) and not username:
        raise click.UsageError("a change needs --as USER (an administrator or the committee)")
    try:
        org = accounts.get_org(org_code)
        if hours is None and not clear:
            click.echo(_describe(org_code, training.threshold_at(org.id)))
            return
        actor = accounts.get_user(username)
        after = training.set_threshold(actor, org.id, None if clear else hours)
    except DomainError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(_describe(org_code, after))
