"""Administration: organizations, people (with CSV import), users and roles.

Admins change; committee members may read. Every change goes through a service function
(services.accounts, services.people) that checks the admin's scope and writes the audit event.
A refused form is shown again with what was typed and a message per field.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_user
from sqlalchemy import func, select

from pbflow import validation
from pbflow.engine import actors
from pbflow.engine.errors import DomainError, NotFound
from pbflow.extensions import db
from pbflow.models import Organization, Person, RoleAssignment, User
from pbflow.models.org import ORG_KINDS
from pbflow.models.people import PARTY_STATUSES, ROLES
from pbflow.services import accounts, exports, people
from pbflow.services import seen as form_seen
from pbflow.web.access import (
    admin_or_committee_required,
    admin_required,
    has_any_role,
    password_confirmed,
)

bp = Blueprint("admin", __name__, url_prefix="/admin")

PER_PAGE = 25


@bp.app_template_global()
def user_has_role(*roles: str) -> bool:
    """For templates: show a link or a form only to those who may use it."""
    return has_any_role(*roles)


@bp.app_template_global()
def org_choices(orgs: Iterable[Organization | actors.OrgNode]) -> list[tuple[int, str]]:
    """(id, name indented by depth) for a select; deactivated ones marked."""
    locale = str(get_locale() or "zh")
    out = []
    for org in orgs:
        label = "\u00a0\u00a0" * (org.path.count("/") - 2) + org.display_name(locale)
        if not org.active:
            label += " (" + _("deactivated") + ")"
        out.append((org.id, label))
    return out


ROLE_LABELS = {
    "admin": _l("administrator"),
    "committee": _l("party committee member"),
    "organizer": _l("organizer"),
    "secretary": _l("secretary"),
    "deputy_secretary": _l("deputy secretary"),
    "organizing_member": _l("organizing committee member"),
    "branch_committee": _l("branch committee member"),
    "group_leader": _l("party group leader"),
    "member": _l("member"),
    "auditor": _l("auditor"),
}


@bp.app_template_global()
def role_label(role: str) -> str:
    return str(ROLE_LABELS.get(role, role))


@bp.app_template_global()
def role_choices() -> list[tuple[str, str]]:
    return [(r, role_label(r)) for r in ROLES]


@bp.app_template_global()
def status_choices() -> list[tuple[str, str]]:
    return [(s, people.status_label(s)) for s in PARTY_STATUSES]


@bp.app_template_global()
def gender_choices() -> list[tuple[str, str]]:
    return [(g, people.gender_label(g)) for g in people.GENDERS]


@bp.app_template_filter("gender")
def gender_filter(value: str | None) -> str:
    return people.gender_label(value)


@bp.app_template_filter("party_status")
def party_status_filter(value: str | None) -> str:
    return people.status_label(value)


def _me() -> User:
    return current_user._get_current_object()


def _page_arg() -> int:
    return validation.parse_page(request.args.get("page"))


def _readable_orgs() -> list[Organization]:
    ids = actors.readable_org_ids(_me())
    if not ids:
        return []
    return list(
        db.session.execute(
            select(Organization).where(Organization.id.in_(ids)).order_by(Organization.path)
        ).scalars()
    )


def _readable_nodes() -> list[actors.OrgNode]:
    """The organizations the reader may read, from the organization index (a list's
    filter needs no more of them), in the tree's order."""
    index = actors.org_index()
    return sorted((index[i] for i in actors.readable_org_ids(_me())), key=lambda n: n.path)


def _org_or_404(org_id: int) -> Organization:
    org = db.session.get(Organization, org_id)
    if org is None or not actors.can_read_org(_me(), org.id):
        raise NotFound(_("No such organization."))
    return org


def _user_or_404(user_id: int) -> User:
    """An account this reader may see; others are not even shown to exist."""
    return accounts.get_visible_user(user_id, _me())


