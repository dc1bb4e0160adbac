"""The audit trail for auditors and admins: search events, verify the chain, export, head hash.

Search pages use keyset pagination on the sequence number (newest first, "older" follows the
last number shown), so a trail of a million events costs the same per page as a small one and
no full count is taken.

Verification covers the whole chain (a chain can only be verified whole). The reader's scope
decides what the search shows and what the export carries: a reader of every organization sees
everything; any other reader sees the events of the organizations they may read and the neutral
events of no organization (workflow versions, checkpoints). Their export still holds the whole
chain, so it verifies offline, but every other event is withheld: reduced to its sequence
number, link hashes and content digest.
"""

from __future__ import annotations

from flask import Blueprint, flash, render_template, request, send_file
from flask_babel import gettext as _
from flask_login import current_user

from pbflow import audit
from pbflow.engine import actors
from pbflow.models import User
from pbflow.services import exports
from pbflow.services.audit_search import (
    Filters,
    action_choices,
    describe,
    every_event,
    export_chain,
    parse_filters,
    reader_scope,
    search_events,
)
from pbflow.web.access import auditor_required
from pbflow.web.template_gettext import page_locale

bp = Blueprint("audit_pages", __name__, url_prefix="/audit")


def _render(result: audit.VerifyResult | None = None, status: int = 200):
    f = parse_filters(request.args)
    if f.errors:
        flash(_("Some search fields could not be read; they were ignored."), "error")
        for name in f.errors:
            setattr(f, {"from": "date_from", "to": "date_to"}.get(name, name), None)
    events, next_before = search_events(current_user, f)
    locale = page_locale()
    views = describe(events, locale)
    orgs = actors.org_index()  # read for the reader's scope already
    head_seq, head_hash = audit.head()
    return (
        render_template(
            "audit/index.html",
            scoped=reader_scope(current_user) is not None,
            events=views,
            next_before=next_before,
            filters=f,
            args=request.args,
            errors=f.errors or {},
            orgs=orgs,
            actions=action_choices(locale, f.action or ""),
            head_seq=head_seq,
            head_hash=head_hash,
            result=result,
        ),
        status,
    )


def export_events(reader: User, f: Filters):
    """Every event the search selects (the same scope and filters, not only the page shown),
    newest first, read in batches: for CSV or Excel."""
    index = actors.org_index()
    locale = page_locale()
    rows = (
        [
            r.seq,
            r.at,
            r.actor_label,
            r.action,
            index[r.org_id].display_name(locale) if r.org_id in index else "",
            r.instance_id,
            r.from_state,
            r.to_state,
            r.payload,
            r.hash,
        ]
        for r in every_event(reader, f)
    )
    return exports.Table(
        "audit-events",
        [
            exports.Column(_("Seq."), "int", 10),
            exports.Column(_("Time"), "datetime", 16),
            exports.Column(_("Actor"), width=14),
            exports.Column(_("Action"), width=18),
            exports.Column(_("Organization"), width=20),
            exports.Column(_("Case"), "int", 8),
            exports.Column(_("State before"), width=14),
            exports.Column(_("State after"), width=14),
            exports.Column(_("Details"), width=50),
            exports.Column(_("Hash"), width=20),
        ],
        rows,
        sheet=_("Audit trail"),
    )


@bp.route("/")
@auditor_required
def index():
    """The search; with ``format=csv`` or ``xlsx``, every event it selects."""
    fmt = request.args.get("format")
    if fmt in exports.FORMATS:
        f = parse_filters(request.args)
        if f.errors:
            return _render(status=422)
        return exports.send(export_events(current_user, f), fmt)
    return _render()


@bp.route("/verify", methods=["POST"])
@auditor_required
def verify():
    expected = [h.strip().lower() for h in request.form.get("expect", "").split() if h.strip()]
    bad = [h for h in expected if len(h) != 64 or any(c not in "0123456789abcdef" for c in h)]
    if bad:
        flash(
            _("'%(value)s' is not a head hash (64 hexadecimal characters).", value=bad[0]),
            "error",
        )
        return _render(status=422)
    result = audit.verify_database(expected)
    return _render(result, 200)


@bp.route("/export.jsonl")
@auditor_required
def export():
    """The whole chain as JSON Lines, verifiable offline with ``pbflow audit verify --file``;
    events outside the reader's scope are withheld (only what the chain needs is kept)."""
    chain = export_chain(current_user)
    return send_file(
        chain.file,
        mimetype="application/x-ndjson",
        as_attachment=True,
        download_name=chain.filename,
    )
