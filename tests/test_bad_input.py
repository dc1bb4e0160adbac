"""Bad input gets a clean answer, never a 500 or a traceback (issue 10).

Property-based: Hypothesis throws generated hostile values at every route of the app and at
every CLI command (see tests/fuzzing.py for how they are found and what is thrown). Then the
specific cases the hostile review reported, each with its expected answer.
"""

from __future__ import annotations

import io
import json
import os
import re
from typing import Any
from urllib.parse import quote

import click
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text

from pbflow import audit
from pbflow.engine import runtime
from pbflow.extensions import db
from pbflow.models import Ballot, Organization
from tests import fuzzing
from tests.conftest import Auth, csrf_token
from tests.pages_helpers import FUNDING, walk
from tests.pages_helpers import text as body
from tests.site import ROLES, Site, build_site, populate


@pytest.fixture
def site(app, world) -> Site:
    return build_site(app, world)


PLAUSIBLE = ["2026-03-01", "1", "2", "测试内容，足够长的一段话", "yes", "8000", "for", "zh"]


def _value(data, name: str, offered: set[str]) -> Any:
    kind = data.draw(
        st.sampled_from(["offered", "offered", "plausible", "hostile", "hostile"]),
        label=f"{name} kind",
    )
    choices = sorted(v for v in offered if v)
    if kind == "offered" and choices:
        return data.draw(st.sampled_from(choices), label=name)
    if kind != "hostile":
        return data.draw(st.sampled_from(PLAUSIBLE), label=name)
    return data.draw(fuzzing.hostile, label=name)


def _params(data, names: dict[str, set[str]], label: str) -> dict[str, Any]:
    out = {}
    for name in sorted(names):
        if data.draw(st.integers(0, 3), label=f"{label} {name}?"):  # mostly sent
            out[name] = _value(data, name, names[name])
    return out


def _send(site: Site, route: fuzzing.Route, data) -> Any:
    role = data.draw(st.sampled_from(ROLES), label="role")
    path = route.rule
    sample = {}
    if route.samples and data.draw(st.integers(0, 3), label="as a page links it?"):
        sample = data.draw(st.sampled_from(route.samples), label="arguments")
    for arg, kind in route.arguments.items():
        pool = [sample[arg]] if arg in sample else site.pools.get(arg, ["1"])
        bad = fuzzing.HUGE_NUMBERS if kind == "int" else fuzzing.NASTY_TEXT
        hostile = data.draw(st.integers(0, 4), label=f"{arg} hostile?") == 0
        value = data.draw(st.sampled_from(bad if hostile else pool), label=arg)
        converter = "int:" if kind == "int" else ""
        path = path.replace(f"<{converter}{arg}>", quote(value, safe=""))
    query = _params(data, route.query, "query")
    if route.method == "GET":
        return site.send(role, "GET", path, query_string=query), role
    headers = {"X-CSRFToken": site.tokens[role]}
    if route.endpoint == "api.fire":
        shape = data.draw(st.sampled_from(["object", "object", "deep", "junk"]), label="json")
        if shape == "object":
            payload = json.dumps(
                {
                    "trigger": data.draw(
                        st.sampled_from(site.pools["trigger"] + ["\x00", "x" * 500])
                    ),
                    "values": _params(data, route.form, "value"),
                    "version": data.draw(st.one_of(st.integers(-(2**70), 2**70), st.none())),
                    "comment": data.draw(fuzzing.hostile),
                }
            )
        elif shape == "deep":
            payload = fuzzing.deep_json(100_000)
        else:
            payload = data.draw(st.sampled_from(["[", "null", '"x"', "\x00", "{}", "1e999999"]))
        return site.send(
            role, "POST", path, data=payload, content_type="application/json", headers=headers
        ), role
    form: dict[str, Any] = {"csrf_token": site.tokens[role], **_params(data, route.form, "form")}
    for name in sorted(route.files):
        if data.draw(st.booleans(), label=f"upload {name}?"):
            form[name] = fuzzing.upload_for(name, data)
    return site.send(
        role, "POST", path, data=form, query_string=query, content_type="multipart/form-data"
    ), role


# Requests that may end the client's own session: the client logs in again afterwards.
SESSION_CHANGING = {"auth.logout", "account.password"}


