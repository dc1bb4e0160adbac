"""A closed case's archive: a ZIP with its summary (the facts in the PDF's text), its files and
the proof of its audit events; ``pbflow audit verify`` accepts it offline with the public key,
against the current chain head and a published head, and names every alteration."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from pbflow import audit, audit_keys
from pbflow.engine import runtime
from pbflow.extensions import db
from pbflow.models import AuditEvent
from pbflow.services import attachments
from pbflow.services.attachments import Upload

REQUEST = {
    "purpose": "七一主题党日活动",
    "activity_date": "2026-03-20",
    "venue": "矿史馆",
    "amount": "1200.50",
    "budget": "交通 600；资料 600.50",
}


@pytest.fixture
def closed_case(world, clock, runner):
    """A funding request walked to its end, with a file, a comment, and ticks between its
    steps (so its events lie in several runs of the chain, each with its checkpoint)."""
    from pbflow.services import comments

    case = runtime.start("activity_funding", world.branch, world["branch_member"], REQUEST)
    attachments.attach_to_case(
        world["branch_member"],
        case.id,
        Upload("预算.pdf", io.BytesIO(b"%PDF-1.4\n%budget\n%%EOF\n")),
    )
    runtime.fire(case.id, "submit", world["branch_member"])
    assert runner.invoke(args=["pbflow", "audit", "head"]).exit_code == 0
    # Someone else's case in between: withheld in the archive.
    runtime.start("activity_funding", world.other_branch, world["other_secretary"], REQUEST)
    runtime.fire(case.id, "secretary_approve", world["secretary"])
    comments.add_comment(world["secretary"], case.id, "预算合理，同意。")
    runtime.fire(case.id, "superior_approve", world["gb_secretary"])
    assert runner.invoke(args=["pbflow", "audit", "head"]).exit_code == 0
    clock.set("2026-03-21T02:00:00")
    runtime.fire(
        case.id, "report_spending", world["branch_member"],
        {"spent": "1100", "spending_report": "实际开支 1100 元"},
    )  # fmt: skip
    runtime.fire(case.id, "accept_report", world["secretary"])
    return case


def download(client, auth, case_id: int, who: str = "secretary", lang: str = "zh") -> bytes:
    auth.login(who)
    response = client.get(f"/documents/cases/{case_id}/archive.zip?lang={lang}")
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    assert response.mimetype == "application/zip"
    auth.logout()
    return response.data


def verify(runner, path, *extra: str):
    return runner.invoke(args=["pbflow", "audit", "verify", "--file", str(path), *extra])


def rewrite(data: bytes, name: str, change) -> bytes:
    """The archive with one member replaced by ``change(old bytes)``."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as dst:
        for item in src.infolist():
            body = src.read(item.filename)
            dst.writestr(item, change(body) if item.filename == name else body)
    return out.getvalue()


def test_the_archive_holds_summary_files_and_a_proof_that_verifies(
    closed_case, client, auth, runner, tmp_path, world
):
    data = download(client, auth, closed_case.id)
    zf = zipfile.ZipFile(io.BytesIO(data))
    names = zf.namelist()
    assert {"README.txt", "manifest.json", "summary.pdf", "audit/chain.jsonl"} <= set(names)
    assert any(n.startswith("attachments/") and n.endswith("预算.pdf") for n in names)
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(zf.read("summary.pdf"))).pages)
    text = text.replace("\n", "")
    for fact in (
        "七一主题党日活动",
        "1200.5",
        "矿史馆",
        "预算合理，同意。",
        "采煤一队党支部",
        "已办结",
    ):
        assert fact in text, fact
    manifest = json.loads(zf.read("manifest.json"))
    assert manifest["case_id"] == closed_case.id and len(manifest["chain"]["runs"]) >= 2
    lines = [json.loads(x) for x in zf.read("audit/chain.jsonl").decode().splitlines()]
    full = [x for x in lines if "kind" not in x]
    assert {x["instance_id"] for x in full} == {closed_case.id}
    assert any(x.get("kind") == "withheld" for x in lines)
    assert [x["action"] for x in full][-1] == "case_archived"
    # Its making is in the chain: who, and the hashes of what they took away.
    made = db.session.execute(
        select(AuditEvent).where(AuditEvent.action == "case_archived")
    ).scalar_one()
    assert made.actor_label == "secretary" and made.instance_id == closed_case.id

    path = tmp_path / "archive.zip"
    path.write_bytes(data)
    key = audit_keys.current().public_text
    out = verify(runner, path, "--public-key", key)
    assert out.exit_code == 0, out.output
    assert "OK: archive of case" in out.output
    assert "consistent with the current chain head" in out.output
    # Later events do not disturb it: still consistent with the head as it moves on.
    runtime.start("activity_funding", world.branch, world["branch_member"], REQUEST)
    assert verify(runner, path).exit_code == 0
    # A head printed into the minutes after the archive was made is found in this chain.
    runner.invoke(args=["pbflow", "audit", "head"])
    published = audit.head()[1]
    out = verify(runner, path, "--head", published)
    assert out.exit_code == 0 and f"consistent with the published head {published}" in out.output
    out = verify(runner, path, "--head", "ab" * 32)
    assert out.exit_code == 1 and "expected head hash not found" in out.output


