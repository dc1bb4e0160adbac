"""Training hours as people type and read them (DOMAIN.md 3: at least 32 hours a year).

Hours are stored as whole minutes (a sum of half hours is exact on every database) and typed
and shown in hours, in steps of half an hour: "2", "2.5", "2,5" (a European keyboard's comma),
nothing else (see ``HOURS_PATTERN``).
"""

from __future__ import annotations

import functools
import re
from decimal import Decimal

from flask_babel import gettext as _

STEP_MINUTES = 30
MAX_MINUTES = 24 * 60  # one record: at most a day's training
# The meetings that are study and may credit training hours to each member present. A party
# lecture and a theme party day are study by nature; a branch general meeting and a party
# group meeting often open with collective study (the record says how long, or nothing). A
# committee meeting is the committee's business, not the members' training: it credits none
# (it would give a few members hours that the others cannot get).
STUDY_TYPES = ("general_meeting", "group_meeting", "party_lecture", "theme_day")


# Hours as typed: ASCII digits (one or two; up to three for a year's hours), then at most two
# decimals after a point or a comma. Anything else (an exponent, "1_0", full-width digits,
# thirty decimals) is refused before a number is made of it: Decimal and float read those,
# and "1e-999999999" became 0 minutes that passed the step check and then broke the CHECK
# constraint.
@functools.cache
def _pattern(digits: int) -> re.Pattern[str]:
    return re.compile(rf"[0-9]{{1,{digits}}}(?:[.,][0-9]{{1,2}})?", re.ASCII)


def parse_hours(raw: str | None, at_most: int = MAX_MINUTES // 60) -> tuple[int | None, str | None]:
    """Minutes from typed hours (half hours, from 0.5 to ``at_most``: a record's or a
    meeting's 24, a year's requirement more), or the reason they are refused (blank: None,
    None)."""
    text = (raw or "").strip()
    if not text:
        return None, None
    pattern = _pattern(len(str(at_most)))
    if text.startswith("-") and pattern.fullmatch(text[1:]):
        return None, _("must be more than 0 hours")
    if not pattern.fullmatch(text):
        return None, _("must be a number of hours such as 2 or 2.5")
    value = Decimal(text.replace(",", "."))
    if value > at_most:
        return None, _("must be at most %(n)s hours", n=at_most)
    minutes = value * 60
    if minutes % STEP_MINUTES:
        return None, _("must be in steps of half an hour (such as 1.5)")
    if minutes < STEP_MINUTES:
        return None, _("must be more than 0 hours")
    return int(minutes), None


def hours_text(minutes: int | None) -> str:
    """Minutes as hours to read: 150 -> "2.5", 120 -> "2"."""
    if minutes is None:
        return ""
    whole, rest = divmod(int(minutes), 60)
    return f"{whole}" if not rest else f"{minutes / 60:g}"
