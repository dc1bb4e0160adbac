"""The machinery of the versioned JSON API: the blueprint, the OpenAPI description
(SpecTree over pydantic models), who is asking (a token or a session), scopes, the rate
limit per token, cursors, times and RFC 9457 problem details.

Views live in the sibling modules; each parses its input (the pydantic model SpecTree
validated), calls one service function, and answers a dict that SpecTree checks against
the same model the document describes.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from functools import wraps
from typing import Any

from flask import Blueprint, current_app, g, jsonify, request
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf.csrf import CSRFError, validate_csrf
from spectree import SecurityScheme, SecuritySchemeData, SpecTree
from werkzeug.exceptions import HTTPException
from wtforms.validators import ValidationError

from pbflow.engine.errors import DomainError
from pbflow.extensions import app_context
from pbflow.services.pagination import parse_cursor

VERSION = "1"
PREFIX = "/api/v1"
SCOPE_ATTR = "api_scope"
PUBLIC = "public"
DEFAULT_RATE = 600  # requests per token per minute


class Problem(Exception):
    """An RFC 9457 problem raised inside the API (a refusal the services do not make)."""

    def __init__(self, status: int, detail: str, *, title: str | None = None, **extra: Any):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.title = title
        self.extra = extra


TITLES = {
    400: lambda: _("Bad request"),
    401: lambda: _("Not logged in"),
    403: lambda: _("Not allowed"),
    404: lambda: _("Not found"),
    405: lambda: _("Not allowed"),
    409: lambda: _("Changed meanwhile"),
    413: lambda: _("Too large"),
    415: lambda: _("Bad request"),
    422: lambda: _("Some fields need correcting."),
    429: lambda: _("Too many requests"),
}


def problem_response(status: int, detail: str, title: str | None = None, **extra: Any):
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title or (TITLES[status]() if status in TITLES else _("Not possible")),
        "status": status,
        "detail": detail,
    }
    if request:
        body["instance"] = request.path
    body.update({k: v for k, v in extra.items() if v not in (None, {}, [])})
    response = jsonify(body)
    response.status_code = status
    response.mimetype = "application/problem+json"
    return response


def _before_validation(req: Any, resp: Any, error: Exception | None, instance: Any, adapter):
    """SpecTree's request check failed: answer 422 with the fields it names."""
    if error is None:
        return
    fields: dict[str, str] = {}
    for item in adapter.validation_errors(error) or ():
        loc = [str(p) for p in item.get("loc", ()) if p not in ("body",)]
        fields[".".join(loc) or "body"] = _("has the wrong type or value")
    raise Problem(422, _("Some fields need correcting."), field_errors=fields)


def N_(text: str) -> str:
    """Mark ``text`` for the catalogs and leave it as it is (pybabel extracts ``N_`` by
    default): the document's words, English in /api/openapi.json, translated for the
    reference page (``document(locale)``)."""
    return text


spec = SpecTree(
    "flask",
    title="pbflow API",
    version=VERSION,
    description=N_(
        "The JSON API of pbflow for other systems. Authenticate with a personal or service "
        "access token (`Authorization: Bearer pbf_...`); the pages' own JavaScript uses the "
        "session cookie and the `X-CSRFToken` header. Errors are RFC 9457 problem details in "
        "the language asked for with `Accept-Language` (zh or en)."
    ),
    path="apidoc",  # spectree's own routes are not registered (see pages.py)
    filename="openapi.json",
    mode="strict",
    page_templates={},
    before=_before_validation,
    validation_error_status=422,
    security_schemes=[
        SecurityScheme(
            name="token",
            data=SecuritySchemeData(
                type="http", scheme="bearer", description=N_("a pbf_... access token")
            ),
        ),
        SecurityScheme(
            name="session",
            data=SecuritySchemeData(
                type="apiKey",
                field_in="cookie",
                name="session",
                description=N_("the pages' session (POST needs the X-CSRFToken header too)"),
            ),
        ),
    ],
    security={"token": []},
)

