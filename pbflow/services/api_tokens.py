"""Access tokens for the JSON API (issue 18): made and revoked by their owner or an admin
(pages, CLI and API alike), shown once, stored as a SHA-256, scoped and with an expiry.

A token acts as its owner, within its scope: ``read`` lets it read, ``act`` also take steps,
comment and submit, ``admin`` also import people. The owner's own rights still decide what it
may see and do. Every state change made with a token carries the token's id and name in its
audit event (``pbflow.audit.attribute_with``).

A token never makes tokens (hostile review): one stolen with the admin scope could otherwise
mint tokens of up to a year that outlive its own revocation. A token is made by a person
logged in (the pages, or the API's session path with its CSRF header) or by the command line;
a token may still list and revoke tokens, which only takes power away.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_babel import gettext as _
from sqlalchemy import or_, select
from sqlalchemy.orm import joinedload

from pbflow import audit, security_log, validation
from pbflow.clock import now
from pbflow.engine.errors import DomainError, NotAllowed, NotFound, ValidationFailed
from pbflow.extensions import db
from pbflow.models.api_token import SCOPES, TOKEN_KINDS, ApiToken
from pbflow.models.people import User
from pbflow.services import accounts

PREFIX = "pbf_"
MAX_DAYS = 366
DEFAULT_DAYS = 90


class TokenRefused(DomainError):
    """The token is unknown, revoked or expired (the API answers 401)."""

    status = 401


def scope_covers(held: str, needed: str) -> bool:
    return SCOPES.index(held) >= SCOPES.index(needed)


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _is_admin_somewhere(user: User) -> bool:
    from pbflow.engine import actors

    return any(role == "admin" for _org, role in actors.roles_of(user.id))


def may_manage(actor: User | None, token: ApiToken) -> bool:
    """Its owner, or an admin whose scope covers the owner's account."""
    if actor is None:
        return True  # the CLI
    return token.user_id == actor.id or (
        _is_admin_somewhere(actor) and accounts.may_manage_user(actor, token.user)
    )


def refuse_through_a_token(actor: User | None, owner: str) -> None:
    """A request that came with a token may not make one (``owner``: the account name asked
    for). The refusal is committed to the security log under the token's owner, naming the
    token, like a refused login: a token that tries is likely stolen, and its owner's
    administrators search that log. ``create_token`` calls it first; a view that reads more
    of the request before (the API's owner by name) calls it before that too."""
    via = audit.acting_through() if actor is not None else None  # None: the command line
    if via is None:
        return
    payload = {"token_id": via["token_id"], "token": via["token"], "owner": owner}
    db.session.rollback()  # nothing of the request but this trace is written
    security_log.record("api_token_refused", actor, payload=payload)
    db.session.commit()
    raise NotAllowed(
        _("A token cannot make tokens: log in and make it on My account, or ask the operator.")
    )


@dataclass
class Made:
    token: ApiToken
    secret: str  # shown once, never stored


def create_token(
    actor: User | None,
    owner: User,
    name: str,
    *,
    scope: str = "read",
    days: int | None = DEFAULT_DAYS,
    kind: str = "personal",
) -> Made:
    """A new token of ``owner``'s; ``actor`` is the owner themself or an admin over them (a
    service token only an admin makes). None is the CLI. Never through a token: refused (403)
    before anything else, and the attempt is kept in the security log."""
    refuse_through_a_token(actor, owner.username)
    errors: dict[str, str] = {}
    name = (name or "").strip()
    problem = validation.text_problem(name, 80)
    if not name:
        errors["name"] = _("is required")
    elif problem:
        errors["name"] = problem
    if scope not in SCOPES:
        errors["scope"] = _("Choose one of: %(choices)s", choices=", ".join(SCOPES))
    if kind not in TOKEN_KINDS:
        errors["kind"] = _("Choose one of: %(choices)s", choices=", ".join(TOKEN_KINDS))
    span = validation.parse_int(days if days is not None else DEFAULT_DAYS, low=1, high=MAX_DAYS)
    if span is None:
        errors["days"] = _("Give a number from %(low)s to %(high)s.", low=1, high=MAX_DAYS)
    if errors:
        raise ValidationFailed(_("Some fields need correcting."), field_errors=errors)
    if actor is not None:
        own = actor.id == owner.id
        admin = _is_admin_somewhere(actor) and accounts.may_manage_user(actor, owner)
        if (kind == "service" or not own) and not admin:
            raise NotAllowed(
                _("Only the account's owner or an administrator over it may make its tokens.")
                if kind != "service"
                else _("Only an administrator may make a service token.")
            )
        if scope == "admin" and not _is_admin_somewhere(owner):
            raise ValidationFailed(
                _("Some fields need correcting."),
                field_errors={
                    "scope": _("Only an administrator's token may have the admin scope.")
                },
            )
    prefix = secrets.token_hex(4)
    secret = f"{PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    token = ApiToken(
        user_id=owner.id,
        name=name,
        kind=kind,
        scope=scope,
        prefix=prefix,
        secret_hash=secret_hash(secret),
        created_by_id=actor.id if actor is not None else None,
        expires_at=now() + timedelta(days=span or DEFAULT_DAYS),
    )
    db.session.add(token)
    db.session.flush()
    audit.record(
        "api_token_created",
        actor=actor if actor is not None else audit.SYSTEM,
        payload={
            "token_id": token.id,
            "name": name,
            "owner": owner.username,
            "scope": scope,
            "kind": kind,
            "expires_at": token.expires_at,
        },
    )
    db.session.commit()
    return Made(token, secret)


