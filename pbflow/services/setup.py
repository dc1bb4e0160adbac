"""Database creation and upgrade, and storing the workflow files' current versions."""

from __future__ import annotations

from flask_migrate import upgrade

from pbflow.engine.registry import registry
from pbflow.extensions import db


def upgrade_database() -> None:
    """Apply every migration (creates the schema, the audit triggers and the chain's genesis)."""
    upgrade()


def sync_workflows() -> list[str]:
    """Store each valid workflow file's current text as a version (audited when new)."""
    reg = registry()
    reg.reload()
    if reg.errors:
        from pbflow.engine.errors import DomainError

        raise DomainError("; ".join(str(e) for e in reg.errors))
    names = []
    try:
        for d in reg.current.values():
            reg.ensure_stored(d)
            names.append(d.id)
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return names