def _fuzz_route(site: Site, route: fuzzing.Route) -> None:
    @settings(settings.get_profile(fuzzing.PROFILE))
    @given(data=st.data())
    def one_request(data):
        before = site.last_fingerprint or fuzzing.fingerprint()
        site.last_fingerprint = None
        response, role = _send(site, route, data)
        where = f"{route} as {role}"
        assert response.status_code < 500, f"{where}: {response.status_code}"
        assert b"Traceback" not in response.get_data(), where  # PDFs and files are bytes
        after = fuzzing.fingerprint()
        if response.status_code >= 400:
            assert after == before, f"{where} was refused but wrote"
        site.last_fingerprint = after  # the next request starts from here
        if route.endpoint in SESSION_CHANGING:
            site.login(role)

    one_request()
    result = audit.verify_database()
    assert result.ok, f"after {route}: {result.summary()}"


@pytest.mark.slow
def test_every_route_answers_bad_input_cleanly(site):
    """No 5xx, no traceback, and a refused request changes nothing, on every route.

    ``PBFLOW_FUZZ_SURVEY=1`` lists every failing route instead of stopping at the first."""
    assert len(site.routes) > 60
    failures: list[str] = []
    for route in site.routes:
        try:
            _fuzz_route(site, route)
        except Exception as exc:
            if not os.environ.get("PBFLOW_FUZZ_SURVEY"):
                raise
            failures.append(f"{route}: {type(exc).__name__}: {str(exc)[:300]}")
    assert not failures, "\n".join(failures)


def test_the_judge_of_the_fuzzing_sees_every_write_but_what_a_refusal_may_write(app, world):
    """The fingerprint the fuzzing compares can tell: a value changed, a row added and a row
    removed each change it; a failed login's counter, written on purpose, does not."""
    from pbflow.services import accounts

    start = fuzzing.fingerprint()
    world["member"].failed_logins += 1
    db.session.commit()
    assert fuzzing.fingerprint() == start
    world.branch.name += "（改）"
    db.session.commit()
    renamed = fuzzing.fingerprint()
    assert renamed != start
    added = accounts.create_org("b9", "新支部", "branch", world.committee)
    with_it = fuzzing.fingerprint()
    assert with_it not in (start, renamed)
    db.session.delete(db.session.get(Organization, added.id))
    db.session.commit()
    assert fuzzing.fingerprint() not in (start, renamed, with_it)  # its audit event stays


# --- every CLI command ---------------------------------------------------------------------

# `init` builds or upgrades the schema with the migrations: the test database is built from
# the models, so it is left out here (tests/test_migrations.py and test_cli.py cover it).
CLI_SKIPPED = {("init",)}


def _cli_value(data, param: click.Parameter, pools: dict[str, list[str]], tmp_path) -> str:
    kind = param.type
    label = param.name or "value"
    if isinstance(kind, click.Choice):
        return data.draw(st.sampled_from([*kind.choices, "nope", ""]), label=label)
    if isinstance(kind, click.Path):
        content = data.draw(
            st.sampled_from(
                [
                    b"",
                    b"\xff\xfe",
                    b"{}\n",
                    b'{"seq": 1}\n',
                    b"[" * 5000 + b"]" * 5000,
                    b"id: x\nstates: [",
                    "不是 JSON".encode(),
                ]
            ),
            label=f"{label} content",
        )
        path = tmp_path / data.draw(st.sampled_from(["a.jsonl", "a.yaml", "x"]), label=label)
        path.write_bytes(content)
        return data.draw(st.sampled_from([str(path), str(tmp_path / "missing"), str(tmp_path)]))
    pool = pools.get(label, [])
    if pool and data.draw(st.booleans(), label=f"{label} known?"):
        return data.draw(st.sampled_from(pool), label=label)
    return data.draw(fuzzing.cli_text, label=label)


def _argv(data, name, command, pools, tmp_path) -> list[str]:
    argv = ["pbflow", *name]
    for param in command.params:
        if isinstance(param, click.Argument):
            count = 1 if param.nargs == 1 else data.draw(st.integers(0, 2), label=param.name)
            argv += [_cli_value(data, param, pools, tmp_path) for _ in range(count)]
            continue
        required = param.required or param.prompt
        if not required and not data.draw(st.booleans(), label=f"{param.name}?"):
            continue
        flag = param.opts[0]
        if param.is_flag:
            argv.append(flag)
            continue
        for _ in range(
            data.draw(st.integers(1, 2), label=f"{param.name} times") if param.multiple else 1
        ):
            argv += [flag, _cli_value(data, param, pools, tmp_path)]
    return argv


