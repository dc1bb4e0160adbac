"""Pages and parts of pbflow's PDF documents, laid out with ReportLab's Platypus.

Every document gets the same page: A4, the organization and the document's title in the
header, "page X of Y" and who printed it when in the footer; its info carries title, author
(the organization), subject, language and the creation date. Fonts are embedded (subset), so
Chinese renders on any machine. Output is reproducible: ReportLab's invariant mode with the
creation date taken from pbflow's clock, so the same records printed at the same time give the
same bytes (tests pin the clock).

Parts the procedures build their documents from: :func:`title`, :func:`heading` (an entry in
the table of contents and the PDF outline when the document has one), :func:`para`,
:func:`fields_table` (a form's table of labelled fields), :func:`grid` (a table with a header
row), :func:`signatures` (signature and date lines) and :func:`seal_area` (where the
organization's seal goes).
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from xml.sax.saxutils import escape

from flask_babel import gettext as _

from pbflow import clock
from pbflow.documents import fonts

PAGE_MARGIN_MM = (25, 20, 22, 20)  # top, right, bottom, left
RED = (0.70, 0.07, 0.11)


@dataclass
class Meta:
    """What a document says about itself: in its info dictionary and on every page."""

    title: str
    organization: str
    locale: str = "zh"
    subject: str = ""
    printed_by: str = ""
    created: datetime | None = None  # naive UTC; default: pbflow's clock
    keywords: tuple[str, ...] = field(default_factory=tuple)

    @property
    def when(self) -> datetime:
        return self.created if self.created is not None else clock.now()


# --- styles -------------------------------------------------------------------------------


def _styles() -> dict[str, Any]:
    from reportlab.lib import colors
    from reportlab.lib.enums import TA_CENTER, TA_LEFT, TA_RIGHT
    from reportlab.lib.styles import ParagraphStyle

    fonts.register()
    # CJK wrapping breaks between any two hanzi but never before closing punctuation (，。、）)
    # or after opening punctuation (（“), and still breaks Latin text at spaces.
    base = ParagraphStyle(
        "body", fontName=fonts.REGULAR, fontSize=10.5, leading=17, wordWrap="CJK", spaceAfter=4
    )
    return {
        "body": base,
        "title": ParagraphStyle(
            "title",
            parent=base,
            fontName=fonts.BOLD,
            fontSize=18,
            leading=26,
            alignment=TA_CENTER,
            spaceAfter=10,
        ),
        "subtitle": ParagraphStyle(
            "subtitle", parent=base, alignment=TA_CENTER, textColor=colors.HexColor("#444444")
        ),
        "h1": ParagraphStyle(
            "h1",
            parent=base,
            fontName=fonts.BOLD,
            fontSize=13,
            leading=19,
            spaceBefore=10,
            spaceAfter=5,
            textColor=colors.Color(*RED),
        ),
        "h2": ParagraphStyle(
            "h2", parent=base, fontName=fonts.BOLD, fontSize=11, leading=16, spaceBefore=6
        ),
        "cell": ParagraphStyle("cell", parent=base, fontSize=9.5, leading=14, spaceAfter=0),
        "label": ParagraphStyle(
            "label", parent=base, fontSize=9.5, leading=14, spaceAfter=0, alignment=TA_CENTER
        ),
        "head": ParagraphStyle(
            "head", parent=base, fontName=fonts.BOLD, fontSize=9.5, leading=14, spaceAfter=0
        ),
        "small": ParagraphStyle(
            "small", parent=base, fontSize=8.5, leading=12, textColor=colors.HexColor("#555555")
        ),
        "right": ParagraphStyle("right", parent=base, alignment=TA_RIGHT),
        "left": ParagraphStyle("left", parent=base, alignment=TA_LEFT),
        "toc1": ParagraphStyle("toc1", parent=base, fontSize=10.5, leading=18, leftIndent=0),
        "toc2": ParagraphStyle("toc2", parent=base, fontSize=10, leading=16, leftIndent=14),
    }


_STYLES: dict[str, Any] | None = None


def style(name: str) -> Any:
    global _STYLES
    if _STYLES is None:
        _STYLES = _styles()
    return _STYLES[name]


def text(value: Any) -> str:
    """Record text as paragraph markup: escaped, line breaks kept."""
    if value is None:
        return ""
    return escape(str(value)).replace("\r\n", "\n").replace("\n", "<br/>")


def para(value: Any, style_name: str = "body") -> Any:
    from reportlab.platypus import Paragraph

    return Paragraph(text(value), style(style_name))


def title(value: str, subtitle: str | None = None) -> list[Any]:
    parts = [para(value, "title")]
    if subtitle:
        parts.append(para(subtitle, "subtitle"))
    return parts


def heading(value: str, level: int = 1, *, toc: bool = True) -> Any:
    from reportlab.platypus import Paragraph

    p = Paragraph(text(value), style("h1" if level == 1 else "h2"))
    p._pbflow_toc = (level - 1, str(value)) if toc else None
    return p


def spacer(height_mm: float = 4) -> Any:
    from reportlab.lib.units import mm
    from reportlab.platypus import Spacer

    return Spacer(1, height_mm * mm)


def page_break() -> Any:
    from reportlab.platypus import PageBreak

    return PageBreak()


def keep(parts: Sequence[Any]) -> Any:
    from reportlab.platypus import KeepTogether

    return KeepTogether(list(parts))


# --- tables -------------------------------------------------------------------------------


@dataclass
class Field:
    """One labelled field of a form; ``wide`` fields take a whole row."""

    label: str
    value: Any
    wide: bool = False


def _cell(value: Any, style_name: str = "cell") -> Any:
    if isinstance(value, str | int | float) or value is None:
        return para("" if value is None else value, style_name)
    return value  # already a flowable


def _width() -> float:
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm

    return A4[0] - (PAGE_MARGIN_MM[1] + PAGE_MARGIN_MM[3]) * mm


_GRID_COLOR = (0.2, 0.2, 0.2)
_LABEL_BG = (0.95, 0.94, 0.93)


def fields_table(fields_: Iterable[Field], *, pairs_per_row: int = 2) -> Any:
    """A form's table of fields: label and value cells side by side, ``pairs_per_row`` pairs
    to a row, each wide field alone on its row (its value spanning the rest)."""
    from reportlab.lib import colors
    from reportlab.platypus import Table, TableStyle

    total = _width()
    label_w = total * (0.19 if pairs_per_row == 2 else 0.24)
    value_w = (total - label_w * pairs_per_row) / pairs_per_row
    widths = [label_w, value_w] * pairs_per_row
    rows: list[list[Any]] = []
    commands: list[tuple] = []
    pending: list[Field] = []

    def flush() -> None:
        if not pending:
            return
        row: list[Any] = []
        for f in pending:
            row += [_cell(f.label, "label"), _cell(f.value)]
        while len(row) < 2 * pairs_per_row:
            row += ["", ""]
        rows.append(row)
        pending.clear()

    for col in range(0, 2 * pairs_per_row, 2):
        commands.append(("BACKGROUND", (col, 0), (col, -1), colors.Color(*_LABEL_BG)))
    for f in fields_:
        if f.wide:
            flush()
            rows.append([_cell(f.label, "label"), _cell(f.value)] + [""] * (2 * pairs_per_row - 2))
            row = len(rows) - 1
            commands.append(("SPAN", (1, row), (-1, row)))
            commands.append(("BACKGROUND", (1, row), (-1, row), colors.white))
        else:
            pending.append(f)
            if len(pending) == pairs_per_row:
                flush()
    flush()
    table = Table(rows, colWidths=widths, hAlign="CENTER")
    table.setStyle(
        TableStyle(
            [
                ("FONT", (0, 0), (-1, -1), fonts.REGULAR),
                ("GRID", (0, 0), (-1, -1), 0.6, colors.Color(*_GRID_COLOR)),
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                ("TOPPADDING", (0, 0), (-1, -1), 4),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 4),
                *commands,
            ]
        )
    )
    return table


def grid(header: Sequence[str], rows: Iterable[Sequence[Any]], widths: Sequence[float]) -> Any:
    """A table with a header row (repeated on every page it runs over); ``widths`` are
    fractions of the text width."""
    from reportlab.lib import colors
    from reportlab.platypus import Table, TableStyle

    total = _width()
    data = [[_cell(h, "head") for h in header]]
    data += [[_cell(v) for v in row] for row in rows]
    if len(data) == 1:
        data.append([_cell("—")] + [""] * (len(header) - 1))
    table = Table(data, colWidths=[w * total for w in widths], repeatRows=1, hAlign="CENTER")
    table.setStyle(
        TableStyle(
            [
                ("FONT", (0, 0), (-1, -1), fonts.REGULAR),
                ("GRID", (0, 0), (-1, -1), 0.5, colors.Color(*_GRID_COLOR)),
                ("BACKGROUND", (0, 0), (-1, 0), colors.Color(*_LABEL_BG)),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("TOPPADDING", (0, 0), (-1, -1), 3),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
            ]
        )
    )
    return table


def signatures(labels: Sequence[str]) -> Any:
    """Lines to sign on: 'label (signature) ________  date ____ year __ month __ day'."""
    from reportlab.lib import colors
    from reportlab.platypus import Table, TableStyle

    total = _width()
    rows = [
        [_cell(_("%(who)s (signature)", who=label)), "", _cell(_("Date")), _cell(_date_blank())]
        for label in labels
    ]
    table = Table(rows, colWidths=[total * 0.27, total * 0.27, total * 0.08, total * 0.38])
    table.setStyle(
        TableStyle(
            [
                ("FONT", (0, 0), (-1, -1), fonts.REGULAR),
                ("LINEBELOW", (1, 0), (1, -1), 0.6, colors.black),
                ("VALIGN", (0, 0), (-1, -1), "BOTTOM"),
                ("TOPPADDING", (0, 0), (-1, -1), 14),
            ]
        )
    )
    return table


def _date_blank() -> str:
    return _("____ year ___ month ___ day")


def seal_area(organization: str, day: str | None = None) -> Any:
    """Where the organization's seal goes: a dashed circle, the organization's name and the
    date under it, at the right of the page, as on paper forms."""
    from reportlab.lib import colors
    from reportlab.lib.units import mm
    from reportlab.platypus import Flowable

    label = _("Seal")
    date_text = day or _date_blank()

    class SealArea(Flowable):
        def __init__(self) -> None:
            super().__init__()
            self.width, self.height = _width(), 48 * mm

        def draw(self) -> None:
            # The seal is pressed over the organization's name and the date, as on paper.
            c = self.canv
            cx, cy, r = self.width - 38 * mm, 24 * mm, 21 * mm
            c.saveState()
            c.setStrokeColor(colors.Color(*RED))
            c.setDash(3, 3)
            c.circle(cx, cy, r)
            c.setFillColor(colors.Color(0.55, 0.55, 0.55))
            c.setFont(fonts.REGULAR, 7.5)
            c.drawCentredString(cx, cy + 12 * mm, label)
            c.setFillColor(colors.black)
            c.setFont(fonts.REGULAR, 10.5)
            c.drawCentredString(cx, cy + 1 * mm, _("%(org)s (seal)", org=organization))
            c.drawCentredString(cx, cy - 6 * mm, date_text)
            c.restoreState()

    return SealArea()


# --- building -----------------------------------------------------------------------------


def _date_formatter(at: datetime):
    stamp = at.strftime("D:%Y%m%d%H%M%S+00'00'")
    return lambda *_parts: stamp


def _canvas_maker(meta: Meta, footer: tuple[str, str]):
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.pdfgen.canvas import Canvas

    left, right = footer
    page_of = _("Page %(page)s of %(pages)s")
    formatter = _date_formatter(meta.when)

    class PagedCanvas(Canvas):
        """Keeps each page until the end, then writes 'page X of Y' on every one."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["invariant"] = 1
            super().__init__(*args, **kwargs)
            self._doc.setDateFormatter(formatter)
            self._kept: list[dict[str, Any]] = []

        def showPage(self) -> None:
            self._kept.append(dict(self.__dict__))
            self._startPage()

        def save(self) -> None:
            total = len(self._kept)
            for state in self._kept:
                self.__dict__.update(state)
                self._footer(total)
                super().showPage()
            super().save()

        def _footer(self, total: int) -> None:
            width = A4[0]
            y = PAGE_MARGIN_MM[2] * mm - 10 * mm
            self.saveState()
            self.setStrokeColor(colors.Color(0.6, 0.6, 0.6))
            self.setLineWidth(0.4)
            self.line(
                PAGE_MARGIN_MM[3] * mm, y + 4 * mm, width - PAGE_MARGIN_MM[1] * mm, y + 4 * mm
            )
            self.setFont(fonts.REGULAR, 8)
            self.setFillColor(colors.Color(0.3, 0.3, 0.3))
            self.drawString(PAGE_MARGIN_MM[3] * mm, y, left)
            self.drawCentredString(
                width / 2, y, page_of % {"page": self._pageNumber, "pages": total}
            )
            self.drawRightString(width - PAGE_MARGIN_MM[1] * mm, y, right)
            self.restoreState()

    return PagedCanvas


