"""Documents that belong to no one procedure: the bound yearly volume of an organization's
minutes (every installed procedure's meetings) and a closed case's archive."""

from __future__ import annotations

from flask import Blueprint
from flask_login import current_user, login_required

from pbflow import procedures
from pbflow.documents import archive, printing, volume

bp = Blueprint("documents", __name__, url_prefix="/documents")


@bp.get("/minutes/<int:org_id>/<int:year>.pdf")
@login_required
def minutes_volume(org_id: int, year: int):
    """The organization's minutes of the year, bound: contents, page numbers (audited)."""
    sources = [p.minutes for p in procedures.installed() if p.minutes is not None]
    data = volume.minutes_volume(current_user, org_id, year, printing.locale(), sources)
    return printing.pdf_response(data, f"minutes-{org_id}-{year}.pdf")


@bp.get("/cases/<int:case_id>/archive.zip")
@login_required
def case_archive(case_id: int):
    """A closed case's archive with the proof of its audit events (its making is audited)."""
    data, name = archive.build(current_user, case_id, printing.locale())
    return printing.file_response(data, name, "application/zip", inline=False)