def _administered_orgs() -> list[Organization]:
    """Active organizations where the current admin may grant roles."""
    ids = accounts.administered_org_ids(_me())
    if not ids:
        return []
    return list(
        db.session.execute(
            select(Organization)
            .where(Organization.id.in_(ids), Organization.active.is_(True))
            .order_by(Organization.path)
        ).scalars()
    )


def _refused(exc: DomainError) -> dict[str, Any]:
    """Flash the refusal; return the field errors and the typed values for the template."""
    flash(exc.message, "error")
    return {"errors": exc.field_errors, "form": request.form}


@bp.route("/")
@admin_or_committee_required
def index():
    return redirect(url_for("admin.orgs"))


# --- organizations --------------------------------------------------------------------------


def _render_orgs(status: int = 200, **ctx: Any):
    orgs = _readable_orgs()
    ctx.setdefault("errors", {})
    ctx.setdefault("form", {})
    return render_template("admin/orgs.html", orgs=orgs, kinds=ORG_KINDS, **ctx), status


@bp.route("/orgs")
@admin_or_committee_required
def orgs():
    return _render_orgs()


@bp.route("/orgs", methods=["POST"])
@admin_required
def org_create():
    form = request.form
    parent_id = validation.parse_id(form.get("parent_id"))
    parent = db.session.get(Organization, parent_id) if parent_id is not None else None
    try:
        if parent is None:
            raise DomainError(
                _("Some fields need correcting."),
                field_errors={"parent_id": _("choose the superior organization")},
            )
        org = accounts.create_org(
            form.get("code", ""),
            form.get("name", ""),
            form.get("kind", ""),
            parent,
            name_en=form.get("name_en", "").strip() or None,
            actor=_me(),
        )
    except DomainError as exc:
        return _render_orgs(exc.status, **_refused(exc))
    flash(_("Organization %(name)s created.", name=org.name), "info")
    return redirect(url_for("admin.orgs"))


@bp.route("/orgs/<int:org_id>")
@admin_or_committee_required
def org_detail(org_id: int):
    org = _org_or_404(org_id)
    return _render_org(org)


def _render_org(org: Organization, status: int = 200, **ctx: Any):
    counts = {
        "people": db.session.execute(
            select(func.count(Person.id)).where(Person.org_id == org.id)
        ).scalar_one(),
        "roles": db.session.execute(
            select(func.count(RoleAssignment.id)).where(RoleAssignment.org_id == org.id)
        ).scalar_one(),
    }
    holders = db.session.execute(
        select(RoleAssignment.role, User)
        .join(User, User.id == RoleAssignment.user_id)
        .where(RoleAssignment.org_id == org.id)
        .order_by(RoleAssignment.role, User.username)
    ).all()
    ctx.setdefault("errors", {})
    ctx.setdefault("form", {"name": org.name, "name_en": org.name_en or ""})
    ctx["form"] = {"seen_names": form_seen.digest(org, accounts.NAMES_SEEN), **ctx["form"]}
    return (
        render_template("admin/org.html", org=org, counts=counts, holders=holders, **ctx),
        status,
    )


@bp.route("/orgs/<int:org_id>", methods=["POST"])
@admin_required
def org_rename(org_id: int):
    org = _org_or_404(org_id)
    try:
        changed = accounts.rename_org(
            org,
            request.form.get("name", ""),
            request.form.get("name_en", ""),
            actor=_me(),
            seen=request.form.get("seen_names"),
        )
    except DomainError as exc:
        return _render_org(org, exc.status, **_refused(exc))
    flash(_("Saved.") if changed else _("Nothing was changed."), "info")
    return redirect(url_for("admin.org_detail", org_id=org.id))


