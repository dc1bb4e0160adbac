"""Files attached to cases and meetings: checked, stored on disk by SHA-256, downloaded only by
those who may see their owner.

A file belongs to exactly one owner for good: the case it was uploaded to (or the case a
start form creates) or the meeting it was recorded with. A form may name only the files
uploaded with that same request: an id typed into a file field is refused, so nobody can pull
another branch's file into their case (``claim_form_files``). The database holds the same
line: a file's owner kind, organization and case never change once written, and only a
meeting's own file can be linked to a meeting (triggers in ``pbflow.models.process``).

A file is accepted when its extension is on the allowed list AND its first bytes (or, for
office documents, its zip directory) say it is that kind of file: a renamed executable is
refused whatever it is called. Files live under ``PBFLOW_UPLOAD_DIR/ab/abcdef...`` named by
their content hash, so the same file uploaded twice is stored once; the database row carries
the name, type and case. Storing never commits: the caller's transaction (a comment, a step,
a resolution) decides whether the row exists, so a refused step leaves no attachment behind.
A file written to disk for a transaction that then rolls back stays as an unreferenced blob,
which is harmless (and reused if the same file comes again).
"""

from __future__ import annotations

import codecs
import hashlib
import os
import tempfile
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select

from pbflow import audit, validation
from pbflow.engine.errors import InvalidState, NotFound, ValidationFailed
from pbflow.extensions import db
from pbflow.models import Attachment, ProcessInstance, User

# extension -> (content type, content kind the bytes must show)
ALLOWED: dict[str, tuple[str, str]] = {
    "pdf": ("application/pdf", "pdf"),
    "png": ("image/png", "png"),
    "jpg": ("image/jpeg", "jpeg"),
    "jpeg": ("image/jpeg", "jpeg"),
    "gif": ("image/gif", "gif"),
    "webp": ("image/webp", "webp"),
    "txt": ("text/plain; charset=utf-8", "text"),
    "csv": ("text/csv; charset=utf-8", "text"),
    "doc": ("application/msword", "ole"),
    "xls": ("application/vnd.ms-excel", "ole"),
    "ppt": ("application/vnd.ms-powerpoint", "ole"),
    "docx": (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "ooxml:word/",
    ),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "ooxml:xl/"),
    "pptx": (
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "ooxml:ppt/",
    ),
    "odt": ("application/vnd.oasis.opendocument.text", "odf"),
    "ods": ("application/vnd.oasis.opendocument.spreadsheet", "odf"),
    "odp": ("application/vnd.oasis.opendocument.presentation", "odf"),
}
# Shown inline by the browser; everything else is sent as a download.
INLINE_KINDS = {"pdf", "png", "jpeg", "gif", "webp"}
_CHUNK = 64 * 1024
# What a file can belong to (the ``owner`` column); see the module docstring.
OWNERS = ("case", "meeting")


@dataclass(frozen=True)
class Upload:
    """A file as received: the web layer wraps werkzeug's FileStorage, the API and CLI may
    pass any binary stream."""

    filename: str
    stream: IO[bytes]


def upload_dir() -> Path:
    return Path(current_app.config["PBFLOW_UPLOAD_DIR"])


def max_bytes() -> int:
    return int(current_app.config["PBFLOW_MAX_UPLOAD_MB"]) * 1024 * 1024


def blob_path(sha256: str) -> Path:
    return upload_dir() / sha256[:2] / sha256


def accept_attribute() -> str:
    """The ``accept`` attribute of file inputs, from the same list the server checks."""
    return ",".join(f".{ext}" for ext in ALLOWED)


def _clean_name(filename: str) -> str:
    name = os.path.basename((filename or "").replace("\\", "/")).strip()
    name = "".join(ch for ch in name if ch.isprintable() and ch not in '"<>|')
    return name[-255:] if name else ""


