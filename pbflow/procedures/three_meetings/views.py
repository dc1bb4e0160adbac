""" "Three meetings and one lesson" pages: the list, recording and correcting a meeting, the
compliance calendar of a branch, and a member's own meetings. Each view parses the request,
calls one service function and renders; a refusal shows the form again as typed."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from pbflow import clock, validation
from pbflow.documents import printing
from pbflow.engine.errors import ConcurrentChange, DomainError, NotFound, ValidationFailed
from pbflow.engine.fields import parse_date
from pbflow.models.meetings import MEETING_TYPES
from pbflow.procedures.three_meetings import (
    compliance,
    documents,
    meeting_votes,
    training,
    training_figures,
)
from pbflow.procedures.three_meetings import services as meetings
from pbflow.procedures.three_meetings.hours import STUDY_TYPES, hours_text
from pbflow.procedures.three_meetings.meeting_votes import VoteInput
from pbflow.procedures.three_meetings.services import MeetingInput
from pbflow.services import exports, pagination
from pbflow.services.attachments import Upload

bp = Blueprint("meetings", __name__, url_prefix="/meetings")


@bp.app_template_global()
def meeting_type_label(meeting_type: str) -> str:
    return meetings.type_label(meeting_type)


@bp.app_template_global()
def training_hours_text(minutes: int | None) -> str:
    return hours_text(minutes)


@bp.app_template_global()
def vote_counts(vote: dict) -> str:
    return meeting_votes.counts_text(vote)


@bp.app_template_global()
def vote_outcome(vote: dict) -> str:
    return meeting_votes.outcome(vote)


def _int_arg(name: str) -> int | None:
    """An id or page number from the query string (``year``: a year), else None."""
    if name == "year":
        return validation.parse_year(request.args.get(name))
    return validation.parse_id(request.args.get(name))


def _form_input() -> MeetingInput:
    form = request.form
    return MeetingInput(
        meeting_type=form.get("meeting_type", ""),
        held_on=form.get("held_on", ""),
        topic=form.get("topic", ""),
        place=form.get("place", ""),
        chair=form.get("chair", ""),
        recorder=form.get("recorder", ""),
        agenda=form.get("agenda", ""),
        minutes=form.get("minutes", ""),
        resolutions=form.get("resolutions", ""),
        training_hours=form.get("training_hours", ""),
        present=form.getlist("present"),
        reasons={
            key[len("reason_") :]: value
            for key, value in form.items()
            if key.startswith("reason_") and value.strip()
        },
        votes=_vote_rows(),
    )


def _vote_rows() -> list[VoteInput]:
    """The form's resolution rows, in order (four fields each, sent as parallel lists; a
    row cut short by a hand-made request reads as empty strings)."""
    form = request.form
    columns = [
        form.getlist(name) for name in ("vote_text", "vote_for", "vote_against", "vote_abstained")
    ]
    width = max((len(c) for c in columns), default=0)
    return [VoteInput(*(c[i] if i < len(c) else "" for c in columns)) for i in range(width)]


def _with_blanks(rows: list[VoteInput]) -> list[VoteInput]:
    """The typed rows and room for more: two empty rows, three at least in all."""
    return [*rows, *(VoteInput() for _ in range(max(3 - len(rows), 2)))]


def _uploads() -> list[Upload]:
    return [
        Upload(fs.filename or "", fs.stream) for fs in request.files.getlist("files") if fs.filename
    ]


def _input_of(page: meetings.MeetingPage) -> MeetingInput:
    m = page.meeting
    return MeetingInput(
        meeting_type=m.meeting_type,
        held_on=m.held_on.isoformat(),
        topic=m.topic,
        place=m.place or "",
        chair=str(m.chair_person_id or ""),
        recorder=str(m.recorder_person_id or ""),
        agenda=m.agenda or "",
        minutes=m.minutes or "",
        resolutions=m.resolutions or "",
        training_hours=hours_text(m.training_minutes),
        present=[str(a.person_id) for a in page.present],
        reasons={str(a.person_id): a.reason or "" for a in page.absent},
        votes=meeting_votes.rows_of(m.votes),
    )


def _form(org_id: int, data: MeetingInput, *, meeting=None, errors=None, status=200, **extra):
    org = meetings.get_org(org_id)
    types = meetings.TYPES_BY_KIND.get(org.kind, ())
    people = {t: meetings.expected_attendees(org_id, t) for t in types}
    everyone = {p.id: p for group in people.values() for p in group}
    return (
        render_template(
            "three_meetings/form.html",
            org=org,
            data=data,
            types=types,
            people=people,
            everyone=sorted(everyone.values(), key=lambda p: (p.name, p.id)),
            meeting=meeting,
            errors=errors or {},
            study_types=STUDY_TYPES,
            vote_rows=_with_blanks([v for v in data.votes if not v.blank()]),
            **extra,
        ),
        status,
    )


def _date_arg(name: str):
    raw = (request.args.get(name) or "").strip()
    if not raw:
        return None
    try:
        return parse_date(raw)
    except ValueError:
        raise ValidationFailed(_("Dates must look like 2026-03-01.")) from None


@bp.get("/")
@login_required
def index():
    """The meetings list; with ``format=csv`` or ``xlsx``, every meeting its filters select."""
    year = _int_arg("year")
    mtype = request.args.get("type") or None
    org_id = _int_arg("org")
    first, last = _date_arg("from"), _date_arg("to")
    filters = {"org_id": org_id, "meeting_type": mtype, "year": year, "first": first, "last": last}
    fmt = request.args.get("format")
    try:
        if fmt in exports.FORMATS:
            return exports.send(meetings.export_meetings(current_user, **filters), fmt)
        listing = meetings.list_meetings(
            current_user,
            page=_int_arg("page") or 1,
            after=pagination.parse_cursor(request.args.get("after")),
            **filters,
        )
    except NotFound:
        abort(404)
    chosen = {"org": org_id, "type": mtype, "year": year, "from": first, "to": last}
    return render_template(
        "three_meetings/list.html",
        listing=listing,
        types=MEETING_TYPES,
        chosen=chosen,
        args={k: str(v) for k, v in chosen.items() if v},
        orgs=meetings.recordable_orgs(current_user),
    )


@bp.route("/new", methods=["GET", "POST"])
@login_required
def new():
    org_id = _int_arg("org")
    if org_id is None:
        abort(404)
    if not meetings.may_record(current_user, org_id):
        abort(403)
    if request.method == "GET":
        return _form(org_id, MeetingInput(held_on=clock.today().isoformat()))
    data = _form_input()
    try:
        meeting = meetings.record_meeting(current_user, org_id, data, _uploads())
    except ValidationFailed as exc:
        flash(exc.message, "error")
        return _form(org_id, data, errors=exc.field_errors, status=422)
    flash(_("The meeting is recorded."), "success")
    return redirect(url_for(".show", meeting_id=meeting.id))


@bp.get("/<int:meeting_id>")
@login_required
def show(meeting_id: int):
    try:
        page = meetings.meeting_page(current_user, meeting_id)
    except NotFound:
        abort(404)
    return render_template("three_meetings/show.html", p=page)


@bp.get("/<int:meeting_id>/minutes.pdf")
@login_required
def minutes_pdf(meeting_id: int):
    """The meeting's minutes, with attendance and corrections, as PDF (audited)."""
    data, name = documents.meeting_pdf(current_user, meeting_id, printing.locale())
    return printing.pdf_response(data, name)


