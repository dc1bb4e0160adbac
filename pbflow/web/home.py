"""The start page is the inbox: what waits on me."""

from __future__ import annotations

from flask import Blueprint
from flask_login import login_required

from pbflow.web.inbox import render_inbox

bp = Blueprint("home", __name__)


@bp.route("/")
@login_required
def index():
    return render_inbox()
