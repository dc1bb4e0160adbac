"""Assessment pages and commands: rounds and their rankings, a branch's result sheet (with
the self-assessment, scoring, veto, appeal and award forms the reader may use), a branch's
scorecard over time, exports, and the schemes. Each view parses the request, calls one
service function and renders; a refusal is a clear 4xx page."""

from __future__ import annotations

from pathlib import Path

import click
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.cli import AppGroup
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_required

from pbflow import clock, validation
from pbflow.documents import printing
from pbflow.engine.errors import DomainError, NotFound, ValidationFailed
from pbflow.procedures.assessment import access, documents, pages, rounds
from pbflow.procedures.assessment import scheme as schemes
from pbflow.procedures.assessment.measures import MEASURES
from pbflow.services import exports

bp = Blueprint("assessment", __name__, url_prefix="/assessment")
cli = AppGroup("assessment", help="Branch assessment: schemes.")


@bp.app_template_filter("score")
def score_filter(value) -> str:
    """A score without trailing zeros (30, 26.25), or a dash."""
    return "—" if value is None else f"{float(value):.2f}".rstrip("0").rstrip(".")


def _locale() -> str:
    return str(get_locale() or "zh")


def _refusal(exc: DomainError):
    if isinstance(exc, NotFound):
        abort(404)
    return (
        render_template("assessment/refused.html", message=exc.message, errors=exc.field_errors),
        exc.status,
    )


def _int(raw, name: str, low: int, high: int) -> int:
    value = validation.parse_int(str(raw or "").strip(), low=low, high=high)
    if value is None:
        raise ValidationFailed(
            _("Some fields need correcting."),
            field_errors={
                name: _("must be a whole number from %(low)s to %(high)s", low=low, high=high)
            },
        )
    return value


def _ids(values: list[str]) -> list[int]:
    out = []
    for raw in values[:500]:
        value = validation.parse_id(raw)
        if value is None:
            raise ValidationFailed(
                _("Some fields need correcting."),
                field_errors={"branches": _("must be chosen from the list")},
            )
        out.append(value)
    return out


# --- rounds ------------------------------------------------------------------------------


@bp.get("/")
@login_required
def index():
    if not access.may_see_assessment(current_user):
        abort(403)
    locale = _locale()
    committees = pages.committees(current_user)
    return render_template(
        "assessment/index.html",
        rounds=pages.round_list(current_user, locale),
        latest=pages.latest_published(current_user),
        committees=committees,
        branches={c: pages.branches_below(c) for c in committees},
        org_name=lambda oid: pages.org_name(oid, locale),
        this_year=clock.today().year,
    )


@bp.post("/rounds")
@login_required
def open_round():
    try:
        committee = _int(request.form.get("committee"), "committee", 1, validation.MAX_ID)
        year = _int(request.form.get("year"), "year", validation.MIN_YEAR, validation.MAX_YEAR)
        quarter = _int(request.form.get("quarter"), "quarter", 0, 4)
        chosen = _ids(request.form.getlist("branches"))
        case = rounds.open_round(current_user, committee, year, quarter, chosen or None)
    except DomainError as exc:
        return _refusal(exc)
    flash(_("The assessment round is open."), "success")
    return redirect(url_for(".round_page", round_id=case.id))


@bp.get("/rounds/<int:round_id>")
@login_required
def round_page(round_id: int):
    try:
        r = rounds.get(current_user, round_id)
    except DomainError as exc:
        return _refusal(exc)
    locale = _locale()
    fmt = request.args.get("format")
    if fmt in exports.FORMATS:
        return exports.send(pages.ranking_table(current_user, r, locale), fmt)
    return render_template(
        "assessment/round.html",
        r=r,
        state=pages.state_label(r.case, locale),
        show_totals=pages.may_see_totals(current_user, r),
        criteria=schemes.criteria(r.body),
        org_name=lambda oid: pages.org_name(oid, locale),
        is_committee_reader=access.reads(current_user, r.case.org_id),
    )


@bp.get("/rounds/<int:round_id>/branches/<int:org_id>")
@login_required
def result_page(round_id: int, org_id: int):
    try:
        sheet = pages.sheet(current_user, round_id, org_id, _locale())
    except DomainError as exc:
        return _refusal(exc)
    return render_template(
        "assessment/result.html",
        r=sheet.r,
        result=sheet.result,
        lines=sheet.lines,
        state=sheet.state,
        show_totals=sheet.show_totals,
        name=sheet.name,
        speaks=sheet.speaks,
        assessor=sheet.assessor,
        appeals=sheet.appeals,
        awards=sheet.awards,
    )


@bp.get("/rounds/<int:round_id>/branches/<int:org_id>/sheet.pdf")
@login_required
def result_pdf(round_id: int, org_id: int):
    """The printable result sheet as PDF (audited)."""
    try:
        data, name = documents.result_pdf(current_user, round_id, org_id, printing.locale())
    except DomainError as exc:
        return _refusal(exc)
    return printing.pdf_response(data, name)


def _back(round_id: int, org_id: int):
    return redirect(url_for(".result_page", round_id=round_id, org_id=org_id))


@bp.post("/rounds/<int:round_id>/branches/<int:org_id>/self")
@login_required
def self_assess(round_id: int, org_id: int):
    try:
        rounds.self_assess(
            current_user,
            round_id,
            org_id,
            request.form.get("self_assessment"),
            request.form.get("evidence"),
        )
    except DomainError as exc:
        return _refusal(exc)
    flash(_("The self-assessment is saved."), "success")
    return _back(round_id, org_id)