@pytest.mark.slow
def test_every_cli_command_answers_bad_input_cleanly(app, world, runner, tmp_path):
    """No traceback and no partial write from any command, whatever its arguments."""
    from pbflow.cli import pbflow_cli

    pools = populate(world)
    users = ["admin", "secretary", "member", "committee_a", "nobody"]
    pools.update(
        {
            "username": users,
            "org_code": ["b1", "b2", "coal", "nowhere"],
            "parent_code": ["b1", "coal"],
            "workflow_id": ["activity_funding", "member_development", "opinion", "x"],
            "case_id": pools["case_id"] + ["0"],
            "trigger": pools["trigger"],
            "field_items": [
                "purpose=x",
                "amount=1",
                "person=1",
                "application_date=0001-01-01",
                "amount=" + "9" * 40,
                "name",
            ],
            "file_items": ["receipts=/nonexistent", "application_letter=" + str(tmp_path)],
            "role": ["secretary", "admin", "member", "king"],
            "heads": ["zz", "0" * 64, "A" * 64],
            "now_text": ["2026-03-02T08:00", "9999-12-31T23:59", "0001-01-01", "2026-03-02+08:00"],
            "meeting_date": ["2026-03-01", "0001-01-01", "3000-01-01"],
        }
    )
    cli = commands_of(pbflow_cli)
    assert len(cli) > 15
    for name, command in cli:
        _fuzz_command(app, runner, name, command, pools, tmp_path)


def _fuzz_command(app, runner, name, command, pools, tmp_path) -> None:
    @settings(settings.get_profile(fuzzing.PROFILE))
    @given(data=st.data())
    def one_command(data):
        argv = _argv(data, name, command, pools, tmp_path)
        before = fuzzing.fingerprint()
        with app.app_context():
            result = runner.invoke(args=argv, input="pw\npw\n")
        shown = " ".join(argv)[:300]
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise AssertionError(f"{shown}: traceback") from result.exception
        assert "Traceback" not in result.output, shown
        assert result.exit_code in (0, 1, 2), f"{shown}: exit {result.exit_code}"
        if result.exit_code != 0:
            assert fuzzing.fingerprint() == before, f"{shown} was refused but wrote"

    one_command()
    result = audit.verify_database()
    assert result.ok, f"after {' '.join(name)}: {result.summary()}"


def commands_of(group) -> list:
    return [(name, cmd) for name, cmd in fuzzing.commands(group) if name not in CLI_SKIPPED]


# --- the cases the hostile review reported, one by one ------------------------------------

HUGE = "99999999999999999999"


def _en(client):
    client.set_cookie("pbflow_lang", "en")


def test_huge_ids_in_urls_are_simply_not_found(app, world, client, auth):
    _en(client)
    auth.login("admin")
    token = csrf_token(body(client.get("/inbox")))
    checked = 0
    for rule in app.url_map.iter_rules():
        ints = [a for a, c in rule._converters.items() if type(c).__name__ == "IdConverter"]
        if not ints:
            continue
        for number in (HUGE, str(2**31), "2147483648", "0", "²", "-1"):
            url = rule.rule
            for arg in rule._converters:
                value = quote(number) if arg in ints else "x"
                url = re.sub(r"<[^>]*\b" + arg + ">", value, url)
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                response = client.open(url, method=method, data={"csrf_token": token})
                assert response.status_code == 404, f"{method} {url}"
                checked += 1
                if url.startswith("/api/"):
                    assert response.get_json()["status"] == 404
    assert checked > 100


def test_huge_numbers_in_queries_and_fields_are_refused_readably(world, client, auth):
    _en(client)
    auth.login("secretary")
    listing = client.get(f"/cases?page={HUGE}&org={HUGE}")
    assert listing.status_code == 200 and "must be chosen from the list" in body(listing)
    api = client.get(f"/api/cases?org={HUGE}")
    assert api.status_code == 422 and api.get_json()["field_errors"] == {
        "org": "must be chosen from the list"
    }
    assert client.get(f"/meetings/?year={HUGE}&page={HUGE}&org={HUGE}").status_code == 200
    assert client.get(f"/meetings/compliance/{world.branch.id}?year={HUGE}").status_code == 200
    case = runtime.start("activity_funding", world.branch, world["branch_member"], FUNDING)
    token = csrf_token(body(client.get(f"/cases/{case.id}")))
    before = fuzzing.fingerprint()
    refused = client.post(
        f"/cases/{case.id}/steps/submit", data={"csrf_token": token, "version": HUGE}
    )
    assert refused.status_code in (403, 409, 422)
    start = client.post(
        f"/cases/new?workflow=activity_funding&org={world.branch.id}",
        data={
            "csrf_token": token,
            **{f"f.{k}": v for k, v in FUNDING.items()},
            "f.amount": "1" + "0" * 400,
        },
    )
    assert start.status_code == 422 and "is too large" in body(start)
    assert fuzzing.fingerprint() == before


