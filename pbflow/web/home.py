"""The landing page after login: who I am and where my roles apply."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import current_user, login_required
from sqlalchemy import select

from pbflow.extensions import db
from pbflow.models import Organization, RoleAssignment

bp = Blueprint("home", __name__)


@bp.route("/")
@login_required
def index():
    roles = db.session.execute(
        select(RoleAssignment.role, Organization)
        .join(Organization, Organization.id == RoleAssignment.org_id)
        .where(RoleAssignment.user_id == current_user.id)
        .order_by(Organization.path, RoleAssignment.role)
    ).all()
    return render_template("home/index.html", roles=roles)
