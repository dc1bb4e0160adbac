"""Member development pages: the branch's pipeline, the committee's view across its branches,
a person's progress through the five stages, and the import of people part-way through.

Each step of a case is taken on the generic case page (``/cases/<id>``); these pages read.
"""

from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from pbflow.documents import printing
from pbflow.engine import actors
from pbflow.engine.errors import NotAllowed, NotFound
from pbflow.procedures.member_development import documents
from pbflow.procedures.member_development import services as development

bp = Blueprint("development", __name__, url_prefix="/development")


def _read_or_403(call, *args):
    try:
        return call(current_user, *args)
    except NotAllowed:
        abort(403)
    except NotFound:
        abort(404)


@bp.get("/")
@login_required
def index():
    """The reader's own organization's pipeline, else their own progress."""
    readable = actors.readable_org_ids(current_user)
    if readable:
        index = actors.org_index()
        top = min(readable, key=lambda oid: (len(index[oid].path), oid))
        return redirect(url_for("development.org_pipeline", org_id=top))
    pid = actors.person_id_of_user(current_user.id)
    if pid is None:
        abort(404)
    return redirect(url_for("development.person_progress", person_id=pid))


@bp.get("/org/<int:org_id>")
@login_required
def org_pipeline(org_id: int):
    node = actors.org_index().get(org_id)
    above = node is not None and node.kind != "branch"
    per_stage = development.PREVIEW_PER_STAGE if above else None
    pipe = _read_or_403(development.pipeline, org_id, per_stage)
    branches = (
        development.overview(current_user, org_id, pipe.open) if pipe.org.kind != "branch" else None
    )
    may_import = pipe.org.kind == "branch" and any(
        actors.has_role(current_user.id, r, [org_id]) for r in development.BRANCH_ROLES
    )
    return render_template(
        "member_development/pipeline.html", pipe=pipe, branches=branches, may_import=may_import
    )


@bp.get("/person/<int:person_id>")
@login_required
def person_progress(person_id: int):
    progress = _read_or_403(development.progress, person_id)
    return render_template("member_development/progress.html", p=progress)


@bp.get("/person/<int:person_id>/record")
@login_required
def person_record(person_id: int):
    """The development record on screen (its print view), with the documents to print."""
    record = documents.view_record(current_user, person_id, printing.locale())
    return render_template("member_development/record.html", r=record)


@bp.get("/person/<int:person_id>/record.pdf")
@login_required
def person_record_pdf(person_id: int):
    data, name = documents.print_document(
        current_user, person_id, "development_record", printing.locale()
    )
    return printing.pdf_response(data, name)


@bp.get("/person/<int:person_id>/forms/<document>.pdf")
@login_required
def person_form_pdf(person_id: int, document: str):
    """A standard form filled from the record: registration_form, admission_resolution,
    conversion_resolution, talk_record (?variant=application|superior) or membership_notice
    (?variant=probationary|full)."""
    data, name = documents.print_document(
        current_user, person_id, document, printing.locale(), request.args.get("variant")
    )
    return printing.pdf_response(data, name)


@bp.route("/org/<int:org_id>/import", methods=["GET", "POST"])
@login_required
def import_people(org_id: int):
    report = None
    filename = ""
    if request.method == "POST":
        upload = request.files.get("file")
        filename = upload.filename if upload else ""
        data = upload.read() if upload else b""
        try:
            report = development.import_csv(current_user, org_id, data, filename=filename)
        except NotAllowed:
            abort(403)
        except NotFound:
            abort(404)
    elif not any(actors.has_role(current_user.id, r, [org_id]) for r in development.BRANCH_ROLES):
        abort(403)
    return render_template(
        "member_development/import.html",
        org=actors.org_index().get(org_id),
        report=report,
        filename=filename,
        columns=development.CSV_COLUMNS,
        stages=development.IMPORT_STAGES,
    ), (422 if report and not report.ok else 200)