@bp.post("/rounds/<int:round_id>/branches/<int:org_id>/score")
@login_required
def score(round_id: int, org_id: int):
    try:
        rounds.score(
            current_user,
            round_id,
            org_id,
            str(request.form.get("criterion") or "")[:40],
            str(request.form.get("score") or "")[:20],
            request.form.get("justification"),
        )
    except DomainError as exc:
        return _refusal(exc)
    flash(_("The score is saved."), "success")
    return _back(round_id, org_id)


@bp.post("/rounds/<int:round_id>/branches/<int:org_id>/veto")
@login_required
def veto(round_id: int, org_id: int):
    try:
        rounds.set_veto(
            current_user,
            round_id,
            org_id,
            str(request.form.get("veto") or "")[:40],
            request.form.get("on") == "1",
            request.form.get("justification"),
        )
    except DomainError as exc:
        return _refusal(exc)
    flash(_("The veto is recorded."), "success")
    return _back(round_id, org_id)


@bp.post("/rounds/<int:round_id>/branches/<int:org_id>/appeal")
@login_required
def appeal(round_id: int, org_id: int):
    try:
        case = rounds.appeal(
            current_user,
            round_id,
            org_id,
            request.form.get("reason"),
            str(request.form.get("criterion") or "")[:40] or None,
        )
    except DomainError as exc:
        return _refusal(exc)
    flash(_("The appeal is lodged."), "success")
    return redirect(url_for("cases.show", case_id=case.id))


@bp.post("/rounds/<int:round_id>/branches/<int:org_id>/award")
@login_required
def award(round_id: int, org_id: int):
    f = request.form
    try:
        owner = validation.parse_id(f.get("owner")) if f.get("owner") else None
        rounds.record_award(
            current_user,
            rounds.AwardInput(
                org_id=org_id,
                kind=str(f.get("kind") or "")[:30],
                text=f.get("text"),
                decision=f.get("decision"),
                round_id=round_id,
                problem=f.get("problem") or None,
                measures=f.get("measures") or None,
                owner_id=owner,
                deadline=str(f.get("deadline") or "")[:20] or None,
            ),
        )
    except DomainError as exc:
        return _refusal(exc)
    flash(_("The decision is recorded."), "success")
    return _back(round_id, org_id)


# --- a branch over time ------------------------------------------------------------------


@bp.get("/branches/<int:org_id>")
@login_required
def scorecard(org_id: int):
    try:
        card = pages.scorecard(current_user, org_id)
    except DomainError as exc:
        return _refusal(exc)
    fmt = request.args.get("format")
    if fmt in exports.FORMATS:
        return exports.send(pages.scorecard_table(card, _locale()), fmt)
    top = max((r.result.total for r in card.rows), default=100) or 100
    return render_template(
        "assessment/scorecard.html",
        card=card,
        name=pages.org_name(org_id, _locale()),
        top=top,
    )


# --- schemes ----------------------------------------------------------------------------


@bp.get("/schemes")
@login_required
def schemes_page():
    if not access.may_see_assessment(current_user):
        abort(403)
    year = clock.today().year
    base = schemes.current(year)
    return render_template(
        "assessment/schemes.html",
        versions=schemes.all_versions(),
        editable=access.is_assessor(current_user),
        year=year,
        text=schemes.dump(base.body if base else schemes.DEFAULT),
        errors={},
    )


@bp.post("/schemes")
@login_required
def save_scheme():
    text = str(request.form.get("scheme") or "")
    try:
        year = _int(request.form.get("year"), "year", validation.MIN_YEAR, validation.MAX_YEAR)
        row = schemes.save(current_user, year, schemes.parse_text(text))
    except DomainError as exc:
        if isinstance(exc, NotFound):
            abort(404)
        return (
            render_template(
                "assessment/schemes.html",
                versions=schemes.all_versions(),
                editable=access.is_assessor(current_user),
                year=request.form.get("year", "")[:4],
                text=text[:100_000],
                errors=exc.field_errors,
                message=exc.message,
            ),
            exc.status,
        )
    flash(
        _("Version %(v)s of the %(year)s scheme is saved.", v=row.version, year=row.year), "success"
    )
    return redirect(url_for(".scheme_page", scheme_id=row.id))


@bp.get("/schemes/<int:scheme_id>")
@login_required
def scheme_page(scheme_id: int):
    if not access.may_see_assessment(current_user):
        abort(403)
    try:
        row = schemes.get(scheme_id)
    except DomainError as exc:
        return _refusal(exc)
    return render_template(
        "assessment/scheme.html",
        s=row,
        text=schemes.dump(row.body),
        measure_label=lambda m: str(MEASURES.get(m, m)),
    )


# --- commands ---------------------------------------------------------------------------


@cli.command("import-scheme")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--year", type=click.IntRange(validation.MIN_YEAR, validation.MAX_YEAR), required=True
)
def import_scheme(path: Path, year: int) -> None:
    """Save the YAML scheme in PATH as the next version of YEAR's scheme (audited)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"cannot read {path}: {exc}") from None
    try:
        row = schemes.save(None, year, schemes.parse_text(text))
    except DomainError as exc:
        raise click.ClickException(f"{exc.message} {exc.field_errors or ''}") from None
    click.echo(f"saved the {year} scheme, version {row.version}")
