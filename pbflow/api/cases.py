"""Cases: list, read, start, take a step (fields and files), ballots and meeting
resolutions, comments and attachments — through pbflow.services.cases like the pages."""

from __future__ import annotations

import base64
import binascii
import io
from typing import Any

from flask import send_file
from flask_babel import gettext as _

from pbflow.api import schemas as s
from pbflow.api.core import (
    N_,
    Problem,
    iso,
    json_value,
    list_position,
    locale,
    next_position,
    operation,
    user,
)
from pbflow.engine.errors import ConcurrentChange
from pbflow.services import attachments, cases, comments
from pbflow.services.attachments import Upload

TAGS = ("cases",)


def uploads(files: dict[str, s.FileIn]) -> dict[str, Upload]:
    """Files sent as base64 in JSON, as the services' uploads."""
    out: dict[str, Upload] = {}
    for name, f in files.items():
        try:
            data = base64.b64decode(f.content_base64, validate=True)
        except (binascii.Error, ValueError):
            raise Problem(
                422,
                _("Some fields need correcting."),
                field_errors={f"files.{name}": _("is not valid base64")},
            ) from None
        out[name] = Upload(filename=f.filename, stream=io.BytesIO(data))
    return out


def summary(case: Any, *, workflow: str, state: str | None, org: str | None, subject, overdue):
    return {
        "id": case.id,
        "title": case.title,
        "workflow": case.workflow_id,
        "workflow_label": workflow,
        "state": case.state,
        "state_label": state,
        "org_id": case.org_id,
        "org": org,
        "subject": subject,
        "version": case.version,
        "overdue": bool(overdue),
        "due_at": iso(case.due_at),
        "closed_at": iso(case.closed_at),
        "created_at": iso(case.created_at),
        "updated_at": iso(case.updated_at),
    }


def row_summary(r: Any) -> dict[str, Any]:
    return summary(
        r.case,
        workflow=r.workflow,
        state=r.state,
        org=r.org_name,
        subject=r.subject_name,
        overdue=r.overdue,
    )


def action(a: Any, loc: str) -> dict[str, Any]:
    return {
        "trigger": a.trigger,
        "label": a.label.get(loc),
        "dest": a.dest,
        "enabled": bool(a.enabled),
        "reason": a.reason,
        "available_from": a.available_from.isoformat() if a.available_from else None,
        "comment": a.comment,
        "fields": [
            {
                "name": f.name,
                "type": f.type,
                "label": f.label.get(loc),
                "required": bool(f.required),
                "choices": [str(c.value) for c in f.choices],
                "people": f.people,
            }
            for f in a.fields
        ],
    }


def attachment_out(att: Any, names: dict[int, str]) -> dict[str, Any]:
    return {
        "id": att.id,
        "filename": att.filename,
        "content_type": att.content_type,
        "size": att.size,
        "purpose": att.purpose,
        "uploaded_by": names.get(att.uploaded_by) if att.uploaded_by else None,
        "created_at": iso(att.created_at),
        "download": f"/api/v1/attachments/{att.id}",
    }


def comment_out(c: Any) -> dict[str, Any]:
    author = getattr(c, "author", None)
    return {
        "id": c.id,
        "author": getattr(author, "display_name", None) if author is not None else None,
        "body": c.body,
        "created_at": iso(c.created_at),
    }


@operation(
    "GET",
    "/cases",
    "read",
    ok=s.CaseList,
    tags=TAGS,
    query=s.CaseQuery,
    summary=N_("The cases the caller may see, filtered, newest first; follow `next_cursor`."),
)
def list_cases(query: s.CaseQuery):
    args = query.model_dump(exclude={"cursor", "limit"}, exclude_none=True)
    args["overdue"] = "1" if query.overdue else ""
    page, after = list_position(query.cursor)
    args["page"] = str(page)
    if after is not None:
        args["after"] = after
    filters, errors = cases.CaseFilters.parse(args)
    if errors:
        raise Problem(422, _("Some filters need correcting."), field_errors=errors)
    result = cases.search(user(), filters, locale(), page_size=query.limit)
    return {
        "items": [row_summary(r) for r in result.rows],
        "total": result.total,
        "total_exact": result.exact,
        "next_cursor": next_position(result.page, result.pages, result.next_after),
    }