@bp.route("/orgs/<int:org_id>/active", methods=["POST"])
@admin_required
def org_active(org_id: int):
    org = _org_or_404(org_id)
    active = request.form.get("active") == "1"
    try:
        accounts.set_org_active(org, active, actor=_me())
    except DomainError as exc:
        return _render_org(org, exc.status, **_refused(exc))
    flash(_("Organization reactivated.") if active else _("Organization deactivated."), "info")
    return redirect(url_for("admin.org_detail", org_id=org.id))


# --- people ---------------------------------------------------------------------------------


@bp.route("/people")
@admin_or_committee_required
def people_list():
    """People; with ``format=csv`` or ``xlsx``, everyone the search selects."""
    org_arg = request.args.get("org", "")
    search = {
        "text": request.args.get("q", ""),
        "org_id": validation.parse_id(org_arg),
        "party_status": request.args.get("status") or None,
    }
    fmt = request.args.get("format")
    if fmt in exports.FORMATS:
        return exports.send(people.export_people(_me(), **search), fmt)
    after = validation.parse_id(request.args.get("after"))
    result = people.search_people(_me(), page=_page_arg(), per_page=PER_PAGE, after=after, **search)
    return render_template(
        "admin/people.html",
        result=result,
        orgs=_readable_nodes(),
        org_index=actors.org_index(),  # each person's organization, by name
        statuses=PARTY_STATUSES,
        args=request.args,
    )


def _render_person_new(status: int = 200, **ctx: Any):
    ctx.setdefault("errors", {})
    ctx.setdefault("form", {})
    return (
        render_template(
            "admin/person_new.html",
            orgs=_readable_orgs(),
            statuses=PARTY_STATUSES,
            genders=people.GENDERS,
            **ctx,
        ),
        status,
    )


@bp.route("/people/new")
@admin_required
def person_new():
    return _render_person_new()


@bp.route("/people/new", methods=["POST"])
@admin_required
def person_create():
    try:
        person = people.create_person(request.form.to_dict(), actor=_me())
    except DomainError as exc:
        return _render_person_new(exc.status, **_refused(exc))
    flash(_("%(name)s added.", name=person.name), "info")
    return redirect(url_for("admin.person_detail", person_id=person.id))


def _person_form(person: Person) -> dict[str, str]:
    values = {}
    for name in people.PROFILE_FIELDS + people.STATUS_FIELDS + ("org_id",):
        value = getattr(person, name)
        values[name] = "" if value is None else str(value)
    values["on_party_probation"] = "1" if person.on_party_probation else ""
    values["seen_profile"] = form_seen.digest(person, people.PROFILE_SEEN)
    values["seen_status"] = form_seen.digest(person, people.STATUS_FIELDS)
    return values


def _render_person(person: Person, status: int = 200, **ctx: Any):
    defaults = _person_form(person)
    typed = ctx.pop("form", None)
    form = defaults | (dict(typed.items()) if typed is not None else {})
    if typed is not None and ctx.get("which") == "status":
        # Unticked checkboxes are absent from a form: keep what the user typed, not the record.
        form["on_party_probation"] = typed.get("on_party_probation", "")
    ctx.setdefault("errors", {})
    return (
        render_template(
            "admin/person.html",
            person=person,
            form=form,
            orgs=_readable_orgs(),
            statuses=PARTY_STATUSES,
            genders=people.GENDERS,
            **ctx,
        ),
        status,
    )


@bp.route("/people/<int:person_id>")
@admin_or_committee_required
def person_detail(person_id: int):
    return _render_person(people.get_person(person_id, reader=_me()))


@bp.route("/people/<int:person_id>", methods=["POST"])
@admin_required
def person_update(person_id: int):
    person = people.get_person(person_id, reader=_me())
    try:
        changes = people.update_profile(person, request.form.to_dict(), actor=_me())
    except DomainError as exc:
        return _render_person(person, exc.status, which="profile", **_refused(exc))
    flash(_("Saved.") if changes else _("Nothing was changed."), "info")
    return redirect(url_for("admin.person_detail", person_id=person.id))


