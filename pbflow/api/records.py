"""Meetings and the compliance figures, the supervision figures, the opinion box (public:
submit and follow by code, without an account) and the audit trail for auditors."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime
from typing import Any

from flask import request, send_file
from flask_babel import gettext as _

from pbflow import audit, clock
from pbflow.api import schemas as s
from pbflow.api.core import (
    N_,
    PUBLIC,
    Problem,
    decode_cursor,
    encode_cursor,
    iso,
    list_position,
    locale,
    next_position,
    operation,
    require_roles,
    user,
)
from pbflow.engine import actors
from pbflow.services import audit_search, periods
from pbflow.services.pagination import parse_cursor


def plain(value: Any, depth: int = 0) -> Any:
    """A service's figures (dataclasses of numbers, dates and labels) as JSON values; rows
    of the database are named by their id."""
    if depth > 12:
        return None
    if hasattr(value, "zh") and hasattr(value, "en"):  # a two-language label
        return getattr(value, locale(), None) or value.zh
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: plain(getattr(value, f.name), depth + 1)
            for f in dataclasses.fields(value)
            if not f.name.startswith("_")
        }
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict) and value and set(value) <= {"zh", "en"}:  # a label
        return value.get(locale()) or next(iter(value.values()))
    if isinstance(value, dict):
        return {str(plain(k, depth + 1)): plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(v, depth + 1) for v in value]
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    if hasattr(value, "__table__") and hasattr(value, "id"):
        return {"id": value.id}
    return str(value)


# --- meetings -------------------------------------------------------------------------------


@operation(
    "GET",
    "/meetings",
    "read",
    ok=s.MeetingList,
    tags=("meetings",),
    query=s.MeetingQuery,
    summary=N_("Meetings of the organizations the caller may read, newest first."),
)
def list_meetings(query: s.MeetingQuery):
    from pbflow.procedures.three_meetings import services as meetings

    page, after = list_position(query.cursor)
    result = meetings.list_meetings(
        user(),
        org_id=query.org,
        meeting_type=query.type,
        year=query.year,
        page=page,
        after=None if after is None else parse_cursor(after),
    )
    return {
        "items": [
            {
                "id": r.meeting.id,
                "org_id": r.meeting.org_id,
                "org": r.org_name,
                "type": r.meeting.meeting_type,
                "type_label": meetings.type_label(r.meeting.meeting_type),
                "topic": r.meeting.topic,
                "held_on": r.meeting.held_on.isoformat() if r.meeting.held_on else None,
                "present": r.present,
                "expected": r.expected,
            }
            for r in result.rows
        ],
        "total": result.total,
        "total_exact": result.exact,
        "next_cursor": next_position(result.page, result.pages, result.next_after),
    }


def _meeting_out(page: Any) -> dict[str, Any]:
    from pbflow.procedures.three_meetings import services as meetings

    m = page.meeting

    def person(a: Any) -> dict[str, Any]:
        return {"person_id": a.person_id, "name": page.names.get(a.person_id), "reason": a.reason}

    return {
        "id": m.id,
        "org_id": m.org_id,
        "type": m.meeting_type,
        "type_label": meetings.type_label(m.meeting_type),
        "topic": m.topic,
        "held_on": m.held_on.isoformat(),
        "place": m.place,
        "chair_person_id": m.chair_person_id,
        "recorder_person_id": m.recorder_person_id,
        "agenda": m.agenda,
        "minutes": m.minutes,
        "resolutions": m.resolutions,
        "votes": [
            {
                "text": v["text"],
                "votes_for": v["for"],
                "against": v["against"],
                "abstained": v["abstained"],
                "entitled": v["voters"],
                "passed": v["passed"],
            }
            for v in m.votes or ()
        ],
        "version": m.version,
        "present": [person(a) for a in page.present],
        "absent": [person(a) for a in page.absent],
        "files": [
            {"id": f.id, "filename": f.filename, "download": f"/api/v1/attachments/{f.id}"}
            for f in page.files
        ],
        "created_at": iso(m.created_at),
        "updated_at": iso(m.updated_at),
    }


@operation(
    "GET",
    "/meetings/<int:meeting_id>",
    "read",
    ok=s.MeetingDetail,
    tags=("meetings",),
    summary=N_("One meeting: its record, who came and who did not (and why), its files."),
)
def get_meeting(meeting_id: int):
    from pbflow.procedures.three_meetings import services as meetings

    return _meeting_out(meetings.meeting_page(user(), meeting_id))


@operation(
    "POST",
    "/meetings",
    "act",
    ok=s.MeetingDetail,
    status=201,
    tags=("meetings",),
    json=s.MeetingIn,
    summary=N_(
        "Write down a meeting that was held (the organization's secretary or organizer), with its "
        "attendance and files."
    ),
)
def record_meeting(json: s.MeetingIn):
    from pbflow.api.cases import uploads
    from pbflow.procedures.three_meetings import services as meetings

    data = meetings.MeetingInput(
        meeting_type=json.meeting_type,
        held_on=json.held_on,
        topic=json.topic,
        place=json.place,
        chair=str(json.chair or ""),
        recorder=str(json.recorder or ""),
        agenda=json.agenda,
        minutes=json.minutes,
        resolutions=json.resolutions,
        votes=[
            meetings.VoteInput(v.text, str(v.votes_for), str(v.against), str(v.abstained))
            for v in json.votes
        ],
        present=[str(p) for p in json.present],
        reasons={k: v for k, v in json.reasons.items() if v.strip()},
    )
    files = list(uploads({str(i): f for i, f in enumerate(json.files)}).values())
    meeting = meetings.record_meeting(user(), json.org_id, data, files)
    return _meeting_out(meetings.meeting_page(user(), meeting.id)), 201


@operation(
    "GET",
    "/compliance",
    "read",
    ok=s.Figures,
    tags=("meetings",),
    query=s.YearQuery,
    summary=N_(
        "The three-meetings-one-lesson calendar of a branch for a year: required, held, missing, "
        "reminded."
    ),
)
def compliance(query: s.YearQuery):
    from pbflow.procedures.three_meetings import compliance as figures

    org_id = query.org
    if org_id is None:
        readable = actors.readable_org_ids(user())
        if not readable:
            raise Problem(404, _("No such organization."))
        index = actors.org_index()
        org_id = min(readable, key=lambda o: (index[o].path, o) if o in index else ("~", o))
    year = query.year or clock.today().year  # the app's day (Beijing), as the page's
    return plain(figures.calendar(user(), org_id, year))


class PeriodQuery(s.Strict):
    org: int | None = s.Field(default=None, ge=1, le=2**31 - 1)
    period: str | None = s.Field(default=None, max_length=10)
    on: str | None = s.Field(default=None, max_length=20)


@operation(
    "GET",
    "/supervision",
    "read",
    ok=s.Figures,
    tags=("supervision",),
    query=PeriodQuery,
    summary=N_(
        "Every figure of the supervision dashboard for an organization's tree and a period "
        "(`period=month|quarter|year`, `on=` a day in it)."
    ),
)
def supervision(query: PeriodQuery):
    from pbflow.procedures.supervision.dashboard import dashboard
    from pbflow.procedures.supervision.scope import may_supervise

    if not may_supervise(user()):
        raise Problem(403, _("You may not see or do this."))
    period = periods.parse(query.model_dump(exclude_none=True, exclude={"org"}))
    board = dashboard(user(), query.org, period, locale=locale())
    out = {
        k: plain(getattr(board, k))
        for k in (
            "period",
            "work",
            "pipeline",
            "opinions",
            "rectification",
            "membership",
            "training",
            "notices",
        )
    }
    # The grids are built when asked for (the page shows sums): every branch's, and summed
    # one level up.
    out["compliance"] = {
        "branches": plain(board.compliance.branches),
        "above": plain(board.compliance.above),
        "secretary_lectures": plain(board.compliance.lectures),
    }
    return out


# --- the opinion box (public) -----------------------------------------------------------------


@operation(
    "POST",
    "/opinions",
    PUBLIC,
    ok=s.OpinionOut,
    status=201,
    tags=("opinions",),
    json=s.OpinionIn,
    summary=N_(
        "Drop an opinion in an organization's box, with or without an account; the answer's `code` "
        "is the only way to follow it (keep it)."
    ),
)
def submit_opinion(json: s.OpinionIn):
    from pbflow.procedures.opinion_box import services as opinions

    values = dict(json.values)
    values.setdefault(opinions.HONEYPOT, "")
    slip = opinions.submit(json.org_code, values, user=user(), client=request.remote_addr or "")
    return {
        "code": slip.code,
        "org_name": slip.org_name,
        "subject": slip.subject,
        "submitted_at": iso(slip.submitted_at),
        "answer_due": slip.answer_due.isoformat() if slip.answer_due else None,
        "anonymous": bool(slip.anonymous),
    }, 201


@operation(
    "POST",
    "/opinions/follow",
    PUBLIC,
    ok=s.FollowOut,
    tags=("opinions",),
    json=s.FollowIn,
    summary=N_(
        "What became of an opinion, by its code (sent in the body, so it stays out of logs)."
    ),
)
def follow_opinion(json: s.FollowIn):
    from pbflow.procedures.opinion_box import services as opinions

    seen = opinions.follow(json.code, user=user(), client=request.remote_addr or "")
    return _followed(seen)


def _followed(seen: Any) -> dict[str, Any]:
    out = plain(seen)
    out["actions"] = [
        {
            "trigger": a.trigger,
            "label": plain(a.label),
            "enabled": bool(a.enabled),
            "reason": a.reason,
            "fields": [getattr(f, "name", str(f)) for f in a.fields],
        }
        for a in seen.actions
    ]
    out["state_label"] = plain(seen.state_label)
    return out


@operation(
    "POST",
    "/opinions/steps",
    PUBLIC,
    ok=s.FollowOut,
    tags=("opinions",),
    json=s.OpinionStepIn,
    summary=N_(
        "The submitter's own steps, by code: add information, accept the answer with a rating, or "
        "reject it (the `actions` of the follow answer say which are open now)."
    ),
)
def opinion_step(json: s.OpinionStepIn):
    from pbflow.procedures.opinion_box import services as opinions

    seen = opinions.act(
        json.code,
        json.trigger,
        json.values,
        expected_version=json.version,
        user=user(),
        client=request.remote_addr or "",
    )
    return _followed(seen)


# --- the audit trail (auditors) -----------------------------------------------------------------


def _auditor() -> None:
    require_roles("auditor", "admin")


def event_out(e: Any) -> dict[str, Any]:
    import json

    try:
        payload = json.loads(e.payload or "{}")
    except ValueError:
        payload = {"raw": e.payload}
    return {
        "seq": e.seq,
        "at": iso(e.at),
        "actor": e.actor_label,
        "action": e.action,
        "org_id": e.org_id,
        "case_id": e.instance_id,
        "from_state": e.from_state,
        "to_state": e.to_state,
        "payload": payload if isinstance(payload, dict) else {"value": payload},
        "hash": e.hash,
    }


@operation(
    "GET",
    "/audit/events",
    "read",
    ok=s.AuditList,
    tags=("audit",),
    query=s.AuditQuery,
    summary=N_(
        "Search the audit trail (auditors and admins), newest first, within the caller's "
        "organizations: by sequence number, or by time when searched by dates."
    ),
)
def audit_events(query: s.AuditQuery):
    _auditor()
    position = decode_cursor(query.cursor)
    args = {
        "case": str(query.case or ""),
        "actor": query.actor or "",
        "action": query.action or "",
        "org": str(query.org or ""),
        "from": query.date_from or "",
        "to": query.date_to or "",
        "before": str(position.get("before") or ""),
    }
    f = audit_search.parse_filters(args)
    if f.errors:
        fields = {
            {"from": "date_from", "to": "date_to", "before": "cursor"}.get(k, k): v
            for k, v in f.errors.items()
        }
        raise Problem(422, _("Some filters need correcting."), field_errors=fields)
    rows, more = audit_search.search_events(user(), f, per_page=query.limit)
    return {
        "items": [event_out(e) for e in rows],
        "next_cursor": encode_cursor({"before": more}) if more else None,
    }


@operation(
    "GET",
    "/audit/head",
    "read",
    ok=s.AuditHeadOut,
    tags=("audit",),
    summary=N_(
        "The chain's head: its last sequence number and hash (to note down and verify later)."
    ),
)
def audit_head():
    _auditor()
    seq, digest = audit.head()
    return {"seq": seq, "hash": digest}


@operation(
    "GET",
    "/audit/verify",
    "read",
    ok=s.AuditVerifyOut,
    tags=("audit",),
    summary=N_("Verify the whole chain now."),
)
def audit_verify():
    _auditor()
    result = audit.verify_database([])
    out = plain(result)
    out["ok"] = bool(result.ok)
    out["checked"] = int(result.count)
    out["problem"] = result.problem
    return out


@operation(
    "GET",
    "/audit/export",
    "read",
    ok=None,
    tags=("audit",),
    binary=True,
    summary=N_(
        "The chain as JSON Lines, verifiable offline (`pbflow audit verify --file`); events "
        "outside the caller's organizations are withheld."
    ),
)
def audit_export():
    _auditor()
    chain = audit_search.export_chain(user())
    return send_file(
        chain.file,
        mimetype="application/x-ndjson",
        as_attachment=True,
        download_name=chain.filename,
    )