def _sniff(head: bytes, path: Path, kind: str) -> bool:
    """Do the file's bytes show the kind its extension claims?"""
    if kind == "pdf":
        return head.startswith(b"%PDF-")
    if kind == "png":
        return head.startswith(b"\x89PNG\r\n\x1a\n")
    if kind == "jpeg":
        return head.startswith(b"\xff\xd8\xff")
    if kind == "gif":
        return head[:6] in (b"GIF87a", b"GIF89a")
    if kind == "webp":
        return head[:4] == b"RIFF" and head[8:12] == b"WEBP"
    if kind == "ole":
        return head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1")
    if kind == "text":
        if b"\x00" in head:
            return False
        for encoding in ("utf-8", "gb18030"):
            # Incremental: a multi-byte character may be cut at the end of the sniffed block.
            decoder = codecs.getincrementaldecoder(encoding)()
            try:
                decoder.decode(head, final=len(head) < _CHUNK)
                return True
            except UnicodeDecodeError:
                continue
        return False
    if kind.startswith("ooxml:") or kind == "odf":
        if not head.startswith(b"PK\x03\x04"):
            return False
        try:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
                if kind == "odf":
                    return "mimetype" in names and archive.read("mimetype").startswith(
                        b"application/vnd.oasis.opendocument."
                    )
                prefix = kind.split(":", 1)[1]
                return "[Content_Types].xml" in names and any(n.startswith(prefix) for n in names)
        except (zipfile.BadZipFile, OSError, KeyError):
            return False
    return False


def _refuse(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(_("The file was not accepted."), field_errors={field: message})


def _receive(upload: Upload, field: str) -> tuple[str, int, Path]:
    """Copy the stream to a temporary file in the upload folder, hashing it; refuse it when
    too large. Returns (sha256, size, temporary path)."""
    limit = max_bytes()
    folder = upload_dir()
    folder.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".upload-")
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := upload.stream.read(_CHUNK):
                size += len(chunk)
                if size > limit:
                    raise _refuse(
                        field,
                        _(
                            "is larger than the limit of %(mb)s MB",
                            mb=current_app.config["PBFLOW_MAX_UPLOAD_MB"],
                        ),
                    )
                digest.update(chunk)
                out.write(chunk)
    except BaseException:
        os.unlink(tmp)
        raise
    return digest.hexdigest(), size, Path(tmp)


def store(
    actor: User,
    upload: Upload,
    *,
    org_id: int,
    instance_id: int | None,
    purpose: str | None = None,
    field: str = "file",
    owner: str = "case",
) -> Attachment:
    """Check and keep one file; add its row and audit event to the open transaction.

    ``owner`` is what the file belongs to for good: ``case`` (``instance_id``, or the case a
    start form is creating in this transaction) or ``meeting``. ``field`` names the form field
    that refusals are reported on.
    """
    if owner not in OWNERS:
        raise ValueError(f"unknown attachment owner {owner!r}")
    name = _clean_name(upload.filename)
    if not name:
        raise _refuse(field, _("is required"))
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if ext not in ALLOWED:
        raise _refuse(
            field,
            _(
                "has a type that is not allowed (allowed: %(types)s)",
                types=", ".join(sorted(ALLOWED)),
            ),
        )
    content_type, kind = ALLOWED[ext]
    sha, size, tmp = _receive(upload, field)
    try:
        if size == 0:
            raise _refuse(field, _("is empty"))
        with open(tmp, "rb") as fh:
            head = fh.read(_CHUNK)
        if not _sniff(head, tmp, kind):
            raise _refuse(
                field, _("does not look like a .%(ext)s file; its content differs", ext=ext)
            )
        final = blob_path(sha)
        if final.exists():
            tmp.unlink()  # the same content is already stored: keep one copy
        else:
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    attachment = Attachment(
        instance_id=instance_id,
        org_id=org_id,
        sha256=sha,
        filename=name,
        content_type=content_type,
        size=size,
        purpose=purpose,
        owner=owner,
        uploaded_by=actor.id,
    )
    db.session.add(attachment)
    db.session.flush()
    audit.record(
        "attachment_added",
        actor=actor,
        org_id=org_id,
        instance_id=instance_id,
        payload={
            "attachment_id": attachment.id,
            "filename": name,
            "sha256": sha,
            "size": size,
            "purpose": purpose,
        },
    )
    return attachment


