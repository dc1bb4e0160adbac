"""Figures kept as data: cases counted per measure, workflow, state, organization and month
(pbflow.engine.tally).

One row per (measure, workflow, state, organization, year) with a count per month of that
year (``m1`` .. ``m12``, UTC months). A measure counts something of a case at a time: an
open case at its time limit (``due``) and at the time it entered its state (``entered``),
every case at its start (``created``) and a closed one at its end (``closed``, per final
state), an open case per state (``open``: a timeless measure, year 0, counted in ``m1``),
and what a procedure counts of its own cases (an opinion's facts at its receipt, a
rectification item's deadline, a life meeting's day), and what a procedure counts of people
(members by status, sex, education, birth and full membership, kept for each organization
above them too; ``workflow_id`` ""). ``state`` is "" for measures not counted per state (or
names the value counted). A count over a time range reads a few rows per organization (one per
year) instead of every case; the engine changes them in the same transaction as every
change of a case, and ``pbflow figures check`` recomputes them from the cases.
"""

from __future__ import annotations

from sqlalchemy import Integer, PrimaryKeyConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from pbflow.extensions import db

MONTHS = tuple(f"m{i}" for i in range(1, 13))


class CaseTally(db.Model):
    __tablename__ = "case_tally"
    __table_args__ = (
        # Read by measure and workflow, then organization: a figure reads one range of it.
        PrimaryKeyConstraint("measure", "workflow_id", "org_id", "state", "year"),
        # The rows are the primary key's own (no separate table on SQLite).
        {"sqlite_with_rowid": False},
    )

    measure: Mapped[str] = mapped_column(String(24))
    workflow_id: Mapped[str] = mapped_column(String(64))
    org_id: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(120), default="")
    year: Mapped[int] = mapped_column(Integer)
    m1: Mapped[int] = mapped_column(default=0)
    m2: Mapped[int] = mapped_column(default=0)
    m3: Mapped[int] = mapped_column(default=0)
    m4: Mapped[int] = mapped_column(default=0)
    m5: Mapped[int] = mapped_column(default=0)
    m6: Mapped[int] = mapped_column(default=0)
    m7: Mapped[int] = mapped_column(default=0)
    m8: Mapped[int] = mapped_column(default=0)
    m9: Mapped[int] = mapped_column(default=0)
    m10: Mapped[int] = mapped_column(default=0)
    m11: Mapped[int] = mapped_column(default=0)
    m12: Mapped[int] = mapped_column(default=0)