def test_offline_the_archive_verifies_with_the_public_key_alone(
    closed_case, client, auth, tmp_path, app
):
    from pbflow.documents import archive

    data = download(client, auth, closed_case.id, lang="en")
    key = audit_keys.current().public_raw
    result = archive.verify_archive(data, public_keys=[key], against_database=False)
    assert result.ok, result.summary()
    assert result.head is None and result.events >= 7
    last = json.loads(zipfile.ZipFile(io.BytesIO(data)).read("manifest.json"))["chain"]
    assert archive.verify_archive(
        data, [last["checkpoint"]["hash"]], [key], against_database=False
    ).heads_found == [last["checkpoint"]["hash"]]
    # Another key (a forger's) vouches for nothing.
    other = audit_keys.parse_public_key("ed25519:" + "A" * 43 + "=")
    assert not archive.verify_archive(data, public_keys=[other], against_database=False).ok


def test_every_alteration_of_an_archive_is_named(closed_case, client, auth, runner, tmp_path):
    data = download(client, auth, closed_case.id)
    key = audit_keys.current().public_text

    def broken(altered: bytes) -> str:
        path = tmp_path / "altered.zip"
        path.write_bytes(altered)
        out = verify(runner, path, "--public-key", key)
        assert out.exit_code == 1, out.output
        return out.output

    assert "summary.pdf is not the summary" in broken(
        rewrite(data, "summary.pdf", lambda b: b.replace(b"%%EOF", b"%%EOF\n%x"))
    )
    attachment = next(n for n in zipfile.ZipFile(io.BytesIO(data)).namelist() if "预算" in n)
    assert "is not the file the chain recorded" in broken(
        rewrite(data, attachment, lambda b: b + b"changed")
    )
    assert "was altered" in broken(
        rewrite(data, "audit/chain.jsonl", lambda b: b.replace(b"1200.5", b"9200.5"))
    )

    def drop_checkpoints(body: bytes) -> bytes:
        kept = [x for x in body.decode().splitlines() if '"kind":"checkpoint"' not in x]
        return ("\n".join(kept) + "\n").encode()

    assert "not vouched for" in broken(rewrite(data, "audit/chain.jsonl", drop_checkpoints))
    path = tmp_path / "not.zip"
    path.write_bytes(b"PK\x03\x04 not really")
    assert verify(runner, path).exit_code != 0


def test_only_a_closed_case_is_archived_and_only_for_who_may_see_it(world, clock, client, auth):
    case = runtime.start("activity_funding", world.branch, world["branch_member"], REQUEST)
    auth.login("secretary")
    response = client.get(f"/documents/cases/{case.id}/archive.zip")
    assert response.status_code == 409
    assert "Only a closed case" in response.get_data(as_text=True) or "办结" in response.get_data(
        as_text=True
    )
    auth.logout()
    auth.login("other_secretary")
    assert client.get(f"/documents/cases/{case.id}/archive.zip").status_code == 404
    assert client.get("/documents/cases/999999/archive.zip").status_code == 404