@bp.route("/<int:meeting_id>/edit", methods=["GET", "POST"])
@login_required
def edit(meeting_id: int):
    try:
        page = meetings.meeting_page(current_user, meeting_id)
    except NotFound:
        abort(404)
    if not page.may_edit:
        abort(403)
    org_id = page.meeting.org_id
    if request.method == "GET":
        return _form(org_id, _input_of(page), meeting=page.meeting, reason="")
    data = _form_input()
    reason = request.form.get("reason", "")
    version = request.form.get("version", "")
    try:
        meetings.edit_meeting(
            current_user,
            meeting_id,
            data,
            reason=reason,
            expected_version=validation.parse_id(version),
            uploads=_uploads(),
        )
    except DomainError as exc:
        # The version stays the one the form was read at: after someone else's correction a
        # resubmit is refused again until the record is reloaded, never saved over theirs.
        flash(exc.message, "error")
        return _form(
            org_id,
            data,
            meeting=page.meeting,
            errors=exc.field_errors,
            status=exc.status,
            reason=reason,
            version=version,
            conflict=isinstance(exc, ConcurrentChange),
        )
    flash(_("The correction is saved and kept in the record's history."), "success")
    return redirect(url_for(".show", meeting_id=meeting_id))


@bp.get("/compliance/<int:org_id>")
@login_required
def calendar(org_id: int):
    year = _int_arg("year") or clock.today().year
    try:
        cal = compliance.calendar(current_user, org_id, year)
    except NotFound:
        abort(404)
    fmt = request.args.get("format")
    if fmt in exports.FORMATS:
        return exports.send(compliance.calendar_table(cal), fmt)
    return render_template(
        "three_meetings/calendar.html",
        cal=cal,
        year=year,
        grid=compliance.calendar_grid(cal),
        miss_anchor=compliance.miss_anchor,
    )


@bp.get("/mine")
@login_required
def mine():
    record = meetings.member_record(current_user, _int_arg("year"))
    year = _int_arg("year") or clock.today().year
    return render_template(
        "three_meetings/mine.html", record=record, py=training_figures.my_year(current_user, year)
    )


# --- training hours (training.py) -------------------------------------------------------


def _year_arg() -> tuple[int, str | None]:
    """The ``year`` asked for (this year when none), and what is wrong with a bad one."""
    raw = request.args.get("year")
    if raw is None or not raw.strip():
        return clock.today().year, None
    year = validation.parse_year(raw)
    if year is None:
        return clock.today().year, _("The year must be a year such as 2026 (1900 to 2999).")
    return year, None


