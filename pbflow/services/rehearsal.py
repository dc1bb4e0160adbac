"""Rehearsals on a copy of the database: the only place ``tick --now`` may act as of another
time. A live database is never marked: the operator copies it, points pbflow at the copy and
marks the copy (``pbflow rehearsal start``, audited there), after which ``tick --now`` runs
and no e-mail leaves (``services.mail`` sends nothing from a rehearsal copy)."""

from __future__ import annotations

from pbflow import audit, clock
from pbflow.extensions import db
from pbflow.models import SiteFlag

FLAG = "rehearsal_copy"


def is_rehearsal() -> bool:
    return db.session.get(SiteFlag, FLAG) is not None


def start(note: str = "") -> None:
    """Mark this database as a rehearsal copy (once; marking it again changes nothing)."""
    if is_rehearsal():
        return
    try:
        db.session.add(SiteFlag(name=FLAG, value={"note": note[:300]}, set_at=clock.now()))
        audit.record("rehearsal_started", actor=audit.SYSTEM, payload={"note": note[:300]})
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
