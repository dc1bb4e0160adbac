"""The working-day calendar's local part: days an administrator set, years they entered.

The official calendar (public holidays and the make-up working days on weekends, 调休) comes
from the ``chinesecalendar`` package, which follows the State Council's yearly announcement.
These tables hold what an administrator adds on top: a year's official days entered by hand
before the package knows them, and local rules (a local holiday, a day declared working).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from pbflow.clock import now
from pbflow.extensions import db


class CalendarDay(db.Model):
    """One day whose status an administrator set; it wins over the official calendar."""

    __tablename__ = "calendar_day"

    day: Mapped[date] = mapped_column(primary_key=True)
    working: Mapped[bool]
    name: Mapped[str] = mapped_column(String(120), default="")
    set_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    set_at: Mapped[datetime] = mapped_column(default=now)


class CalendarYear(db.Model):
    """A year whose official arrangement an administrator has entered as days: from then on
    pbflow counts that year's working days without a warning, as for a year the package knows."""

    __tablename__ = "calendar_year"

    year: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    note: Mapped[str] = mapped_column(String(300), default="")
    confirmed_by: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )
    confirmed_at: Mapped[datetime] = mapped_column(default=now)
