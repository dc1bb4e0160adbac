"""The OpenAPI document, its reference page (Swagger UI, served locally) and the access
token pages under My account."""

from __future__ import annotations

from flask import Blueprint, jsonify, redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required

from pbflow import validation
from pbflow.api import core
from pbflow.engine.errors import DomainError
from pbflow.models.api_token import SCOPES
from pbflow.services import accounts, api_tokens
from pbflow.web.access import password_confirmed

bp = Blueprint("api_pages", __name__)


@bp.get("/api/openapi.json")
def openapi():
    """The OpenAPI 3.1 document of /api/v1, generated from the code; in English, for
    machines whatever the language asked for."""
    return jsonify(core.document())


@bp.get("/api/docs")
def reference():
    """A browsable reference of the API (Swagger UI from pbflow/static/vendor)."""
    return render_template("account/api_reference.html")


@bp.get("/api/docs/openapi.json")
def reference_document():
    """The document the reference page shows: the same, in the reader's language."""
    return jsonify(core.document(core.locale()))


def _render(status: int = 200, *, made=None, errors=None, form=None):
    return (
        render_template(
            "account/tokens.html",
            tokens=api_tokens.list_tokens(current_user),
            scopes=SCOPES,
            made=made,
            errors=errors or {},
            form=form or {},
            may_admin=accounts.administered_org_ids(current_user),
        ),
        status,
    )


@bp.get("/account/tokens")
@login_required
def tokens():
    return _render()


@bp.post("/account/tokens")
@login_required
@password_confirmed(_l("make an access token"))
def token_create():
    form = request.form
    owner = current_user
    kind = "service" if form.get("kind") == "service" else "personal"
    try:
        if (form.get("owner") or "").strip():
            owner = accounts.get_user(form.get("owner", "").strip()[:80])
        made = api_tokens.create_token(
            current_user,
            owner,
            form.get("name", ""),
            scope=form.get("scope", "read"),
            days=validation.parse_int(form.get("days", ""), low=1, high=api_tokens.MAX_DAYS) or -1,
            kind=kind,
        )
    except DomainError as exc:
        errors = exc.field_errors or {"name": exc.message}
        return _render(exc.status, errors=errors, form=form)
    return _render(201, made=made)


@bp.post("/account/tokens/<int:token_id>/revoke")
@login_required
def token_revoke(token_id: int):
    api_tokens.revoke_token(current_user, token_id)
    return redirect(url_for("api_pages.tokens"))
