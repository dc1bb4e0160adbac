"""Configuration read once: defaults, then ``PBFLOW_*`` environment variables, then overrides.

Every setting an operator may change is listed in ``ENV_SETTINGS`` so the README and
``pbflow config`` can show them from one place.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
LOCALES = ("zh", "en")  # the languages pbflow speaks
# Bounds of PBFLOW_REAUTH_MINUTES: at least a minute (the login itself must count); at most
# two hours (GitHub's "sudo mode"), beyond which the confirmation no longer protects much.
REAUTH_MINUTES = (1, 120)
# Bounds of PBFLOW_DASHBOARD_MEMO: the dashboard keeps a meetings calendar per organization,
# period and language viewed, some 0.7 MB for a committee of 50 branches over a year (measured
# at 100,000 cases; the other figures are far smaller); 500 calendars is 350 MB a process.
DASHBOARD_MEMO = (0, 500)
# Bounds of PBFLOW_INBOX_MEMO: an inbox's lists, kept per reader, are a few KB each (two
# counts and a page of case numbers); 5,000 readers is some 25 MB a process.
INBOX_MEMO = (0, 5000)

# name -> (config key, type, default, help)
ENV_SETTINGS: dict[str, tuple[str, type, Any, str]] = {
    "PBFLOW_DATABASE_URL": (
        "SQLALCHEMY_DATABASE_URI",
        str,
        None,
        "Database URL; default is SQLite under instance/. PostgreSQL: postgresql+psycopg://...",
    ),
    "PBFLOW_SECRET_KEY": (
        "SECRET_KEY",
        str,
        None,
        "Signs sessions and CSRF tokens; generated into instance/secret_key when unset.",
    ),
    "PBFLOW_WORKFLOWS_DIR": (
        "PBFLOW_WORKFLOWS_DIR",
        str,
        str(PROJECT_ROOT / "workflows"),
        "Folder of workflow definition files (*.yaml).",
    ),
    "PBFLOW_PROCEDURES": (
        "PBFLOW_PROCEDURES",
        list,
        None,
        "Procedures to install, comma-separated (packages in pbflow/procedures/); default all.",
    ),
    "PBFLOW_UPLOAD_DIR": (
        "PBFLOW_UPLOAD_DIR",
        str,
        None,
        "Where attachments are stored by content hash; default instance/uploads.",
    ),
    "PBFLOW_MAX_UPLOAD_MB": ("PBFLOW_MAX_UPLOAD_MB", int, 20, "Largest accepted upload, in MiB."),
    "PBFLOW_LOGIN_MAX_FAILURES": (
        "PBFLOW_LOGIN_MAX_FAILURES",
        int,
        5,
        "Failed logins in a row that lock an account.",
    ),
    "PBFLOW_LOGIN_LOCK_MINUTES": (
        "PBFLOW_LOGIN_LOCK_MINUTES",
        int,
        15,
        "How long a locked account stays locked (an admin may unlock it sooner).",
    ),
    "PBFLOW_REAUTH_MINUTES": (
        "PBFLOW_REAUTH_MINUTES",
        int,
        10,
        "Minutes after a password was last entered (at login, or confirming it) within which "
        "a sensitive action (an access token, another's password, a role, an account's "
        f"activation, a setting) needs no new confirmation; {REAUTH_MINUTES[0]} to "
        f"{REAUTH_MINUTES[1]}.",
    ),
    "PBFLOW_DASHBOARD_MEMO": (
        "PBFLOW_DASHBOARD_MEMO",
        int,
        64,
        "Figures (per organization, period and language viewed: meetings calendars, the "
        "counts of work, notices, development, opinions and rectification; training hours) "
        "each server process keeps for the dashboard until the next recorded change, the "
        "next day, or the next instant an open case falls due or becomes stuck; "
        f"{DASHBOARD_MEMO[0]} (none kept) to {DASHBOARD_MEMO[1]}.",
    ),
    "PBFLOW_INBOX_MEMO": (
        "PBFLOW_INBOX_MEMO",
        int,
        256,
        "Inboxes (per reader: how many cases wait on them and the page of them shown) each "
        "server process keeps until the next recorded change; "
        f"{INBOX_MEMO[0]} (none kept) to {INBOX_MEMO[1]}.",
    ),
    "PBFLOW_OPINION_SUBMIT_LIMIT": (
        "PBFLOW_OPINION_SUBMIT_LIMIT",
        int,
        5,
        "Opinions one client address may drop in the opinion box per window.",
    ),
    "PBFLOW_OPINION_TRACK_LIMIT": (
        "PBFLOW_OPINION_TRACK_LIMIT",
        int,
        30,
        "Wrong tracking codes one client address may try per window.",
    ),
    "PBFLOW_OPINION_WINDOW_MINUTES": (
        "PBFLOW_OPINION_WINDOW_MINUTES",
        int,
        60,
        "Length of the opinion box's rate-limit window, in minutes.",
    ),
    "PBFLOW_ACCESS_LOG_CLIENTS": (
        "PBFLOW_ACCESS_LOG_CLIENTS",
        bool,
        False,
        "Write client addresses and user agents in the access log, for pages outside the "
        "opinion box (which is never logged).",
    ),
    "PBFLOW_PG_PREPARED": (
        "PBFLOW_PG_PREPARED",
        bool,
        True,
        "Keep PostgreSQL statements prepared across requests (a request that wrote nothing "
        "ends in COMMIT). Turn off behind a pooler that cannot keep them, such as PgBouncer "
        "before 1.21 in transaction mode.",
    ),
    "PBFLOW_ESCALATION_WORKING_DAYS": (
        "PBFLOW_ESCALATION_WORKING_DAYS",
        int,
        5,
        "Working days a superior has to act on an escalated case before it goes one level "
        "higher (when no supervision notice carries it).",
    ),
    "PBFLOW_AUDIT_KEY_FILE": (
        "PBFLOW_AUDIT_KEY_FILE",
        str,
        None,
        "Ed25519 key that signs audit checkpoints and seals events; default "
        "instance/audit_key.pem, created on first need (mode 600). Keep it off the database host.",
    ),
    "PBFLOW_AUDIT_TRUSTED_KEYS": (
        "PBFLOW_AUDIT_TRUSTED_KEYS",
        str,
        "",
        "Earlier audit public keys (ed25519:..., comma-separated) whose checkpoints still count.",
    ),
    "PBFLOW_TIMEZONE": (
        "PBFLOW_TIMEZONE",
        str,
        "Asia/Shanghai",
        "Local time zone for dates shown and for day-based time limits.",
    ),
    "PBFLOW_CALENDAR_WARN_WEEKS": (
        "PBFLOW_CALENDAR_WARN_WEEKS",
        int,
        8,
        "Weeks before the working-day calendar runs out that tick warns the administrators.",
    ),
    "PBFLOW_SMTP_HOST": (
        "PBFLOW_SMTP_HOST",
        str,
        None,
        "SMTP server for notifications by e-mail; unset: no e-mail is sent.",
    ),
    "PBFLOW_SMTP_PORT": ("PBFLOW_SMTP_PORT", int, 587, "SMTP port."),
    "PBFLOW_SMTP_SECURITY": (
        "PBFLOW_SMTP_SECURITY",
        str,
        "starttls",
        "starttls, ssl (TLS from the start, usually port 465) or none (a relay on this host).",
    ),
    "PBFLOW_SMTP_USER": ("PBFLOW_SMTP_USER", str, None, "SMTP login, if the server wants one."),
    "PBFLOW_SMTP_PASSWORD": ("PBFLOW_SMTP_PASSWORD", str, None, "SMTP password."),
    "PBFLOW_SMTP_FROM": (
        "PBFLOW_SMTP_FROM",
        str,
        "pbflow@localhost",
        "Sender address of notification e-mails.",
    ),
    "PBFLOW_SMTP_TIMEOUT": ("PBFLOW_SMTP_TIMEOUT", int, 20, "Seconds before an SMTP try gives up."),
    "PBFLOW_MAIL_DIGEST_HOUR": (
        "PBFLOW_MAIL_DIGEST_HOUR",
        int,
        7,
        "Local hour from which the daily digests of the day before are sent.",
    ),
    "PBFLOW_MAIL_MAX_ATTEMPTS": (
        "PBFLOW_MAIL_MAX_ATTEMPTS",
        int,
        6,
        "Tries of one e-mail before it is given up (with growing pauses between them).",
    ),
    "PBFLOW_BASE_URL": (
        "PBFLOW_BASE_URL",
        str,
        None,
        "pbflow's address as its users reach it (https://...), for links in e-mails.",
    ),
    "PBFLOW_SECURE_COOKIES": (
        "SESSION_COOKIE_SECURE",
        bool,
        False,
        "Set to 1 when served over HTTPS so cookies are sent only over TLS.",
    ),
    "PBFLOW_DEFAULT_LOCALE": (
        "BABEL_DEFAULT_LOCALE",
        str,
        "zh",
        "Language when the browser says none.",
    ),
}


def _coerce(kind: type, raw: str, name: str = "the setting") -> Any:
    if kind is bool:
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    if kind is int:
        try:
            return int(raw)
        except ValueError:
            raise ValueError(f"{name} must be a whole number, not {raw!r}") from None
    if kind is list:
        return [item.strip() for item in raw.split(",") if item.strip()]
    return raw


def env_setting(name: str) -> Any:
    """One setting of ``ENV_SETTINGS`` read from the environment alone (for code that runs
    without an app, such as the gunicorn configuration)."""
    _key, kind, default, _help = ENV_SETTINGS[name]
    raw = os.environ.get(name)
    return _coerce(kind, raw, name) if raw not in (None, "") else default


def _secret_key(instance_path: Path) -> str:
    """Read the instance secret, creating it on first start so sessions survive restarts."""
    path = instance_path / "secret_key"
    if path.exists():
        return path.read_text().strip()
    path.write_text(secrets.token_hex(32))
    path.chmod(0o600)
    return path.read_text().strip()


# Set on every PostgreSQL connection pbflow opens (see build_config for why).
POSTGRES_SESSION_OPTIONS = (
    "-c jit=off -c max_parallel_workers_per_gather=0 -c plan_cache_mode=force_custom_plan"
)


def build_config(instance_path: Path, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "SQLALCHEMY_TRACK_MODIFICATIONS": False,
        # A pooled connection the server dropped (restart, idle timeout, a killed backend)
        # is noticed and replaced before use, so it costs no failed request.
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "WTF_CSRF_TIME_LIMIT": None,
        "BABEL_TRANSLATION_DIRECTORIES": str(PROJECT_ROOT / "pbflow" / "translations"),
        "PBFLOW_FAKE_NOW": None,
        "PBFLOW_PASSWORD_METHOD": "scrypt",
    }
    for env_name, (key, kind, default, _help) in ENV_SETTINGS.items():
        raw = os.environ.get(env_name)
        cfg[key] = _coerce(kind, raw, env_name) if raw not in (None, "") else default
    if overrides:
        cfg.update(overrides)
    if not cfg.get("SQLALCHEMY_DATABASE_URI"):
        cfg["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{instance_path / 'pbflow.sqlite3'}"
    if str(cfg["SQLALCHEMY_DATABASE_URI"]).startswith("sqlite"):
        # A SQLite file has no server to drop the connection: no ping before each use (it
        # was one statement more per step, bench/engine.py).
        options = dict(cfg.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
        options["pool_pre_ping"] = False
        cfg["SQLALCHEMY_ENGINE_OPTIONS"] = options
    if str(cfg["SQLALCHEMY_DATABASE_URI"]).startswith("postgresql"):
        # No JIT compilation: a page's statements are short index walks whose LIMIT the
        # planner's cost estimate does not see, so statements over large tables passed
        # jit_above_cost and paid 100-150 ms of compiling to save a fraction of a
        # millisecond (the inbox of a committee with 10,000 cases waiting: 160 -> 2 ms).
        # No parallel query either: a page reads tens of rows, and the planner, over-estimating
        # them, started two workers for a branch's case list (5-8 ms of launching them for a
        # 0.1 ms read, and under load the workers take the CPUs the other requests wait for).
        # Statements kept prepared (pbflow.prepared) are planned for each execution's values
        # all the same: a plan made once for any values would walk a committee's tree as it
        # walks a branch's.
        options = dict(cfg.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
        connect_args = dict(options.get("connect_args") or {})
        connect_args["options"] = (
            f"{connect_args.get('options', '')} {POSTGRES_SESSION_OPTIONS}".strip()
        )
        if not cfg["PBFLOW_PG_PREPARED"]:
            connect_args["prepare_threshold"] = None  # psycopg never prepares
        options["connect_args"] = connect_args
        # The connection returned last is lent next: a worker serving one request at a time
        # keeps using the one whose statements psycopg has prepared (pbflow.prepared), and
        # the others of the pool stay idle until they are needed.
        options.setdefault("pool_use_lifo", True)
        # A connection the server ended is found when it leaves the pool by polling its
        # socket, not by a statement sent on every request (pbflow.connection_check).
        options["pool_pre_ping"] = False
        cfg["SQLALCHEMY_ENGINE_OPTIONS"] = options
    minutes = cfg["PBFLOW_REAUTH_MINUTES"]
    if not (isinstance(minutes, int) and REAUTH_MINUTES[0] <= minutes <= REAUTH_MINUTES[1]):
        raise ValueError(
            f"PBFLOW_REAUTH_MINUTES must be a whole number of minutes from {REAUTH_MINUTES[0]}"
            f" to {REAUTH_MINUTES[1]}, not {minutes!r}"
        )
    for name, (low, high) in (
        ("PBFLOW_DASHBOARD_MEMO", DASHBOARD_MEMO),
        ("PBFLOW_INBOX_MEMO", INBOX_MEMO),
    ):
        kept = cfg[name]
        if not (isinstance(kept, int) and low <= kept <= high):
            raise ValueError(f"{name} must be a whole number from {low} to {high}, not {kept!r}")
    if not cfg.get("PBFLOW_UPLOAD_DIR"):
        cfg["PBFLOW_UPLOAD_DIR"] = str(instance_path / "uploads")
    if not cfg.get("SECRET_KEY"):
        cfg["SECRET_KEY"] = _secret_key(instance_path)
    cfg["MAX_CONTENT_LENGTH"] = int(cfg["PBFLOW_MAX_UPLOAD_MB"]) * 1024 * 1024 + 64 * 1024
    return cfg