def _header(meta: Meta):
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm

    def draw(canvas: Any, _doc: Any) -> None:
        width, height = A4
        y = height - PAGE_MARGIN_MM[0] * mm + 8 * mm
        canvas.saveState()
        canvas.setFont(fonts.REGULAR, 8.5)
        canvas.setFillColor(colors.Color(0.3, 0.3, 0.3))
        canvas.drawString(PAGE_MARGIN_MM[3] * mm, y, meta.organization)
        canvas.drawRightString(width - PAGE_MARGIN_MM[1] * mm, y, meta.title)
        canvas.setStrokeColor(colors.Color(*RED))
        canvas.setLineWidth(0.8)
        canvas.line(
            PAGE_MARGIN_MM[3] * mm, y - 2.5 * mm, width - PAGE_MARGIN_MM[1] * mm, y - 2.5 * mm
        )
        canvas.restoreState()

    return draw


def _doc_template(buffer: io.BytesIO, meta: Meta, with_toc: bool):
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.platypus import BaseDocTemplate, Frame, PageTemplate

    top, right, bottom, left = (v * mm for v in PAGE_MARGIN_MM)

    class Doc(BaseDocTemplate):
        def afterFlowable(self, flowable: Any) -> None:
            entry = getattr(flowable, "_pbflow_toc", None)
            if entry is None:
                return
            level, label = entry
            key = f"h{id(flowable)}"
            self.canv.bookmarkPage(key)
            self.canv.addOutlineEntry(label, key, level=level, closed=level > 0)
            if with_toc:
                self.notify("TOCEntry", (level, text(label), self.page, key))

    doc = Doc(
        buffer,
        pagesize=A4,
        title=meta.title,
        author=meta.organization,
        subject=meta.subject or meta.title,
        creator="pbflow",
        keywords=list(meta.keywords),
        lang="zh-CN" if meta.locale == "zh" else "en",
        displayDocTitle=1,
        invariant=1,
        initialFontName=fonts.REGULAR,
        leftMargin=left,
        rightMargin=right,
        topMargin=top,
        bottomMargin=bottom,
    )
    frame = Frame(left, bottom, A4[0] - left - right, A4[1] - top - bottom, id="body")
    doc.addPageTemplates([PageTemplate(id="page", frames=[frame], onPage=_header(meta))])
    return doc


def table_of_contents() -> Any:
    """The table of contents of a bound volume, filled in from its headings."""
    from reportlab.platypus.tableofcontents import TableOfContents

    toc = TableOfContents(dotsMinLevel=0)
    toc.levelStyles = [style("toc1"), style("toc2")]
    return toc


def render(meta: Meta, story: list[Any]) -> bytes:
    """The document as PDF bytes. A story holding a table of contents is laid out until the
    page numbers settle (ReportLab's multi-pass build)."""
    from reportlab.platypus.tableofcontents import TableOfContents

    fonts.register()
    with_toc = any(isinstance(f, TableOfContents) for f in story)
    buffer = io.BytesIO()
    doc = _doc_template(buffer, meta, with_toc)
    printed = clock.to_local(meta.when).strftime("%Y-%m-%d %H:%M")
    right = (
        _("Printed by %(name)s on %(when)s", name=meta.printed_by, when=printed)
        if meta.printed_by
        else _("Printed on %(when)s", when=printed)
    )
    maker = _canvas_maker(meta, (meta.organization, right))
    if with_toc:
        doc.multiBuild(list(story), canvasmaker=maker)
    else:
        doc.build(list(story), canvasmaker=maker)
    return buffer.getvalue()