@operation(
    "GET",
    "/workflows/startable",
    "read",
    ok=s.StartOptions,
    tags=TAGS,
    summary=N_("What the caller may start, and where."),
)
def startable():
    loc = locale()
    return {
        "items": [
            {
                "workflow": o.definition.id,
                "label": o.definition.title.get(loc)
                if hasattr(o.definition.title, "get")
                else str(o.definition.title),
                "org_ids": [n.id for n in o.orgs],
            }
            for o in cases.start_options(user())
        ]
    }


@operation(
    "POST",
    "/cases",
    "act",
    ok=s.StepOut,
    status=201,
    tags=TAGS,
    json=s.StartIn,
    summary=N_("Start a case with its start form's values (and files, as base64)."),
)
def start(json: s.StartIn):
    case = cases.start_case(
        user(), json.workflow, json.org_id, json.values, uploads=uploads(json.files)
    )
    return {"id": case.id, "state": case.state, "version": case.version}, 201


def _detail(case_id: int) -> dict[str, Any]:
    loc = locale()
    view = cases.case_page(user(), case_id, loc, mark_read=False)
    case = view.case
    vote = None
    if view.vote is not None:
        v = view.vote
        vote = {
            "state": v.state,
            "mode": list(v.mode),
            "voted": list(v.voted),
            "not_voted": list(v.not_voted),
            "my_choice": v.my_choice,
            "can_ballot": v.can_ballot,
            "can_record": v.can_record,
        }
    return {
        **summary(
            case,
            workflow=view.workflow_title,
            state=view.state.label.get(loc),
            org=view.org_name,
            subject=view.subject_name,
            overdue=view.overdue,
        ),
        "data": {k: json_value(v) for k, v in view.prefill.items()},
        # ``text`` is for reading (labels, names, the language's punctuation); ``value`` is
        # the stored value itself (ids, choice codes), as in ``data``, for programs.
        "fields": [
            {
                "name": f.name,
                "label": f.label,
                "text": f.text,
                "value": json_value(view.prefill.get(f.name)),
            }
            for f in view.fields
        ],
        "actions": [action(a, loc) for a in view.actions],
        "parent_id": case.parent_id,
        "children": [{"id": c.case.id, "state": c.case.state} for c in view.children],
        "timeline": [
            {
                "seq": e.seq,
                "at": iso(e.at),
                "actor": e.actor,
                "action": e.action,
                "text": e.text,
                "from_state": e.from_state,
                "to_state": e.to_state,
                "comment": e.comment,
            }
            for e in view.timeline
        ],
        "comments": [comment_out(c) for c in view.comments],
        "attachments": [attachment_out(a, view.uploaders) for a in view.attachments],
        "vote": vote,
    }


@operation(
    "GET",
    "/cases/<int:case_id>",
    "read",
    ok=s.CaseDetail,
    tags=TAGS,
    summary=N_("One case: its data, actions, timeline, comments and files."),
)
def get_case(case_id: int):
    return _detail(case_id)


@operation(
    "GET",
    "/cases/<int:case_id>/actions",
    "read",
    ok=s.Actions,
    tags=TAGS,
    summary=N_(
        "The steps the caller could take now, each with its fields and why it may be closed."
    ),
)
def actions(case_id: int):
    loc = locale()
    case, available = cases.case_actions(user(), case_id)
    return {
        "version": case.version,
        "state": case.state,
        "actions": [action(a, loc) for a in available],
    }


