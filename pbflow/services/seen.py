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
from typing import Any

from flask_babel import gettext as _

from pbflow.engine.errors import ConcurrentChange


def digest(record: Any, fields: tuple[str, ...]) -> str:
    shown = {name: getattr(record, name) for name in fields}
    return hashlib.sha256(json.dumps(shown, sort_keys=True, default=str).encode()).hexdigest()[:16]


def check(record: Any, fields: tuple[str, ...], shown: str | None, message: str) -> None:
    """Refuse (``ConcurrentChange``, 409) when the form showed ``record`` otherwise; a caller
    that sends no digest (a program) is not checked. The row must be held and read again by
    the caller first."""
    if shown and shown != digest(record, fields):
        raise ConcurrentChange(message or _("This record changed since you opened it."))