bp = Blueprint("api_v1", __name__, url_prefix=PREFIX)


# --- the rate limit -----------------------------------------------------------------------

_windows: dict[str, tuple[int, int]] = {}
_lock = threading.Lock()


def _take_from_rate(token_key: str) -> tuple[int, int, int]:
    """(limit, remaining, seconds to the next window) after counting this request."""
    limit = int(current_app.config.get("PBFLOW_API_RATE_PER_MINUTE", DEFAULT_RATE))
    window = int(time.time() // 60)
    with _lock:
        start, count = _windows.get(token_key, (window, 0))
        if start != window:
            start, count = window, 0
        count += 1
        _windows[token_key] = (start, count)
        if len(_windows) > 10_000:  # forget windows of tokens gone quiet
            for key in [k for k, (w, _c) in _windows.items() if w != window]:
                del _windows[key]
    return limit, limit - count, 60 - int(time.time() % 60)


# --- who is asking -------------------------------------------------------------------------


def via_token() -> dict[str, Any] | None:
    """For the audit trail: the token this request came with, if any."""
    ctx = app_context()
    token = ctx.g.get("api_token") if ctx is not None else None
    return {"token_id": token.id, "token": token.name} if token is not None else None


@bp.before_request
def authenticate():
    from pbflow.services import api_tokens

    g.pop("api_token", None)  # only the token this request came with is its token
    view = current_app.view_functions.get(request.endpoint or "")
    needed = getattr(view, SCOPE_ATTR, "admin")
    header = request.headers.get("Authorization")
    if header is not None:
        kind, _sep, secret = header.partition(" ")
        if kind.lower() != "bearer":
            raise Problem(401, _("The access token is missing or not valid."))
        # The public operations (the opinion box) leave no trace of the token's use: not
        # its last use's minute, which would tie an anonymous opinion to the token's owner.
        token = api_tokens.authenticate(secret.strip(), mark_use=needed != PUBLIC)
        limit, remaining, reset = _take_from_rate(token.secret_hash)
        g.api_rate = (limit, max(remaining, 0), reset)
        if remaining < 0:
            raise Problem(
                429, _("Too many requests with this token; wait a minute."), retry_after=reset
            )
        g._login_user = token.user
        g.api_token = token
        if needed != PUBLIC and not api_tokens.scope_covers(token.scope, needed):
            raise Problem(
                403,
                _(
                    "This token's scope (%(held)s) does not allow this (%(needed)s needed).",
                    held=token.scope,
                    needed=needed,
                ),
            )
        return None
    if current_user.is_authenticated:
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            try:
                validate_csrf(request.headers.get("X-CSRFToken"))
            except ValidationError:  # missing, expired, not signed by us, or not this session's
                raise Problem(
                    400, _("The form was missing its security token or it expired.")
                ) from None
        return None
    if needed == PUBLIC:
        return None
    raise Problem(401, _("Log in, or send an access token."))


@bp.after_request
def rate_headers(response):
    rate = g.get("api_rate")
    if rate:
        limit, remaining, reset = rate
        response.headers["RateLimit-Limit"] = str(limit)
        response.headers["RateLimit-Remaining"] = str(remaining)
        response.headers["RateLimit-Reset"] = str(reset)
    response.headers.setdefault("Cache-Control", "no-store")
    return response


# --- errors ---------------------------------------------------------------------------------


@bp.errorhandler(Problem)
def _problem(exc: Problem):
    from pbflow.extensions import db

    db.session.rollback()
    response = problem_response(exc.status, exc.detail, exc.title, **exc.extra)
    if exc.status == 429 and "retry_after" in exc.extra:
        response.headers["Retry-After"] = str(exc.extra["retry_after"])
    return response


@bp.errorhandler(DomainError)
def _domain(exc: DomainError):
    from pbflow.extensions import db

    db.session.rollback()
    from pbflow.engine.errors import ConcurrentChange

    title = (
        TITLES[exc.status]()
        if isinstance(exc, ConcurrentChange) or exc.status in (401, 403, 404, 429)
        else _("Not possible")
    )
    return problem_response(
        exc.status,
        exc.message,
        title,
        field_errors=exc.field_errors or None,
        available_from=exc.available_from.isoformat() if exc.available_from else None,
        details=exc.details or None,
    )


@bp.errorhandler(CSRFError)
def _csrf(_exc: CSRFError):
    return problem_response(400, _("The form was missing its security token or it expired."))


@bp.errorhandler(HTTPException)
def _http(exc: HTTPException):
    status = exc.code or 500
    return problem_response(status, exc.description or "")


# --- values ---------------------------------------------------------------------------------


def iso(value: datetime | None) -> str | None:
    """A stored time (UTC, without zone) in ISO 8601 with its zone."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.isoformat()


def json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_value(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def encode_cursor(position: dict[str, Any]) -> str:
    raw = json.dumps(position, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> dict[str, Any]:
    """The position a cursor points at; a cursor that is not one of ours is a 400."""
    if not cursor:
        return {}
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        position = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        position = None
    if not isinstance(position, dict):
        raise Problem(400, _("The cursor is not valid; start again without one."))
    return position


def list_position(cursor: str | None) -> tuple[int, str | None]:
    """Where a list's cursor points: a numbered page within the counted part of the list, or
    past it the sort key of the last row seen (``after``, pbflow.services.pagination), which
    takes the query straight to the next rows however long the list is."""
    position = decode_cursor(cursor)
    page, after = position.get("page", 1), position.get("after")
    bad_page = not isinstance(page, int) or isinstance(page, bool) or not 1 <= page <= 100_000
    bad_after = after is not None and (not isinstance(after, str) or parse_cursor(after) is None)
    if bad_page or bad_after:
        raise Problem(400, _("The cursor is not valid; start again without one."))
    return page, after


def next_position(page: int | None, pages: int | None, after: str | None) -> str | None:
    """The cursor of the next page: past the counted part (``after``, the last row's sort key,
    given by the service when more rows follow) or the next numbered page; None after the
    last page. A list counted no further than its limit has no number of pages (``pages``
    None) and goes on by ``after`` alone."""
    if after:
        return encode_cursor({"after": after})
    if page is not None and pages is not None and page < pages:
        return encode_cursor({"page": page + 1})
    return None


def locale() -> str:
    from flask_babel import get_locale

    return str(get_locale() or "zh")


def user() -> Any:
    """The account the request acts as (a token's owner, or the session's user)."""
    return current_user if current_user.is_authenticated else None


def require_roles(*roles: str) -> None:
    """Refuse (403) unless the caller holds one of ``roles`` at some organization: the pages'
    own check (``roles_required``), answered as a problem."""
    from pbflow.web.access import has_any_role

    if not has_any_role(*roles):
        raise Problem(403, _("You may not see or do this."))


# --- operations -----------------------------------------------------------------------------

PROBLEM_CODES = (400, 401, 403, 404, 409, 415, 422, 429)
OPERATIONS: list[tuple[str, str, str, str]] = []  # (method, OpenAPI path, scope, summary)


def _openapi_path(rule: str) -> str:
    import re

    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", PREFIX + rule)


def operation(
    method: str,
    rule: str,
    needs: str,
    *,
    summary: str,
    ok: Any = None,
    status: int = 200,
    tags: tuple[str, ...] = (),
    binary: bool = False,
    **validate: Any,
) -> Callable:
    """Register a view: its route on the blueprint, its scope, its request and response
    models with SpecTree (the problems every operation may answer included) and its
    ``summary``, marked ``N_`` so that the reference page can show it translated (SpecTree
    reads it as the view's docstring: the view has none of its own)."""
    from spectree import Response

    from pbflow.api.schemas import ProblemDetails

    codes: dict[str, Any] = {f"HTTP_{c}": ProblemDetails for c in PROBLEM_CODES}
    codes[f"HTTP_{status}"] = ok
    OPERATIONS.append((method.lower(), _openapi_path(rule), needs, summary))

    def decorate(view: Callable) -> Callable:
        if view.__doc__:
            raise TypeError(f"{view.__name__}: an operation's words are its summary=N_(...)")
        view.__doc__ = summary
        validated = spec.validate(
            resp=Response(**codes), tags=list(tags), skip_validation=binary, **validate
        )(view)
        served = validated
        if "json" in validate:
            served = _json_body_first(validated)
        if binary:
            served = _past_spectree(view, validated)
        setattr(served, SCOPE_ATTR, needs)
        bp.add_url_rule(rule, view.__name__, served, methods=[method])
        return served

    return decorate


def _json_body_first(validated: Callable) -> Callable:
    """A body must be a JSON object before SpecTree reads it: SpecTree takes any body that is
    not a form for JSON (an empty object when it does not parse), so a text body would be
    answered 422 for fields it never had, or taken as ``{}``. 415 when the body is not JSON,
    400 when it claims to be and is not a JSON object."""

    @wraps(validated)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not request.is_json:
            raise Problem(415, _("Send a JSON object (Content-Type: application/json)."))
        if not isinstance(request.get_json(silent=True), dict):
            raise Problem(400, _("Send a JSON object (Content-Type: application/json)."))
        return validated(*args, **kwargs)

    return wrapper


def _past_spectree(view: Callable, validated: Callable) -> Callable:
    """A file's answer served past SpecTree, which reads every answer whole into memory
    (``Response.get_data``) even when told not to validate it: the file streams. The
    document still describes the operation (SpecTree finds it through ``__wrapped__``), and
    such an operation has no query or body for SpecTree to check."""

    @wraps(validated)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return view(*args, **kwargs)

    return wrapper


def document(locale: str = "en") -> dict[str, Any]:
    """The OpenAPI 3.1 document: SpecTree's, with problem details typed as such, the
    public operations open to all and each operation's scope said; its words (the API's
    description, the ways to authenticate, each operation's summary and scope), each marked
    ``N_`` where written, in ``locale``: English for machines (/api/openapi.json), the
    reader's language for the reference page."""
    import copy

    from flask_babel import force_locale

    doc = copy.deepcopy(spec.spec)
    doc["openapi"] = "3.1.0"
    operations = {(m, p): (needs, summary) for m, p, needs, summary in OPERATIONS}
    with force_locale(locale):
        doc["info"]["description"] = _(doc["info"]["description"])
        for scheme in doc.get("components", {}).get("securitySchemes", {}).values():
            if scheme.get("description"):
                scheme["description"] = _(scheme["description"])
        for path, item in doc.get("paths", {}).items():
            for method, op in item.items():
                if (method, path) not in operations:
                    continue
                needs, summary = operations[(method, path)]
                op["summary"] = _(summary)
                if needs == PUBLIC:
                    op["security"] = [{}, {"token": []}]
                else:
                    op["security"] = [{"token": []}, {"session": []}]
                    scope = _("Token scope needed: %(scope)s.", scope=f"`{needs}`")
                    op["description"] = (op.get("description") or "") + f"\n\n{scope}"
                    op["x-token-scope"] = needs
                for param in op.get("parameters", ()):
                    schema = param.get("schema", {})
                    if param.get("in") == "path" and schema.get("type") == "integer":
                        param["schema"] = {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}
                for code, answer in op.get("responses", {}).items():
                    content = answer.get("content", {})
                    if code.startswith(("4", "5")) and "application/json" in content:
                        answer["content"] = {
                            "application/problem+json": content["application/json"]
                        }
    return doc
