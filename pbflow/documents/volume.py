"""The bound yearly volume of an organization's minutes: a cover, a table of contents with page
numbers, then every meeting of the year in date order, each starting on a new page.

The meetings come from the procedures that hold them (three meetings and one lesson, the life
meetings), each through its ``Procedure.minutes`` hook, as :class:`Section` items: the volume
knows no procedure. Pages, the PDF outline and the table of contents are the shared page
template's (``pdf``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from flask_babel import gettext as _

from pbflow.documents import pdf, printing
from pbflow.engine import actors
from pbflow.engine.errors import NotFound, ValidationFailed
from pbflow.models import User

MIN_YEAR, MAX_YEAR = 2000, 2100


@dataclass
class Section:
    """One meeting's minutes in a volume: its date, its heading, and the parts to print."""

    held_on: date
    kind: str  # the kind of meeting, as the table of contents names it
    title: str
    story: list[Any]


def _org_name(org_id: int, locale: str) -> str:
    node = actors.org_index()[org_id]
    return node.name_en if locale == "en" and node.name_en else node.name


def minutes_volume(
    reader: User,
    org_id: int,
    year: int,
    locale: str,
    sources: Iterable[Callable[[Any, int, int, str], list[Section]]],
) -> bytes:
    """The volume of ``org_id``'s minutes of ``year`` as PDF, audited; NotFound when the
    reader may not read the organization (an office prints its own branches')."""
    if actors.org_index().get(org_id) is None or not actors.can_read_org(reader, org_id):
        raise NotFound(_("No such organization."))
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise ValidationFailed(
            _("The year must lie between %(a)s and %(b)s.", a=MIN_YEAR, b=MAX_YEAR)
        )
    sections: list[Section] = []
    for source in sources:
        sections += source(reader, org_id, year, locale)
    sections.sort(key=lambda s: (s.held_on, s.kind, s.title))
    org = _org_name(org_id, locale)
    volume_title = _("Minutes of %(year)s", year=year)
    story: list[Any] = [pdf.spacer(40)]
    story += pdf.title(volume_title, org)
    story.append(
        pdf.para(_("%(n)s meetings, in the order they were held.", n=len(sections)), "subtitle")
    )
    story.append(pdf.page_break())
    story.append(pdf.heading(_("Contents"), toc=False))
    story.append(pdf.table_of_contents())
    for section in sections:
        story.append(pdf.page_break())
        story.append(pdf.heading(f"{section.held_on.isoformat()} {section.kind} · {section.title}"))
        story += section.story
    if not sections:
        story.append(pdf.para(_("No meeting is recorded for this year.")))
    data = pdf.render(
        pdf.Meta(
            title=f"{volume_title} · {org}",
            organization=org,
            locale=locale,
            subject=volume_title,
            printed_by=reader.display_name,
        ),
        story,
    )
    printing.record_print(
        reader,
        "minutes_volume",
        org_id=org_id,
        record={"year": year, "meetings": len(sections)},
        content=data,
    )
    return data
