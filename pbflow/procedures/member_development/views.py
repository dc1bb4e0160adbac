"""Member development pages: the branch's pipeline, the committee's view across its branches,
a person's progress through the five stages, and the import of people part-way through.

Each step of a case is taken on the generic case page (``/cases/<id>``); these pages read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from markupsafe import Markup, escape

from pbflow.documents import printing
from pbflow.engine import actors
from pbflow.engine.errors import NotAllowed, NotFound
from pbflow.procedures.member_development import documents
from pbflow.procedures.member_development import services as development
from pbflow.web import label, url_maker
from pbflow.web.cases import due_badges
from pbflow.web.template_gettext import page_locale

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


@bp.app_template_global()
def pipeline_rows(
    rows: Iterable[development.PipelineRow], heads: Mapping[str, str], overdue_mark: str
) -> Markup:
    """The rows of a stage's table on the pipeline page (``heads``: the columns' names, which
    each cell repeats for the phone's cards; ``overdue_mark``: the overdue badge), markup
    as the template wrote it row by row. Written here because a committee's page has a
    hundred of them: the template's fifty outputs a row (each escaped, each a step of three
    nested generators, five calls through Jinja's context) were half the page's CPU."""
    person_url = url_maker("development.person_progress", person_id="*")
    case_url = url_maker("cases.show", case_id="*")
    due_badge = due_badges()
    td = {key: Markup('<td data-label="%s">') % name for key, name in heads.items()}
    person, where, nxt, due, full = td["person"], td["where"], td["next"], td["due"], td["full"]
    texts: dict[int, Markup] = {}  # id of a workflow label -> its text, escaped

    def text(value) -> Markup:
        found = texts.get(id(value))
        if found is None:
            found = texts[id(value)] = escape(label(value))
        return found

    out = []
    for r in rows:
        who = (
            f'<a href="{escape(person_url(r.person_id))}">{escape(r.name)}</a>'
            if r.person_id
            else ""
        )
        late = f"{overdue_mark} " if r.overdue else ""
        out.append(
            f'\n      <tr class="pipeline-row{" is-overdue" if r.overdue else ""}">'
            f"\n        {person}{who}"
            f'\n          <span class="hint">{escape(r.org_name)}</span></td>'
            f'\n        {where}<a href="{escape(case_url(r.case_id))}">'
            f'<span class="badge badge-state">{text(r.state_label)}</span></a></td>'
            f"\n        {nxt}{text(r.next_step) if r.next_step else ''}</td>"
            f"\n        {due}{late}{due_badge(r.due_at, r.overdue)}</td>"
            f"\n        {full}{escape(r.earliest_full or '')}</td>"
            "\n      </tr>\n    "
        )
    return Markup("".join(out))


_LATE_ROW = ' class="is-overdue"'


@bp.app_template_global()
def branch_rows(
    branches: Iterable[development.BranchRow], stages: Iterable[tuple], names: list[str], late: str
) -> Markup:
    """The rows of the table across a committee's branches: each branch's open cases per stage
    (``stages``: the pipeline's, in its order; ``names``: their names, which each cell
    repeats for the phone's cards) and overdue (``late``: the column's name). Written here
    for the reason ``pipeline_rows`` is: seventy branches of seven cells were a third of
    the page's template."""
    org_url = url_maker("development.org_pipeline", org_id="*")
    locale = page_locale()
    cells = [
        (key, Markup('<td class="num" data-label="%s">') % name)
        for (key, *_rest), name in zip(stages, names, strict=True)
    ]
    overdue = Markup('\n        <td class="num" data-label="%s">') % late
    out = []
    for b in branches:
        counts = "".join(f"{td}{b.per_stage[key]}</td>" for key, td in cells)
        out.append(
            f"\n      <tr{_LATE_ROW if b.overdue else ''}>"
            f'\n        <th scope="row"><a href="{escape(org_url(b.org.id))}">'
            f"{escape(b.org.display_name(locale))}</a></th>"
            f"\n        {counts}{overdue}{b.overdue}</td>"
            "\n      </tr>\n    "
        )
    return Markup("".join(out))


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