def attach_to_case(actor: User, case_id: int, upload: Upload) -> Attachment:
    """The case page's "attach a file": one transaction, refused on a closed case."""
    from pbflow.services.visibility import get_visible_case

    try:
        case = get_visible_case(actor, case_id)
        if case.closed_at is not None:
            raise InvalidState(_("This case is closed; no more files can be attached."))
        attachment = store(actor, upload, org_id=case.org_id, instance_id=case.id)
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return attachment


def claim_form_files(
    specs: Iterable[Any],
    values: dict[str, Any],
    stored: Mapping[str, Attachment],
    *,
    case_id: int | None,
) -> None:
    """Refuse a form whose file fields name anything but the files uploaded with it.

    ``stored`` maps field names to the files this request uploaded; their ids are what the
    fields hold. Any other value (an id typed into the form or sent through the API) would
    let a user point at a file they do not own and, when the form starts a case, move it
    there; so it is refused whoever owns the file.
    """
    errors: dict[str, str] = {}
    named: dict[str, Any] = {}
    for spec in specs:
        if spec.type != "file" or spec.name in stored:
            continue
        if values.get(spec.name) not in (None, "", []):
            named[spec.name] = values[spec.name]
    if not named:
        return
    ids = {validation.parse_id(v) for v in named.values()} - {None}
    owners = dict(
        db.session.execute(
            select(Attachment.id, Attachment.instance_id).where(Attachment.id.in_(ids))
        ).all()
    )
    for name, value in named.items():
        file_id = validation.parse_id(value)
        if case_id is not None and file_id is not None and owners.get(file_id, -1) == case_id:
            errors[name] = _(
                "names a file already attached to this case; choose the file to upload"
            )
        elif case_id is not None:
            errors[name] = _("names a file that does not belong to this case")
        else:
            errors[name] = _("names a file that was not uploaded with this form")
    raise ValidationFailed(_("Some fields need correcting."), field_errors=errors)


@dataclass
class Download:
    attachment: Attachment
    path: Path
    inline: bool


def open_download(actor: User, attachment_id: int) -> Download:
    """A file for ``actor`` to download, audited; NotFound when they may not see it (so the
    answer does not reveal that the file exists)."""
    from pbflow.engine import actors
    from pbflow.services.visibility import can_view

    attachment = db.session.get(Attachment, attachment_id)
    if attachment is None:
        raise NotFound(_("No such file."))
    if attachment.instance_id is not None:
        case = db.session.get(ProcessInstance, attachment.instance_id)
        allowed = case is not None and can_view(actor, case)
    else:
        allowed = attachment.uploaded_by == actor.id or actors.can_read_org(
            actor, attachment.org_id
        )
    if not allowed:
        raise NotFound(_("No such file."))
    path = blob_path(attachment.sha256)
    if not path.exists():
        raise NotFound(_("The file is missing from storage; please tell an administrator."))
    try:
        audit.record(
            "attachment_downloaded",
            actor=actor,
            org_id=attachment.org_id,
            instance_id=attachment.instance_id,
            payload={"attachment_id": attachment.id, "filename": attachment.filename},
        )
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    ext = attachment.filename.rsplit(".", 1)[-1].lower()
    inline = ALLOWED.get(ext, ("", ""))[1] in INLINE_KINDS
    return Download(attachment, path, inline)


def describe(attachment: Any) -> str:
    """'name (12 KB)' for lists."""
    size = attachment.size
    if size >= 1024 * 1024:
        return f"{attachment.filename} ({size / 1024 / 1024:.1f} MB)"
    return f"{attachment.filename} ({max(1, round(size / 1024))} KB)"