def test_years_outside_1900_to_2999_are_refused_readably(world, client, auth):
    _en(client)
    auth.login("secretary")
    for query in ("date_from=0001-01-01", "date_to=9999-12-31", "date_from=3000-01-01"):
        page = client.get(f"/cases?{query}")
        assert page.status_code == 200 and "must be a date like 2026-03-01" in body(page)
        api = client.get(f"/api/cases?{query}")
        assert api.status_code == 422 and "must be a date like" in str(api.get_json())
    token = csrf_token(body(client.get("/inbox")))
    before = fuzzing.fingerprint()
    start = client.post(
        f"/cases/new?workflow=activity_funding&org={world.branch.id}",
        data={
            "csrf_token": token,
            **{f"f.{k}": v for k, v in FUNDING.items()},
            "f.activity_date": "1899-12-31",
        },
    )
    assert start.status_code == 422 and "must be a date like 2026-03-01" in body(start)
    present = [str(world[u].person.id) for u in ("secretary", "deputy", "member")]
    meeting = client.post(
        f"/meetings/new?org={world.branch.id}",
        data={
            "csrf_token": token,
            "meeting_type": "theme_day",
            "held_on": "0001-01-01",
            "topic": "t",
            "chair": present[0],
            "present": present,
        },
    )
    assert meeting.status_code == 422
    assert fuzzing.fingerprint() == before
    auth.logout()
    auth.login("auditor")
    audit_page = client.get("/audit/?from=9999-12-31&to=0001-01-01")
    assert audit_page.status_code == 200 and "is not a date" in body(audit_page)


def test_json_nested_100000_deep_is_a_400_with_a_json_answer(world, client, auth):
    _en(client)
    auth.login("secretary")
    token = client.get("/api/csrf").get_json()["csrf_token"]
    case = runtime.start("activity_funding", world.branch, world["branch_member"], FUNDING)
    response = client.post(
        f"/api/cases/{case.id}/fire",
        data=fuzzing.deep_json(100_000),
        content_type="application/json",
        headers={"X-CSRFToken": token},
    )
    assert response.status_code == 400
    assert response.get_json() == {"error": "The JSON is nested too deeply.", "status": 400}


@pytest.mark.parametrize("where", ["form", "query", "json", "path"])
def test_a_nul_byte_anywhere_is_a_400_and_writes_nothing(app, world, client, auth, where):
    _en(client)
    auth.login("secretary")
    case = runtime.start("activity_funding", world.branch, world["branch_member"], FUNDING)
    token = csrf_token(body(client.get(f"/cases/{case.id}")))
    before = fuzzing.fingerprint()
    if where == "form":
        response = client.post(
            f"/cases/{case.id}/comments?lang=en", data={"csrf_token": token, "body": "好\x00的"}
        )
    elif where == "query":
        response = client.get("/cases?q=a%00b&lang=en")
    elif where == "json":
        response = client.post(
            f"/api/cases/{case.id}/fire?lang=en",
            json={"trigger": "submit", "comment": "a\x00"},
            headers={"X-CSRFToken": token},
        )
    else:
        response = client.get("/opinions/b1%00?lang=en")
    assert response.status_code == 400
    message = "The request contains a character that is not allowed (NUL)."
    if where == "json":
        assert response.get_json()["error"] == message
    else:
        assert message in body(response)
    assert fuzzing.fingerprint() == before
    with app.app_context():  # a new request context: the language is chosen afresh
        zh = client.get("/cases?q=a%00b&lang=zh")
    assert "请求中含有不允许的字符" in body(zh)


def test_names_longer_than_their_column_are_refused_not_kept(world, client, auth, runner):
    """SQLite would silently store 5,000 characters in a VARCHAR(200)."""
    _en(client)
    auth.login("admin")
    token = csrf_token(body(client.get("/admin/orgs")))
    before = fuzzing.fingerprint()
    refused = client.post(
        "/admin/orgs",
        data={
            "csrf_token": token,
            "code": "b9",
            "name": "支" * 201,
            "kind": "branch",
            "parent_id": str(world.general_branch.id),
        },
    )
    assert refused.status_code == 422 and "must be at most 200 characters" in body(refused)
    assert fuzzing.fingerprint() == before
    long_name = runner.invoke(
        args=["pbflow", "org", "create", "b9", "支" * 201, "--kind", "branch", "--parent", "gb1"]
    )
    assert long_name.exit_code == 1 and "must be at most 200 characters" in long_name.output
    assert db.session.execute(select(Organization).where(Organization.code == "b9")).first() is None
    assert fuzzing.fingerprint() == before


