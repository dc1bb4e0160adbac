"""The caller, organizations, people (read; CSV import for admins) and access tokens."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from flask import g
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from pbflow.api import schemas as s
from pbflow.api.core import (
    N_,
    Problem,
    decode_cursor,
    encode_cursor,
    iso,
    json_value,
    operation,
    require_roles,
    user,
)
from pbflow.engine import actors
from pbflow.engine.errors import NotFound
from pbflow.services import accounts, api_tokens, people
from pbflow.web.access import password_confirmed

TAGS = ("directory",)


@operation(
    "GET",
    "/me",
    "read",
    ok=s.MeOut,
    tags=TAGS,
    summary=N_("Who the caller acts as, their roles, and the token used."),
)
def me():
    u = user()
    token = g.get("api_token")
    return {
        "id": u.id,
        "username": u.username,
        "display_name": u.display_name,
        "roles": [{"org_id": o, "role": r} for o, r in sorted(actors.roles_of(u.id))],
        "token": {"id": token.id, "name": token.name, "scope": token.scope}
        if token is not None
        else None,
    }


def org_out(o: Any) -> dict[str, Any]:
    return {
        "id": o.id,
        "code": o.code,
        "name": o.name,
        "name_en": o.name_en,
        "kind": o.kind,
        "parent_id": o.parent_id,
        "active": bool(o.active),
    }


@operation(
    "GET",
    "/organizations",
    "read",
    ok=s.OrgList,
    tags=TAGS,
    summary=N_("The organizations the caller may read, in tree order."),
)
def organizations():
    return {"items": [org_out(o) for o in people.readable_orgs(user())]}


PERSON_FIELDS = (
    "id_number",
    "gender",
    "birth_date",
    "ethnicity",
    "education",
    "job",
    "phone",
    "on_party_probation",
    "applied_on",
    "activist_on",
    "target_on",
    "admitted_on",
)


def person_out(p: Any) -> dict[str, Any]:
    return {
        "id": p.id,
        "name": p.name,
        "org_id": p.org_id,
        "party_status": p.party_status,
        "party_status_label": people.status_label(p.party_status),
        "active": bool(getattr(p, "active", True)),
        **{f: json_value(getattr(p, f, None)) for f in PERSON_FIELDS},
    }


@operation(
    "GET",
    "/people",
    "read",
    ok=s.PeopleList,
    tags=TAGS,
    query=s.PeopleQuery,
    summary=N_("People in the organizations the caller may read (admins and committee members)."),
)
def list_people(query: s.PeopleQuery):
    require_roles("admin", "committee")
    page = decode_cursor(query.cursor).get("page", 1)
    if not isinstance(page, int) or not 1 <= page <= 100_000:
        raise Problem(400, _("The cursor is not valid; start again without one."))
    result = people.search_people(
        user(),
        text=query.q or "",
        org_id=query.org,
        party_status=query.party_status,
        page=page,
        per_page=query.limit,
    )
    return {
        "items": [person_out(p) for p in result.items],
        "total": result.total,
        "next_cursor": encode_cursor({"page": page + 1}) if result.has_next else None,
    }


@operation(
    "GET",
    "/people/<int:person_id>",
    "read",
    ok=s.PersonOut,
    tags=TAGS,
    summary=N_("One person, if the caller may read their organization."),
)
def get_person(person_id: int):
    require_roles("admin", "committee")
    return person_out(people.get_person(person_id, reader=user()))


@operation(
    "POST",
    "/people/import",
    "admin",
    ok=s.ImportOut,
    tags=TAGS,
    json=s.ImportIn,
    summary=N_(
        "Import people from a CSV (the columns of the import page), all or nothing. A refused file "
        "answers 422 with each line's problems. With `dry_run` only check it: the answer (200) "
        "says how many the import would create (none while any line has a problem) and lists each "
        "line's problems; a file that cannot be read at all is a 422 all the same."
    ),
)
def import_people(json: s.ImportIn):
    require_roles("admin")
    try:
        data = base64.b64decode(json.csv_base64, validate=True)
    except (binascii.Error, ValueError):
        raise Problem(
            422,
            _("Some fields need correcting."),
            field_errors={"csv_base64": _("is not valid base64")},
        ) from None
    try:
        if json.dry_run:
            report = people.check_csv(data, actor=user())
        else:
            report = people.import_csv(data, actor=user(), filename=json.filename)
    except people.ImportRefused as exc:
        raise Problem(
            422,
            exc.message,
            errors=[
                {"line": e.line, "column": e.column, "message": e.message}
                for e in exc.report.errors
            ],
        ) from None
    would_create = len(report.rows) if report.ok else 0  # all or nothing
    return {
        "applied": not json.dry_run and report.ok,
        "created": would_create if json.dry_run else report.imported,
        "updated": 0,
        "errors": [
            {"line": e.line, "column": e.column, "message": e.message} for e in report.errors
        ],
    }


# --- tokens -------------------------------------------------------------------------------------


def token_out(t: Any) -> dict[str, Any]:
    return {
        "id": t.id,
        "name": t.name,
        "kind": t.kind,
        "scope": t.scope,
        "prefix": t.prefix,
        "owner": t.user.username,
        "created_at": iso(t.created_at),
        "expires_at": iso(t.expires_at),
        "last_used_at": iso(t.last_used_at),
        "revoked_at": iso(t.revoked_at),
    }


@operation(
    "GET",
    "/tokens",
    "read",
    ok=s.TokenList,
    tags=("tokens",),
    summary=N_("The caller's tokens (an admin: those of the accounts they manage too)."),
)
def list_tokens():
    return {"items": [token_out(t) for t in api_tokens.list_tokens(user())]}


@operation(
    "POST",
    "/tokens",
    "admin",
    ok=s.TokenMade,
    status=201,
    tags=("tokens",),
    json=s.TokenIn,
    summary=N_(
        "Make a token, logged in (a request with a token is refused: a token never makes "
        "one; so is a session whose password was not entered in the last "
        "PBFLOW_REAUTH_MINUTES, until it is confirmed on /account/confirm); its secret is in "
        "this answer only."
    ),
)
@password_confirmed(_l("make an access token"))
def create_token(json: s.TokenIn):
    owner = user()
    api_tokens.refuse_through_a_token(owner, json.owner or owner.username)
    if json.owner and json.owner != owner.username:
        try:
            owner = accounts.get_user(json.owner)
        except NotFound:
            raise Problem(
                422,
                _("Some fields need correcting."),
                field_errors={"owner": _("No such account.")},
            ) from None
    made = api_tokens.create_token(
        user(), owner, json.name, scope=json.scope, days=json.days, kind=json.kind
    )
    return {**token_out(made.token), "secret": made.secret}, 201


@operation(
    "DELETE",
    "/tokens/<int:token_id>",
    "act",
    ok=s.TokenOut,
    tags=("tokens",),
    summary=N_(
        "Revoke a token (the caller's own, or, for an admin, one of an account they manage)."
    ),
)
def revoke_token(token_id: int):
    return token_out(api_tokens.revoke_token(user(), token_id))
