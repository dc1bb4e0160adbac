"""A branch's assessment result sheet on paper (PDF, through ``pbflow/documents``): the
period, scheme, every criterion with its score and basis, vetoes, total and stars, the
self-assessment, and the committee's seal; every print audited."""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _

from pbflow.documents import pdf, printing
from pbflow.documents.pdf import Field
from pbflow.engine.errors import NotFound
from pbflow.models import User
from pbflow.procedures.assessment import pages, rounds


def _num(value: Any) -> str:
    return "—" if value is None else f"{float(value):.2f}".rstrip("0").rstrip(".")


def _basis(line: pages.Line) -> str:
    f = line.computed
    if f:
        if not f["available"]:
            return _("Not measured here: full marks.")
        if f["owed"] == 0:
            return _("Nothing was owed in the period: full marks.")
        return _("%(done)s of %(owed)s", done=f["done"], owed=f["owed"])
    return line.entry.get("justification") or _("Not scored yet.")


def result_pdf(reader: User, round_id: int, org_id: int, locale: str) -> tuple[bytes, str]:
    """The sheet as PDF, audited; NotFound for a result the reader may not see in full."""
    r = rounds.get(reader, round_id)
    result = r.result_of(org_id)
    if result is None or not pages.may_see_totals(reader, r):
        raise NotFound(_("No such assessment round."))
    name = pages.org_name(org_id, locale)
    committee = pages.org_name(r.case.org_id, locale)
    stars = "★" * result.stars if result.stars else (_("Passed") if result.passed else _("Failed"))
    if result.vetoes:
        stars = _("Vetoed")
    story: list[Any] = pdf.title(_("Assessment result sheet"), f"{name} · {r.case.title}")
    story.append(
        pdf.fields_table(
            [
                Field(_("Branch"), name),
                Field(_("Period"), f"{r.period.start.isoformat()} – {r.period.end.isoformat()}"),
                Field(_("Scheme"), f"{r.scheme.name} (v{r.scheme.version})", wide=True),
                Field(_("Total"), f"{_num(result.total)} / 100"),
                Field(_("Level"), stars),
            ]
        )
    )
    story.append(pdf.spacer())
    rows = [
        [
            f"{line.group['label'][locale]} · {line.criterion['label'][locale]}",
            f"{_num(line.score)} / {_num(line.criterion['max'])}",
            _basis(line),
        ]
        for line in pages.lines(r, result)
    ]
    story.append(pdf.grid([_("Criterion"), _("Score"), _("Basis")], rows, [0.42, 0.14, 0.44]))
    for v in result.vetoes or []:
        spec = next((s for s in r.body["vetoes"] if s["key"] == v["key"]), None)
        if spec:
            story.append(pdf.spacer())
            story.append(pdf.para(f"{_('Veto')}: {spec['label'][locale]} — {v['justification']}"))
    if result.self_assessment:
        story.append(pdf.heading(_("Self-assessment"), 2, toc=False))
        story.append(pdf.para(result.self_assessment))
    story.append(pdf.spacer(8))
    story.append(pdf.seal_area(committee))
    data = pdf.render(
        pdf.Meta(
            title=_("Assessment result sheet") + f" · {name} · {r.case.title}",
            organization=committee,
            locale=locale,
            subject=r.case.title,
            printed_by=reader.display_name,
        ),
        story,
    )
    printing.record_print(
        reader,
        "assessment_result",
        org_id=org_id,
        instance_id=round_id,
        record={"round_id": round_id, "org_id": org_id, "total": result.total},
        content=data,
    )
    return data, f"assessment-{round_id}-{org_id}.pdf"