@bp.route("/people/<int:person_id>/status", methods=["POST"])
@admin_required
def person_correct_status(person_id: int):
    person = people.get_person(person_id, reader=_me())
    try:
        changes = people.correct_status(
            person, request.form.to_dict(), request.form.get("reason", ""), actor=_me()
        )
    except DomainError as exc:
        return _render_person(person, exc.status, which="status", **_refused(exc))
    flash(_("Correction recorded.") if changes else _("Nothing was changed."), "info")
    return redirect(url_for("admin.person_detail", person_id=person.id))


@bp.route("/people/<int:person_id>/active", methods=["POST"])
@admin_required
def person_active(person_id: int):
    person = people.get_person(person_id, reader=_me())
    active = request.form.get("active") == "1"
    try:
        people.set_person_active(person, active, actor=_me())
    except DomainError as exc:
        return _render_person(person, exc.status, **_refused(exc))
    flash(_("Saved."), "info")
    return redirect(url_for("admin.person_detail", person_id=person.id))


@bp.route("/people/import")
@admin_required
def people_import_form():
    return render_template("admin/import.html", columns=people.CSV_COLUMNS, report=None)


@bp.route("/people/import", methods=["POST"])
@admin_required
def people_import():
    upload = request.files.get("file")
    report = None
    status = 200
    if upload is None or not upload.filename:
        flash(_("Choose a CSV file to upload."), "error")
        status = 400
    else:
        try:
            report = people.import_csv(upload.read(), actor=_me(), filename=upload.filename)
        except people.ImportRefused as exc:
            flash(exc.message, "error")
            report, status = exc.report, exc.status
        else:
            flash(_("%(n)s people imported.", n=report.imported), "info")
    return (
        render_template("admin/import.html", columns=people.CSV_COLUMNS, report=report),
        status,
    )


# --- users and roles ------------------------------------------------------------------------


@bp.route("/users")
@admin_or_committee_required
def users():
    """The accounts this admin manages (or, for a reader, may see); nobody else's."""
    page = _page_arg()
    rows, total = accounts.list_users(
        _me(), text=request.args.get("q", ""), page=page, per_page=PER_PAGE
    )
    result = people.Page(rows, total, page, PER_PAGE)
    return render_template("admin/users.html", result=result, args=request.args, now=_now())


def _now():
    from pbflow import clock

    return clock.now()


def _render_user_new(status: int = 200, **ctx: Any):
    ctx.setdefault("errors", {})
    ctx.setdefault("form", {})
    return (
        render_template(
            "admin/user_new.html",
            orgs=_administered_orgs(),
            role_optional=accounts.may_create_without_role(_me()),
            **ctx,
        ),
        status,
    )


def _org_arg(form: Any) -> Organization | None:
    org_id = validation.parse_id(form.get("org_id"))
    return db.session.get(Organization, org_id) if org_id is not None else None


@bp.route("/users/new")
@admin_required
def user_new():
    return _render_user_new()


@bp.route("/users/new", methods=["POST"])
@admin_required
@password_confirmed(_l("create an account"), retype={"password": _l("Initial password")})
def user_create():
    form = request.form
    try:
        user = accounts.create_user(
            form.get("username", ""),
            form.get("display_name", ""),
            form.get("password", ""),
            locale=form.get("locale") or None,
            org=_org_arg(form),
            role=form.get("role") or None,
            actor=_me(),
        )
    except DomainError as exc:
        return _render_user_new(exc.status, **_refused(exc))
    flash(_("User %(name)s created.", name=user.username), "info")
    return redirect(url_for("admin.user_detail", user_id=user.id))