def _training_input() -> training.TrainingInput:
    form = request.form
    return training.TrainingInput(
        person=form.get("person", ""),
        taken_on=form.get("taken_on", ""),
        course=form.get("course", ""),
        provider=form.get("provider", ""),
        hours=form.get("hours", ""),
        note=form.get("note", ""),
    )


def _training_input_of(record) -> training.TrainingInput:
    return training.TrainingInput(
        person=str(record.person_id),
        taken_on=record.taken_on.isoformat(),
        course=record.course,
        provider=record.provider or "",
        hours=hours_text(record.minutes),
        note=record.note or "",
    )


def _training_form(
    org_id: int, data, *, record=None, errors=None, status=200, version=None, current=None
):
    """The other-training form; for a correction, ``version`` is the one it was read at
    (kept after a refusal) and ``current`` what the record says now when someone else
    corrected it meanwhile."""
    node = training.branch_node(org_id)
    return (
        render_template(
            "three_meetings/training_form.html",
            org=node,
            data=data,
            record=record,
            version=version if version is not None else (record.version if record else None),
            current=current,
            members=training.members_to_choose(org_id),
            errors=errors or {},
        ),
        status,
    )


@bp.get("/training/<int:org_id>")
@login_required
def training_year(org_id: int):
    """A branch's members who owe the year's training hours, with their hours."""
    if not training.readable(current_user, org_id):
        abort(404)
    year, problem = _year_arg()
    show = request.args.get("show") or "all"
    page = training_figures.year_page(
        current_user, org_id, year, page=validation.parse_page(request.args.get("page")), show=show
    )
    if problem:
        flash(problem, "error")
    return render_template("three_meetings/training_year.html", t=page), 400 if problem else 200


@bp.get("/training/<int:org_id>/member/<int:person_id>")
@login_required
def training_member(org_id: int, person_id: int):
    """One member's year of training as the branch reads it."""
    if not training.readable(current_user, org_id):
        abort(404)
    year, problem = _year_arg()
    try:
        py = training_figures.member_year(current_user, org_id, person_id, year)
    except NotFound:
        abort(404)
    if problem:
        flash(problem, "error")
    return render_template(
        "three_meetings/training_member.html", py=py, org_id=org_id, own=False
    ), (400 if problem else 200)


@bp.route("/training/<int:org_id>/new", methods=["GET", "POST"])
@login_required
def training_new(org_id: int):
    if not training.readable(current_user, org_id):
        abort(404)
    if not training.may_record(current_user, org_id):
        abort(403)
    if request.method == "GET":
        chosen = validation.parse_id(request.args.get("person"))
        return _training_form(
            org_id,
            training.TrainingInput(person=str(chosen or ""), taken_on=clock.today().isoformat()),
        )
    data = _training_input()
    try:
        record = training.record_training(current_user, org_id, data)
    except ValidationFailed as exc:
        flash(exc.message, "error")
        return _training_form(org_id, data, errors=exc.field_errors, status=422)
    flash(_("The training is recorded."), "success")
    return redirect(
        url_for(
            ".training_member",
            org_id=org_id,
            person_id=record.person_id,
            year=record.taken_on.year,
        )
    )


@bp.route("/training/record/<int:record_id>/edit", methods=["GET", "POST"])
@login_required
def training_edit(record_id: int):
    try:
        record = training.get_record(current_user, record_id)
    except NotFound:
        abort(404)  # NotAllowed: the error page says who may (403)
    org_id = training.record_branch(record)
    if request.method == "GET":
        return _training_form(org_id, _training_input_of(record), record=record)
    data = _training_input()
    version = request.form.get("version", "")
    try:
        record = training.edit_training(
            current_user, record_id, data, expected_version=validation.parse_id(version)
        )
    except DomainError as exc:
        # The version stays the one the form was read at: a resubmit after someone else's
        # correction is refused again, with what the record says now shown beside.
        flash(exc.message, "error")
        current = None
        if isinstance(exc, ConcurrentChange):
            record = training.get_record(current_user, record_id)
            current = _training_input_of(record)
        return _training_form(
            org_id,
            data,
            record=record,
            errors=exc.field_errors,
            status=exc.status,
            version=version,
            current=current,
        )
    flash(_("The correction is saved."), "success")
    return redirect(
        url_for(
            ".training_member",
            org_id=training.record_branch(record),
            person_id=record.person_id,
            year=record.taken_on.year,
        )
    )


@bp.post("/training/record/<int:record_id>/delete")
@login_required
def training_delete(record_id: int):
    try:
        record = training.get_record(current_user, record_id)
    except NotFound:
        abort(404)  # NotAllowed: the error page says who may (403)
    org_id, year = training.record_branch(record), record.taken_on.year
    try:
        person_id = training.delete_training(
            current_user,
            record_id,
            expected_version=validation.parse_id(request.form.get("version", "")),
        )
    except DomainError as exc:
        flash(exc.message, "error")
        person_id = record.person_id
    else:
        flash(_("The training record is deleted; the audit trail keeps what it said."), "success")
    return redirect(url_for(".training_member", org_id=org_id, person_id=person_id, year=year))