@operation(
    "POST",
    "/cases/<int:case_id>/steps",
    "act",
    ok=s.StepOut,
    tags=TAGS,
    json=s.StepIn,
    summary=N_(
        "Take a step: its fields in `values`, files of its file fields in `files`; send the "
        "`version` read to be refused (409, with what changed) if someone acted meanwhile."
    ),
)
def take_step(case_id: int, json: s.StepIn):
    try:
        outcome = cases.take_step(
            user(),
            case_id,
            json.trigger,
            json.values,
            uploads=uploads(json.files),
            expected_version=json.version,
            comment=json.comment,
        )
    except ConcurrentChange as exc:
        changed = cases.changes_since(user(), case_id, json.version or 1, locale())
        exc.details = {
            **exc.details,
            "changes": [  # what the case page shows above a stale form: the timeline since
                {
                    "seq": e.seq,
                    "at": iso(e.at),
                    "actor": e.actor,
                    "text": e.text,
                    "comment": e.comment,
                }
                for e in changed
            ],
        }
        raise
    return {"id": outcome.case_id, "state": outcome.state, "version": outcome.version}


@operation(
    "POST",
    "/cases/<int:case_id>/ballot",
    "act",
    ok=s.BallotOut,
    tags=TAGS,
    json=s.BallotIn,
    summary=N_(
        "Cast the caller's ballot in a vote (once: a second is refused, 409); `choice` in the "
        "answer is the vote's outcome when this ballot decided it."
    ),
)
def ballot(case_id: int, json: s.BallotIn):
    choice = cases.cast_ballot(user(), case_id, json.choice)
    return {"id": case_id, "choice": choice}


@operation(
    "POST",
    "/cases/<int:case_id>/resolution",
    "act",
    ok=s.ResolutionOut,
    tags=TAGS,
    json=s.ResolutionIn,
    summary=N_("Record a meeting's resolution (the counts and the minutes as a file)."),
)
def resolution(case_id: int, json: s.ResolutionIn):
    form = json.model_dump(exclude={"minutes", "version"})
    minutes = uploads({"minutes": json.minutes}).get("minutes") if json.minutes else None
    result = cases.record_resolution(user(), case_id, form, minutes, expected_version=json.version)
    return {"id": case_id, "result": str(result)}


@operation(
    "GET",
    "/cases/<int:case_id>/comments",
    "read",
    ok=s.Comments,
    tags=TAGS,
    summary=N_("A case's comments, oldest first."),
)
def list_comments(case_id: int):
    return {"items": [comment_out(c) for c in cases.case_comments(user(), case_id)]}


@operation(
    "POST",
    "/cases/<int:case_id>/comments",
    "act",
    ok=s.CommentOut,
    status=201,
    tags=TAGS,
    json=s.CommentIn,
    summary=N_("Comment on a case."),
)
def add_comment(case_id: int, json: s.CommentIn):
    c = comments.add_comment(user(), case_id, json.body)
    return comment_out(c), 201


@operation(
    "GET",
    "/cases/<int:case_id>/attachments",
    "read",
    ok=s.Attachments,
    tags=TAGS,
    summary=N_("A case's files."),
)
def list_attachments(case_id: int):
    files, uploaders = cases.case_files(user(), case_id)
    return {"items": [attachment_out(a, uploaders) for a in files]}


@operation(
    "POST",
    "/cases/<int:case_id>/attachments",
    "act",
    ok=s.AttachmentOut,
    status=201,
    tags=TAGS,
    json=s.FileIn,
    summary=N_("Attach a file (base64) to an open case."),
)
def add_attachment(case_id: int, json: s.FileIn):
    upload = uploads({"file": json})["file"]
    att = attachments.attach_to_case(user(), case_id, upload)
    u = user()
    return attachment_out(att, {u.id: u.display_name}), 201


@operation(
    "GET",
    "/attachments/<int:attachment_id>",
    "read",
    ok=None,
    tags=TAGS,
    binary=True,
    summary=N_("A file's bytes (audited, as on the pages)."),
)
def download(attachment_id: int):
    d = attachments.open_download(user(), attachment_id)
    return send_file(
        d.path,
        mimetype=d.attachment.content_type,
        as_attachment=True,
        download_name=d.attachment.filename,
    )