def _render_user(user: User, status: int = 200, **ctx: Any):
    roles = db.session.execute(
        select(RoleAssignment, Organization)
        .join(Organization, Organization.id == RoleAssignment.org_id)
        .where(RoleAssignment.user_id == user.id)
        .order_by(Organization.path, RoleAssignment.role)
    ).all()
    ctx.setdefault("errors", {})
    ctx.setdefault("form", {})
    return (
        render_template(
            "admin/user.html",
            user=user,
            roles=roles,
            all_roles=ROLES,
            may_manage=accounts.may_manage_user(_me(), user),
            orgs=_administered_orgs(),
            now=_now(),
            **ctx,
        ),
        status,
    )


@bp.route("/users/<int:user_id>")
@admin_or_committee_required
def user_detail(user_id: int):
    return _render_user(_user_or_404(user_id))


@bp.route("/users/<int:user_id>/password", methods=["POST"])
@admin_required
@password_confirmed(_l("reset a password"), retype={"password": _l("New password")})
def user_password(user_id: int):
    user = _user_or_404(user_id)
    try:
        accounts.set_password(user, request.form.get("password", ""), actor=_me())
    except DomainError as exc:
        return _render_user(user, exc.status, **_refused(exc))
    if user.id == _me().id:
        login_user(user)  # the reset ended every session; keep this one, under the new token
    flash(_("The password of %(name)s was reset.", name=user.username), "info")
    return redirect(url_for("admin.user_detail", user_id=user.id))


@bp.route("/users/<int:user_id>/active", methods=["POST"])
@admin_required
@password_confirmed(_l("deactivate or reactivate an account"))
def user_active(user_id: int):
    user = _user_or_404(user_id)
    active = request.form.get("active") == "1"
    try:
        accounts.set_active(user, active, actor=_me())
    except DomainError as exc:
        return _render_user(user, exc.status, **_refused(exc))
    flash(
        _("%(name)s may log in again.", name=user.username)
        if active
        else _("%(name)s is deactivated; the history stays.", name=user.username),
        "info",
    )
    return redirect(url_for("admin.user_detail", user_id=user.id))


@bp.route("/users/<int:user_id>/unlock", methods=["POST"])
@admin_required
@password_confirmed(_l("unlock an account"))
def user_unlock(user_id: int):
    user = _user_or_404(user_id)
    try:
        accounts.unlock(user, actor=_me())
    except DomainError as exc:
        return _render_user(user, exc.status, **_refused(exc))
    flash(_("%(name)s is unlocked.", name=user.username), "info")
    return redirect(url_for("admin.user_detail", user_id=user.id))


@bp.route("/users/<int:user_id>/roles", methods=["POST"])
@admin_required
@password_confirmed(_l("grant a role"))
def user_grant(user_id: int):
    user = _user_or_404(user_id)
    org = _org_arg(request.form)
    try:
        if org is None:
            raise DomainError(
                _("Some fields need correcting."),
                field_errors={"org_id": _("choose an organization")},
            )
        accounts.grant_role(user, org, request.form.get("role", ""), actor=_me())
    except DomainError as exc:
        return _render_user(user, exc.status, **_refused(exc))
    flash(_("Role granted."), "info")
    return redirect(url_for("admin.user_detail", user_id=user.id))


@bp.route("/users/<int:user_id>/roles/<int:assignment_id>/revoke", methods=["POST"])
@admin_required
@password_confirmed(_l("revoke a role"))
def user_revoke(user_id: int, assignment_id: int):
    user = _user_or_404(user_id)
    ra = db.session.get(RoleAssignment, assignment_id)
    if ra is None or ra.user_id != user.id:
        raise NotFound(_("No such role assignment."))
    try:
        accounts.revoke_role(user, ra.org, ra.role, actor=_me())
    except DomainError as exc:
        return _render_user(user, exc.status, **_refused(exc))
    flash(_("Role revoked."), "info")
    if not accounts.may_see_user(_me(), user):
        # Its last role inside this admin's reach is gone: the account is no longer theirs.
        return redirect(url_for("admin.users"))
    return redirect(url_for("admin.user_detail", user_id=user.id))
