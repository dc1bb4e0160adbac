"""The life meeting's one page of its own: its minutes as PDF (the steps are taken on the
generic case page)."""

from __future__ import annotations

from flask import Blueprint
from flask_login import current_user, login_required

from pbflow.documents import printing
from pbflow.procedures.life_meeting import documents

bp = Blueprint("life_meetings", __name__, url_prefix="/life-meetings")


@bp.get("/<int:case_id>/minutes.pdf")
@login_required
def minutes_pdf(case_id: int):
    data, name = documents.minutes_pdf(current_user, case_id, printing.locale())
    return printing.pdf_response(data, name)
