"""The security log for auditors and admins: logins, lockouts, logouts, own account changes.

A tab of the audit pages (``/audit/security/``), kept apart from the process audit trail as
the log itself is. Searchable by username and date, newest first, paginated on the sequence
number like the audit search. A reader sees the events of the accounts they may see
(``services.accounts.search_security_events``); verification covers the whole log and shows
only whether it holds; the export, the whole log, is for readers of every account.
"""

from __future__ import annotations

import io
import tempfile
from datetime import date
from typing import Any

from flask import Blueprint, abort, flash, render_template, request, send_file
from flask_babel import gettext as _
from flask_login import current_user

from pbflow import clock, security_log
from pbflow.services import accounts
from pbflow.web.access import auditor_required

bp = Blueprint("security_pages", __name__, url_prefix="/audit/security")

PER_PAGE = 50


def _filters(args: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """The search form, parsed; a field that cannot be read is named in the errors."""
    errors: dict[str, str] = {}
    values: dict[str, Any] = {"username": (args.get("user") or "").strip()[:120]}
    for name in ("from", "to"):
        raw = (args.get(name) or "").strip()
        values[name] = None
        if raw:
            try:
                values[name] = date.fromisoformat(raw)
            except ValueError:
                errors[name] = _("'%(value)s' is not a date (use YYYY-MM-DD)", value=raw[:40])
    raw = (args.get("before") or "").strip()
    values["before"] = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 12 else None
    return values, errors


def _render(result: security_log.VerifyResult | None = None, status: int = 200):
    values, errors = _filters(request.args)
    if errors:
        flash(_("Some search fields could not be read; they were ignored."), "error")
    events, next_before = accounts.search_security_events(
        current_user,
        username=values["username"],
        date_from=values["from"],
        date_to=values["to"],
        before=values["before"],
        per_page=PER_PAGE,
    )
    head_seq, head_hash = security_log.head()
    return (
        render_template(
            "audit/security.html",
            events=events,
            next_before=next_before,
            args=request.args,
            errors=errors,
            head_seq=head_seq,
            head_hash=head_hash,
            result=result,
            may_export=accounts.reads_every_account(current_user),
        ),
        status,
    )


@bp.route("/")
@auditor_required
def index():
    return _render()


@bp.route("/verify", methods=["POST"])
@auditor_required
def verify():
    return _render(security_log.verify_database())


@bp.route("/export.jsonl")
@auditor_required
def export():
    """The whole security log as JSON Lines, verifiable with ``pbflow security verify --file``."""
    if not accounts.reads_every_account(current_user):
        abort(403)
    # Spooled: a small log stays in memory, a big one goes to a temporary file; send_file
    # closes it when the response is done.
    spool = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024, mode="w+b")  # noqa: SIM115
    text = io.TextIOWrapper(spool, encoding="utf-8", newline="\n", write_through=True)
    security_log.export(text)
    text.detach()  # keep the binary file open for send_file
    spool.seek(0)
    stamp = clock.to_local(clock.now()).strftime("%Y%m%d-%H%M")
    return send_file(
        spool,
        mimetype="application/x-ndjson",
        as_attachment=True,
        download_name=f"pbflow-security-{stamp}.jsonl",
    )
