"""Figures kept between requests for as long as nothing they are counted from has changed.

Every change pbflow makes to its records writes an audit event in the same transaction (the
engine's one-transaction rule; ``audit verify`` names a row changed without one), and every
event moves the audit chain's head to a new hash. So a figure worked out at one head is still
the figure while the head has not moved: a request that finds the head where a kept figure
was made, on the same local day (periods begin, fall due and end by the day), reads it
instead of counting it again. The dashboard's meetings calendar is the case in point: 2,360
periods for 50 branches, worked out from a year of meetings on every view (nearly half of
the overview's work), for figures that change a few times a day; and the members' training
hours of the year (20,000 members and their year's totals read for one section).

- **Kept per process and per application** (each gunicorn worker its own), at most
  ``PBFLOW_DASHBOARD_MEMO`` figures and ``PBFLOW_INBOX_MEMO`` inboxes (two stores), the
  least recently read dropped first; 0 keeps none.
- **Never kept while the chain is empty.** A new database has no head to tell it from
  another.
- **A request with changes of its own** reads the head its own flushed changes moved. A
  figure kept under that head is never found again if the transaction rolls back: the next
  event's hash differs, because it is salted.
- **A figure that reads the clock finer than the day** (overdue since this morning, stuck
  for thirty days to the minute) is kept only with ``until``: the instant, worked out before
  the figure is counted, at which the clock alone would change it (the next open case to
  fall due, say). It is counted afresh from that instant on, and before the instant it
  was counted at (a clock set back, as tests do).

The head is read with one statement (``audit.head``); a figure found costs nothing more.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from datetime import datetime
from typing import TypeVar

from flask import current_app

from pbflow import audit, clock

T = TypeVar("T")
_KEY = "pbflow_head_memo"
_LOCK = threading.Lock()  # a threaded server's requests share the store


# The stores, each with the setting that bounds it: the dashboard's figures (a calendar is
# 0.7 MB) apart from the inboxes (a few KB, one per reader), so that a morning of readers
# opening their inboxes does not push the committee's calendars out.
STORES = {"figures": "PBFLOW_DASHBOARD_MEMO", "inbox": "PBFLOW_INBOX_MEMO"}


def _store(name: str) -> tuple[OrderedDict, int] | None:
    """The application's store ``name`` and its size; None when nothing is to be kept."""
    size = int(current_app.config.get(STORES[name], 0) or 0)
    if size <= 0:
        return None
    stores = current_app.extensions.setdefault(_KEY, {})
    store = stores.get(name)
    if store is None:
        store = stores[name] = OrderedDict()
    return store, size


def remembered(
    key: Hashable,
    make: Callable[[], T],
    *,
    until: Callable[[datetime], datetime | None] | None = None,
    store: str = "figures",
) -> T:
    """``make()``, or what it returned at this same head and day for the same ``key``. The
    key names the figure and everything it depends on beyond the records and the day (the
    organization, the period, the reader's language). ``until(now)``: for a figure that
    reads the clock, the first instant from ``now`` on at which the clock alone changes it
    (None: not before the day ends). ``store``: which of STORES keeps it."""
    kept = _store(store)
    if kept is None:
        return make()
    entries, size = kept
    seq, at = audit.head()  # as this request's transaction sees it, its own changes flushed
    if seq == 0:
        return make()
    now = clock.now()
    full = (key, at, clock.today())
    with _LOCK:
        found = entries.get(full)
        if found is not None and found[1] <= now and (found[2] is None or now < found[2]):
            entries.move_to_end(full)
            return found[0]
    # The instant first, then the figure: a change of the clock's making between the two is
    # at or before the instant, so the figure is counted afresh at it.
    expires = until(now) if until is not None else None
    made = make()  # outside the lock: two requests may both count it, one is kept
    with _LOCK:
        entries[full] = (made, now, expires)
        entries.move_to_end(full)
        while len(entries) > size:
            entries.popitem(last=False)
    return made


def forget() -> None:
    """Drop every kept figure (tests that change records with SQL, as ``audit verify``'s
    tests do, and an operator's shell after such a repair)."""
    stores = current_app.extensions.get(_KEY)
    if stores is not None:
        with _LOCK:
            stores.clear()
