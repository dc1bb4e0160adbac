"""A closed case's archive: one ZIP with its summary, its files and the proof that its audit
events are those of pbflow's signed hash chain; and the verification of such an archive.

What the ZIP holds::

    manifest.json        what is in it, with the SHA-256 of every file
    summary.pdf          the case's fields, timeline, decisions (resolutions, ballots), comments
    attachments/ID-NAME  every file attached to the case
    audit/chain.jsonl    the proof (below), in the lines of ``pbflow audit export``
    README.txt           how to verify it

The proof. In format 2 an event's hash is SHA-256(previous hash + digest), so a run of the chain
from any event to a signed checkpoint is checked from the run's first link alone: the
checkpoint's signature (Ed25519, the audit key) vouches for the hash at its event, and that hash
binds every digest before it. For each event of the case, the archive holds the run from it to
the first checkpoint after it (``pbflow tick`` signs one every quarter of an hour, so runs are
short), merged where they overlap: the case's events in full, every other event withheld
(sequence number, link hashes and digest only, as in a scoped export: nothing of its content),
and the checkpoint lines. Making the archive records the event ``case_archived`` carrying the
SHA-256 of the summary and of every file, then signs a checkpoint over it: the archive's own
content is bound into the chain it proves.

Verification (``pbflow audit verify --file ARCHIVE.zip [--public-key KEY] [--head HASH]``),
offline: every run links and hashes up to a checkpoint whose signature verifies with the key;
every full event belongs to the case; the summary and the files match the hashes of the
``case_archived`` event and the manifest. A head hash (``--head``, printed in minutes) must be
found among the archive's events. Where the command runs against pbflow's database and its
chain has reached the archive's last checkpoint, it also checks that the chain holds the very
same events and verifies up to its current head: "consistent with the current chain head".
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select

from pbflow import audit, audit_keys, clock
from pbflow.documents import pdf
from pbflow.documents.pdf import Field
from pbflow.engine import actors
from pbflow.engine.errors import DomainError, InvalidState, NotFound
from pbflow.engine.registry import registry
from pbflow.extensions import db
from pbflow.models import Attachment, Ballot, ProcessInstance, Resolution, User
from pbflow.services import attachments, cases, comments
from pbflow.services.visibility import get_visible_case

FORMAT = "pbflow-case-archive/1"
ARCHIVED = "case_archived"
CHAIN_FILE = "audit/chain.jsonl"


class ArchiveRefused(DomainError):
    status = 503


# --- the summary --------------------------------------------------------------------------


def _org_name(org_id: int, locale: str) -> str:
    node = actors.org_index()[org_id]
    return node.name_en if locale == "en" and node.name_en else node.name


def summary_pdf(reader: User, case: ProcessInstance, locale: str) -> bytes:
    """The case on paper: its fields, its timeline, the decisions taken on it and its
    comments."""
    d = registry().stored(case.definition_id)
    data = dict(case.data or {})
    refs = cases.Refs.load(cases.field_specs(d), data)
    workflow = d.title.get(locale)
    org = _org_name(case.org_id, locale)
    heading = _("Case %(id)s: %(title)s", id=case.id, title=case.title or workflow)
    story: list[Any] = pdf.title(heading, workflow)
    story.append(
        pdf.fields_table(
            [
                Field(_("Organization"), org),
                Field(_("State"), d.states[case.state].label.get(locale)),
                Field(_("Started"), clock.to_local(case.created_at).strftime("%Y-%m-%d %H:%M")),
                Field(
                    _("Closed"),
                    clock.to_local(case.closed_at).strftime("%Y-%m-%d %H:%M")
                    if case.closed_at
                    else "—",
                ),
            ]
        )
    )
    story.append(pdf.heading(_("Fields"), toc=False))
    story.append(
        pdf.fields_table(
            [Field(f.label, f.text, wide=True) for f in cases.case_fields(d, data, refs, locale)]
            or [Field("—", "—")],
            pairs_per_row=1,
        )
    )
    story.append(pdf.heading(_("Decisions"), toc=False))
    resolutions = db.session.execute(
        select(Resolution).where(Resolution.instance_id == case.id).order_by(Resolution.id)
    ).scalars()
    rows = [
        [
            d.states[r.state].label.get(locale) if r.state in d.states else r.state,
            r.meeting_date.isoformat(),
            f"{r.attended}/{r.should_attend}",
            f"{r.votes_for + r.written_for} / {r.votes_against + r.written_against} / "
            f"{r.votes_abstain + r.written_abstain}",
            _("passed") if r.outcome == "passed" else _("failed"),
        ]
        for r in resolutions
    ]
    ballots: dict[str, dict[str, int]] = {}
    for b in db.session.execute(select(Ballot).where(Ballot.instance_id == case.id)).scalars():
        tally = ballots.setdefault(f"{b.state}#{b.round}", {"for": 0, "against": 0, "abstain": 0})
        tally[b.choice] += 1
    for key, tally in ballots.items():
        state = key.split("#")[0]
        rows.append(
            [
                d.states[state].label.get(locale) if state in d.states else state,
                _("online ballot"),
                "",
                f"{tally['for']} / {tally['against']} / {tally['abstain']}",
                "",
            ]
        )
    story.append(
        pdf.grid(
            [_("Vote"), _("Date"), _("Attended"), _("For / against / abstain"), _("Outcome")],
            rows,
            [0.3, 0.16, 0.12, 0.26, 0.16],
        )
    )
    story.append(pdf.heading(_("Timeline"), toc=False))
    story.append(
        pdf.grid(
            [_("Event"), _("When"), _("Who"), _("What")],
            [
                [
                    str(e.seq),
                    clock.to_local(e.at).strftime("%Y-%m-%d %H:%M"),
                    e.actor,
                    "\n".join(
                        [e.text]
                        + ([f"{e.from_state or ''} → {e.to_state}"] if e.to_state else [])
                        + [f"{f.label}：{f.text}" for f in e.fields if f.text]
                        + [f"{k}：{v}" for k, v in e.details]
                        + ([e.comment] if e.comment else [])
                    ),
                ]
                for e in cases.timeline(case, d, locale)
            ],
            [0.09, 0.17, 0.14, 0.6],
        )
    )
    story.append(pdf.heading(_("Comments"), toc=False))
    story.append(
        pdf.grid(
            [_("When"), _("Who"), _("Comment")],
            [
                [
                    clock.to_local(c.created_at).strftime("%Y-%m-%d %H:%M"),
                    c.author.display_name if c.author else "",
                    c.body,
                ]
                for c in comments.for_case(case.id)
            ],
            [0.17, 0.15, 0.68],
        )
    )
    return pdf.render(
        pdf.Meta(
            title=heading,
            organization=org,
            locale=locale,
            subject=workflow,
            printed_by=reader.display_name,
        ),
        story,
    )


# --- making the archive ---------------------------------------------------------------------


def _runs(event_seqs: list[int], checkpoint_seqs: list[int]) -> list[tuple[int, int]]:
    """The runs of the chain that prove the events: each event up to the first checkpoint at
    or after it, overlapping runs merged."""
    runs: list[tuple[int, int]] = []
    for seq in sorted(event_seqs):
        end = next((c for c in checkpoint_seqs if c >= seq), None)
        if end is None:
            raise ArchiveRefused(_("No signed checkpoint covers this case's events yet."))
        if runs and seq <= runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], max(runs[-1][1], end))
        else:
            runs.append((seq, end))
    return runs


def _encode(line: dict[str, Any]) -> str:
    return json.dumps(line, ensure_ascii=False, separators=(",", ":"))


def proof_lines(case_id: int, upto: int) -> tuple[list[str], list[tuple[int, int]], int]:
    """The proof of a case's events up to the checkpoint at ``upto``: the lines, the runs and
    how many events of the case are in it."""
    from pbflow.engine import fastsql

    checkpoints = {cp.seq: cp for cp in audit._checkpoints() if cp.seq <= upto}
    seqs = [row[0] for row in fastsql.walk_audit(upto=upto, instance_ids={case_id})
            if row[5] == case_id]  # fmt: skip
    runs = _runs(seqs, sorted(checkpoints))
    lines: list[str] = []
    for start, end in runs:
        for row in fastsql.walk_audit(after=start - 1, upto=end):
            if row[5] == case_id:
                lines.append(_encode(dict(zip(audit.EXPORT_FIELDS, row, strict=False))))
            else:
                digest = None
                if row[10] is not None:
                    digest = hashlib.sha256(audit._encode_row(row[:11]).encode()).hexdigest()
                line = {"kind": "withheld", "seq": row[0], "digest": digest}
                line.update(prev_hash=row[11], hash=row[12])
                lines.append(_encode(line))
            cp = checkpoints.get(row[0])
            if cp is not None:
                lines.append(_encode(cp.as_line()))
    return lines, runs, len(seqs)


_README = """pbflow case archive ({format})