@pytest.mark.parametrize("importer", ["admin", "development"])
def test_a_nul_after_the_first_4_kib_of_a_csv_import_is_refused(world, client, auth, importer):
    _en(client)
    csv = ("name,org_code\n" + "张三,b1\n" * 1000 + "李\x00四,b1\n").encode()
    assert csv.index(b"\x00") > 4096
    if importer == "admin":
        auth.login("admin")
        url = "/admin/people/import"
        token = csrf_token(body(client.get(url)))
    else:
        auth.login("secretary")
        url = f"/development/org/{world.branch.id}/import"
        token = csrf_token(body(client.get(url)))
    before = fuzzing.fingerprint()
    response = client.post(
        url,
        data={"csrf_token": token, "file": (io.BytesIO(csv), "people.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 422
    assert "This is not a CSV text file" in body(response)
    assert fuzzing.fingerprint() == before


def _committee_vote(world) -> int:
    vote = runtime.start(
        "activity_funding", world.branch, world["branch_member"], {**FUNDING, "amount": "8000"}
    )
    walk(
        vote.id,
        world,
        ("submit", "branch_member"),
        ("secretary_approve", "secretary"),
        ("forward_to_committee", "gb_secretary"),
    )
    return vote.id


def test_a_second_ballot_is_told_it_has_already_voted(app, world, runner):
    """Each request in its own application context, as in production: the 500 came from
    reading the voter's language in a session the failed insert had spoilt."""
    case_id = _committee_vote(world)
    client = app.test_client()
    with app.app_context():
        Auth(client).login("committee_a")
    for choice, status in (("for", 302), ("against", 409)):
        with app.app_context():
            token = csrf_token(body(client.get(f"/cases/{case_id}")))
            response = client.post(
                f"/cases/{case_id}/ballot?lang=en", data={"csrf_token": token, "choice": choice}
            )
        assert response.status_code == status
    assert "You have already voted on this." in body(response)
    cli = runner.invoke(args=["pbflow", "vote", "cast", str(case_id), "for", "--as", "committee_a"])
    assert cli.exit_code == 1 and "You have already voted on this." in cli.output
    ballots = db.session.execute(select(Ballot.choice).where(Ballot.instance_id == case_id))
    assert list(ballots.scalars()) == ["for"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["tick", "--now", "9999-12-31T23:59"], "year from 1900 to 2999"),
        (["tick", "--now", "0001-01-01"], "year from 1900 to 2999"),
        (["tick", "--now", "1900-01-01T00:00+08:00"], "year from 1900 to 2999"),
        (["audit", "verify", "--head", "zz"], "'zz' is not a head hash"),
        (["show", HUGE], "is not in the range"),
        (["fire", HUGE, "submit", "--as", "admin"], "is not in the range"),
        (
            [
                "vote",
                "record",
                "1",
                "--as",
                "secretary",
                "--date",
                "2026-03-01",
                "--attended",
                HUGE,
                "--for",
                "1",
            ],
            "is not in the range",
        ),
    ],
)
def test_the_cli_answers_extreme_values_with_a_usage_error(world, runner, args, message):
    before = fuzzing.fingerprint()
    result = runner.invoke(args=["pbflow", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.exit_code == 2 and message in result.output
    assert fuzzing.fingerprint() == before


def test_a_killed_database_connection_costs_no_request(app, world, client, auth):
    """Pool pre-ping: the server ends the pooled connection between two requests (as a
    restart or an idle timeout would); the next request gets a fresh one and succeeds."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("terminating a server backend needs PostgreSQL")
    auth.login("secretary")
    assert client.get("/inbox").status_code == 200
    db.session.remove()
    with db.engine.connect() as conn:
        pids = [conn.execute(text("SELECT pg_backend_pid()")).scalar()]
    from sqlalchemy import create_engine

    killer = create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
    with killer.connect() as conn:
        killed = conn.execute(
            text(
                # The timeout (ms) makes it wait until each backend has gone: without it
                # the signal is only sent, and a backend slow to act on it (a loaded CI
                # machine) answered the next request's pre-ping, then died under its query.
                "SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        ).all()
        conn.commit()
    killer.dispose()
    assert killed and all(row[0] for row in killed) and pids
    for _ in range(3):
        assert client.get("/inbox").status_code == 200
