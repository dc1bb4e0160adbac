"""What an edit form showed of a record, as a short digest sent with the form.

A form carries every field it shows, changed or not; without a check, the second of two
people editing one record would save back what the first had changed (the values their form
still showed). The form sends ``digest(record, fields)`` as it was when the page was made;
the save holds the record's row, reads it again, and refuses the change when the digest of
the record now differs (pbflow.services.people, pbflow.services.accounts).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from pbflow.engine.errors import ConcurrentChange
from pbflow.extensions import db


def digest(record: Any, fields: tuple[str, ...]) -> str:
    shown = {name: getattr(record, name) for name in fields}
    return hashlib.sha256(json.dumps(shown, sort_keys=True, default=str).encode()).hexdigest()[:16]


def hold_as_shown(
    record: Any,
    hold: Callable[[int], bool],
    fields: tuple[str, ...],
    shown: str | None,
    message: str,
) -> None:
    """Hold the record's row until the transaction ends (``hold``: one of
    pbflow.engine.locks), read it again as it is now, and refuse (``ConcurrentChange``, 409,
    saying ``message``) when the form showed it otherwise. A caller that sends no digest (a
    program) is not checked."""
    hold(record.id)
    db.session.refresh(record)
    if shown and shown != digest(record, fields):
        raise ConcurrentChange(message)