def get_token(actor: User | None, token_id: int) -> ApiToken:
    token = db.session.get(ApiToken, token_id)
    if token is None or not may_manage(actor, token):
        raise NotFound(_("There is no such token."))
    return token


def revoke_token(actor: User | None, token_id: int, *, reason: str | None = None) -> ApiToken:
    token = get_token(actor, token_id)
    if token.revoked_at is None:
        token.revoked_at = now()
        payload = {"token_id": token.id, "name": token.name, "owner": token.user.username}
        audit.record(
            "api_token_revoked",
            actor=actor if actor is not None else audit.SYSTEM,
            payload={**payload, "reason": reason} if reason else payload,
        )
        db.session.commit()
    return token


@dataclass
class MadeThroughToken:
    """A token whose making the audit trail says came through another token."""

    token_id: int
    token: ApiToken | None  # None: its row is gone with its account
    through: dict  # the token used: {"token_id", "token"}
    at: datetime
    by: str  # the account the request acted as


def made_through_tokens() -> list[MadeThroughToken]:
    """Tokens made by a request that came with a token, which was possible before a token
    was refused that (the hostile review's "a token never makes tokens"). No column of the
    token says so (``created_by_id`` is the account, the same either way), but its
    ``api_token_created`` event does: every event of a request made with a token has carried
    the token in ``via`` (``audit.attribute_with``) since tokens exist. Oldest first."""
    from pbflow.models import AuditEvent

    found = []
    events = db.session.execute(
        select(AuditEvent.payload, AuditEvent.at, AuditEvent.actor_label)
        .where(AuditEvent.action == "api_token_created")
        .order_by(AuditEvent.seq)
    )
    for raw, at, by in events:
        payload = json.loads(raw)
        via = payload.get("via")
        if isinstance(via, dict) and isinstance(payload.get("token_id"), int):
            token_id = payload["token_id"]
            found.append(
                MadeThroughToken(token_id, db.session.get(ApiToken, token_id), via, at, by)
            )
    return found


def list_tokens(actor: User | None, *, owner: User | None = None) -> list[ApiToken]:
    """The actor's own tokens, or (an admin, or the CLI) those of ``owner``; with no owner an
    admin sees every token of the accounts they manage. One statement, owners included,
    however many tokens and accounts (``may_manage`` as a condition of the query)."""
    stmt = select(ApiToken).options(joinedload(ApiToken.user)).order_by(ApiToken.id.desc())
    if owner is not None:
        stmt = stmt.where(ApiToken.user_id == owner.id)
    if actor is not None:
        allowed = ApiToken.user_id == actor.id
        if _is_admin_somewhere(actor):
            managed = select(User.id).where(accounts.managed_users(actor))
            allowed = or_(allowed, ApiToken.user_id.in_(managed))
        stmt = stmt.where(allowed)
    return list(db.session.scalars(stmt))


def is_live(token: ApiToken, at: datetime | None = None) -> bool:
    at = at or now()
    return token.revoked_at is None and token.expires_at > at and token.user.active


def authenticate(secret: str | None, *, mark_use: bool = True) -> ApiToken:
    """The live token with this secret; TokenRefused otherwise. Marks its last use (at most
    once a minute, so reading costs no write per request) unless ``mark_use`` is false: the
    opinion box's operations, where the minute of a token's use, written next to its owner,
    would date an anonymous opinion finer than the hour and name who sent it."""
    if not secret or not secret.startswith(PREFIX) or len(secret) > 200:
        raise TokenRefused(_("The access token is missing or not valid."))
    token = db.session.scalar(select(ApiToken).where(ApiToken.secret_hash == secret_hash(secret)))
    if token is None or not is_live(token):
        raise TokenRefused(_("The access token is missing or not valid."))
    if not mark_use:
        return token
    at = now()
    if token.last_used_at is None or at - token.last_used_at > timedelta(minutes=1):
        token.last_used_at = at
        db.session.commit()
    return token