Case {case_id}: {title}
Organization: {org}
Made {when} by {who}.

summary.pdf         the case's fields, timeline, decisions and comments
attachments/        every file attached to the case
audit/chain.jsonl   the case's audit events in full; every other event of the runs of the
                    chain that lead from them to a signed checkpoint, withheld (sequence number,
                    link hashes and digest only); the signed checkpoints
manifest.json       the SHA-256 of every file, also recorded in the chain (event {event})

Verify with the audit public key written into the minutes:

    flask --app app pbflow audit verify --file THIS.zip --public-key ed25519:...

The last checkpoint of this archive is event {cp_seq}, hash {cp_hash}.
"""


def _zip_time(at: datetime) -> tuple[int, int, int, int, int, int]:
    local = clock.to_local(at)
    return (max(local.year, 1980), local.month, local.day, local.hour, local.minute, local.second)


def _safe_name(name: str) -> str:
    return "".join(c if c not in '/\\:*?"<>|\0' else "_" for c in name)[:150] or "file"


def build(reader: User, case_id: int, locale: str) -> tuple[bytes, str]:
    """The archive of a closed case the reader may see; its making is audited (``case_archived``,
    naming who and the SHA-256 of every file) and signed over by a new checkpoint."""
    case = get_visible_case(reader, case_id)
    if case.closed_at is None:
        raise InvalidState(_("Only a closed case can be archived."))
    summary = summary_pdf(reader, case, locale)
    files: list[tuple[Attachment, bytes]] = []
    for att in db.session.execute(
        select(Attachment).where(Attachment.instance_id == case.id).order_by(Attachment.id)
    ).scalars():
        path = attachments.blob_path(att.sha256)
        if not path.exists():
            raise NotFound(
                _(
                    "The file %(name)s is missing from storage; please tell an administrator.",
                    name=att.filename,
                )  # fmt: skip
            )
        files.append((att, path.read_bytes()))
    summary_sha = hashlib.sha256(summary).hexdigest()
    listed = [
        {
            "id": att.id,
            "path": f"attachments/{att.id}-{_safe_name(att.filename)}",
            "filename": att.filename,
            "sha256": att.sha256,
            "size": att.size,
        }
        for att, _data in files
    ]
    try:
        audit.record(
            ARCHIVED,
            actor=reader,
            org_id=case.org_id,
            instance_id=case.id,
            payload={
                "document": "case_archive",
                "locale": locale,
                "summary_sha256": summary_sha,
                "attachments": [[f["id"], f["sha256"]] for f in listed],
            },
        )
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    try:
        signed = audit.checkpoint()
    except (audit.CheckpointRefused, audit_keys.KeyProblem) as exc:
        raise ArchiveRefused(
            _(
                "The audit chain cannot be signed now, so no archive can prove it: %(why)s",
                why=str(exc),
            )  # fmt: skip
        ) from None
    if signed is None:  # pragma: no cover - the event above was just appended
        raise ArchiveRefused(_("No signed checkpoint covers this case's events yet."))
    lines, runs, count = proof_lines(case.id, signed.seq)
    event_seq = max(
        row["seq"]
        for row in map(json.loads, lines)
        if row.get("action") == ARCHIVED and row.get("instance_id") == case.id
    )
    key = audit_keys.current()
    made = clock.now()
    org = _org_name(case.org_id, locale)
    manifest = {
        "format": FORMAT,
        "case_id": case.id,
        "workflow": case.workflow_id,
        "title": case.title,
        "organization": org,
        "made_at": audit.format_time(made),
        "made_by": reader.username,
        "summary": {"path": "summary.pdf", "sha256": summary_sha},
        "attachments": listed,
        "chain": {
            "name": audit.CHAIN,
            "events_of_case": count,
            "archive_event": event_seq,
            "runs": [list(r) for r in runs],
            "checkpoint": {"seq": signed.seq, "hash": signed.hash},
            "key_id": key.key_id,
            "public_key": key.public_text,
        },
    }
    readme = _README.format(
        format=FORMAT,
        case_id=case.id,
        title=case.title,
        org=org,
        when=clock.to_local(made).strftime("%Y-%m-%d %H:%M"),
        who=reader.display_name,
        event=event_seq,
        cp_seq=signed.seq,
        cp_hash=signed.hash,
    )
    stamp = _zip_time(made)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:

        def put(name: str, data: bytes) -> None:
            info = zipfile.ZipInfo(name, date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)

        put("README.txt", readme.encode())
        put("manifest.json", json.dumps(manifest, ensure_ascii=False, indent=2).encode())
        put("summary.pdf", summary)
        for (_att, data), entry in zip(files, listed, strict=True):
            put(entry["path"], data)
        put(CHAIN_FILE, ("\n".join(lines) + "\n").encode())
    return buffer.getvalue(), f"case-{case.id}-archive.zip"


# --- verifying an archive ---------------------------------------------------------------------


@dataclass
class ArchiveResult:
    ok: bool
    case_id: int | None = None
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    events: int = 0
    runs: int = 0
    checkpoint: tuple[int, str] | None = None
    head: tuple[int, str] | None = None  # the current chain head it is consistent with
    heads_found: list[str] = field(default_factory=list)

    def summary(self) -> str:
        if not self.ok:
            lines = [f"BROKEN: {self.problems[0]}"] + [f"  also: {p}" for p in self.problems[1:]]
            return "\n".join(lines)
        seq, digest = self.checkpoint or (0, "")
        parts = [
            f"OK: archive of case {self.case_id}: {self.events} events of the case, in "
            f"{self.runs} runs of the chain, each ending at a valid signed checkpoint; "
            f"the last at event {seq} {digest}",
            "summary and files match the hashes recorded in the chain",
        ]
        parts += [f"consistent with the published head {h}" for h in self.heads_found]
        if self.head is not None:
            parts.append(f"consistent with the current chain head {self.head[0]} {self.head[1]}")
        return "; ".join(parts + self.notes)


def _read(zf: zipfile.ZipFile, name: str) -> bytes:
    try:
        return zf.read(name)
    except KeyError:
        raise ValueError(f"the archive has no {name}") from None


def verify_archive(
    data: bytes,
    expect_heads: Iterable[str] = (),
    public_keys: Iterable[bytes] = (),
    *,
    against_database: bool = True,
) -> ArchiveResult:
    """Check an archive (see the module's docstring); a ValueError names what makes it
    unreadable."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise ValueError("not a ZIP archive") from None
    with zf:
        try:
            manifest = json.loads(_read(zf, "manifest.json"))
        except json.JSONDecodeError as exc:
            raise ValueError(f"manifest.json is not valid JSON ({exc.msg})") from None
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise ValueError(f"manifest.json does not describe a {FORMAT} archive")
        try:
            rows = list(audit.read_export(_read(zf, CHAIN_FILE).decode().splitlines()))
        except UnicodeDecodeError:
            raise ValueError(f"{CHAIN_FILE} is not UTF-8 text") from None
        contents = {name: zf.read(name) for name in zf.namelist() if name != CHAIN_FILE}
    result = ArchiveResult(ok=True, case_id=manifest.get("case_id"))
    keys = audit._keys(public_keys)
    wanted = {h.strip().lower() for h in expect_heads if h.strip()}
    _check_chain(rows, keys, result, wanted)
    _check_files(manifest, rows, contents, result)
    if against_database and result.ok:
        _check_database(rows, result, wanted)
    for h in sorted(wanted - set(result.heads_found)):
        result.problems.append(
            f"expected head hash not found in the archive's events nor in this chain: {h}"
        )
    result.ok = not result.problems
    return result


def _runs_of(rows: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    runs: list[list[dict[str, Any]]] = []
    last = None
    for row in rows:
        if row.get("kind") == "checkpoint":
            if runs:
                runs[-1].append(row)
            continue
        if last is None or row["seq"] != last + 1:
            runs.append([])
        runs[-1].append(row)
        last = row["seq"]
    return runs


def _check_chain(rows, keys, result: ArchiveResult, wanted: set[str]) -> None:
    case_id = result.case_id
    runs = _runs_of(rows)
    result.runs = len(runs)
    if not runs:
        result.problems.append("the archive holds no audit events")
        return
    for run in runs:
        first = run[0]
        if first.get("kind") == "checkpoint":
            result.problems.append("a checkpoint line comes before any event")
            continue
        walk = audit._Walk(keys=keys, start_seq=first["seq"], start_prev=first["prev_hash"])
        walk.walk(audit._row_from_export(r) for r in run)
        verdict = walk.result()
        end = max(r["seq"] for r in run if r.get("kind") != "checkpoint")
        if not verdict.ok:
            result.problems.append(verdict.problem or "the run does not verify")
            result.problems += verdict.problems[1:]
            continue
        if walk.checkpointed != end:
            result.problems.append(
                f"events {first['seq']}-{end} do not end at a checkpoint signed with a trusted "
                "key: they are not vouched for"
            )
            continue
        result.checkpoint = (end, walk.prev)
        result.heads_found += sorted(wanted & {r["hash"] for r in run if "hash" in r})
        for r in run:
            if r.get("kind") is None:
                if r["instance_id"] != case_id:
                    result.problems.append(
                        f"event {r['seq']} is shown in full but belongs to no case of this archive"
                    )
                result.events += 1
    result.heads_found = sorted(set(result.heads_found))
    if keys is None:
        result.problems.append("no audit public key to check the checkpoints with")


def _check_files(manifest, rows, contents: dict[str, bytes], result: ArchiveResult) -> None:
    archived = [
        r
        for r in rows
        if r.get("kind") is None and r["action"] == ARCHIVED and r["instance_id"] == result.case_id
    ]
    if not archived:
        result.problems.append("the chain records no making of this archive (case_archived)")
        return
    payload = json.loads(archived[-1]["payload"])
    summary = contents.get("summary.pdf")
    if summary is None or hashlib.sha256(summary).hexdigest() != payload.get("summary_sha256"):
        result.problems.append("summary.pdf is not the summary the chain recorded: altered")
    recorded = {int(i): sha for i, sha in payload.get("attachments") or []}
    listed = {int(a["id"]): a for a in manifest.get("attachments") or []}
    if set(recorded) != set(listed):
        result.problems.append("the manifest's files are not those the chain recorded")
    for att_id, sha in recorded.items():
        entry = listed.get(att_id)
        data = contents.get(entry["path"]) if entry else None
        if data is None:
            result.problems.append(f"file {att_id} is missing from the archive")
        elif hashlib.sha256(data).hexdigest() != sha:
            result.problems.append(f"{entry['path']} is not the file the chain recorded: altered")


def _check_database(rows, result: ArchiveResult, wanted: set[str]) -> None:
    """Against the chain of the database this command runs on, when it has reached the
    archive's last checkpoint: the same events at the same places, and a chain that verifies
    up to its current head."""
    from pbflow.models import AuditEvent

    head_seq, head_hash = audit.head()
    last = result.checkpoint[0] if result.checkpoint else 0
    if head_seq < last:
        result.notes.append("verified offline (this database's chain is not the archive's)")
        return
    ours = {r["seq"]: r["hash"] for r in rows if r.get("kind") != "checkpoint"}
    seqs = sorted(ours)
    stored: dict[int, str] = {}
    for i in range(0, len(seqs), 500):
        chunk = seqs[i : i + 500]
        stored.update(
            db.session.execute(
                select(AuditEvent.seq, AuditEvent.hash).where(AuditEvent.seq.in_(chunk))
            ).all()
        )
    differ = [s for s in seqs if stored.get(s) != ours[s]]
    if differ:
        result.problems.append(
            f"event {differ[0]} differs from the current chain: the archive is not consistent "
            "with this chain"
        )
        return
    # The chain only: the search's index of persons says nothing about the archive.
    verdict = audit.verify_database(wanted - set(result.heads_found), person_index=False)
    if not verdict.ok:
        result.problems.append(f"the current chain does not verify: {verdict.problem}")
        return
    result.heads_found = sorted(set(result.heads_found) | wanted)
    result.head = (verdict.head_seq, verdict.head_hash)
