"""Every print or download of a document is audited: who printed which record, when.

A document is generated from the records on request and never stored; the audit event
``document_printed`` names the document, the record it was made from and its format, and
(for PDFs) the SHA-256 of the bytes handed out, so a paper copy that turns up later can be
matched with the print it came from. The event is committed before the document is returned:
no document leaves pbflow without its event.
"""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import quote

from flask import Response
from flask_babel import get_locale

from pbflow import audit
from pbflow.extensions import db
from pbflow.models import User

PRINTED = "document_printed"
# The documents pbflow produces (the ``document`` of the audit event).
KINDS = (
    "development_record",
    "registration_form",
    "admission_resolution",
    "conversion_resolution",
    "talk_record",
    "membership_notice",
    "meeting_minutes",
    "life_meeting_minutes",
    "minutes_volume",
    "case_summary",
    "case_archive",
    "assessment_result",
)


def locale() -> str:
    return str(get_locale() or "zh")


def record_print(
    actor: User,
    document: str,
    *,
    org_id: int | None,
    instance_id: int | None = None,
    record: dict[str, Any] | None = None,
    fmt: str = "pdf",
    content: bytes | None = None,
) -> None:
    """Audit one print or download (and commit it): the document, the record it shows, the
    format and language, and the digest of what was handed out."""
    if document not in KINDS:
        raise ValueError(f"unknown document kind {document!r}")
    payload: dict[str, Any] = {"document": document, "format": fmt, "locale": locale()}
    payload.update(record or {})
    if content is not None:
        payload["sha256"] = hashlib.sha256(content).hexdigest()
    try:
        audit.record(PRINTED, actor=actor, org_id=org_id, instance_id=instance_id, payload=payload)
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise


def download_name(stem: str, ext: str) -> str:
    return f"{stem}.{ext}"


def file_response(data: bytes, filename: str, mimetype: str, *, inline: bool) -> Response:
    """The document's bytes, never cached, with its name (UTF-8 safe)."""
    ascii_name = filename.encode("ascii", "replace").decode().replace("?", "_")
    disposition = "inline" if inline else "attachment"
    response = Response(data, mimetype=mimetype)
    response.headers["Content-Disposition"] = (
        f"{disposition}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def pdf_response(data: bytes, filename: str) -> Response:
    return file_response(data, filename, "application/pdf", inline=True)
