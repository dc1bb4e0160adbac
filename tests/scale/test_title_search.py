"""The case list's text search goes through an index of the titles (issue 16: an index for
every filter a page offers), finds exactly what reading every title finds, and the index
follows each case in the case's own transaction."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from pbflow import title_search
from pbflow.extensions import db
from pbflow.models import ProcessInstance, User
from pbflow.services import cases, seed
from tests.pages_helpers import funding_case
from tests.scale.recording import recorded

P = ProcessInstance


def _found(user: User, q: str) -> set[int]:
    filters, errors = cases.CaseFilters.parse({"q": q, "status": "all"})
    assert not errors
    return {r.case.id for r in cases.search(user, filters, "zh", page_size=2000).rows}


def _oracle(q: str) -> set[int]:
    """Every title read, as the search did before the index."""
    found = db.session.execute(select(P.id).where(P.title.icontains(q, autoescape=True)))
    ids = set(found.scalars())
    if q.lstrip("#").isdigit() and db.session.get(P, int(q.lstrip("#"))) is not None:
        ids.add(int(q.lstrip("#")))
    return ids


@pytest.fixture
def titled(world):
    """Cases with titles chosen to catch a search that is not exact."""
    for purpose in ("七一主题党日活动", "组织生活会准备", "abcXbcd 学习", "ABCD 学习", "50%_预算"):
        funding_case(world, purpose=purpose)
    db.session.commit()
    return world


def test_the_search_finds_what_reading_every_title_finds(app, titled, clock):
    seed.seed(300, 2)
    committee = db.session.execute(select(User).where(User.username == "committee_a")).scalar()
    texts = [
        "主题党日",  # through the index
        "生活会",
        "abcd",  # a title with every trigram of it but not the text ("abcXbcd")
        "ABCD",
        "bcd",
        "学习",  # two characters: no trigram, every title read
        "党",
        "50%_",  # LIKE's wildcards, taken literally
        "%_预",
        "无此标题的文字",  # in no title
        "zzzz",
    ]
    for q in texts:
        assert _found(committee, q) == _oracle(q), q
    assert _found(committee, "abcd") and not _found(committee, "zzzz")
    some = db.session.execute(select(func.max(P.id))).scalar()
    assert some in _found(committee, f"#{some}")


def _pg_trgm_offered(conn) -> bool:
    offered = "SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'"
    return conn.exec_driver_sql(offered).first() is not None


def test_a_rare_text_is_read_from_the_index(app, titled, clock):
    seed.seed(300, 2)
    committee = db.session.execute(select(User).where(User.username == "committee_a")).scalar()
    filters, _errors = cases.CaseFilters.parse({"q": "abcX", "status": "all"})
    _result, seen = recorded(lambda: cases.search(committee, filters, "zh"))
    statement, parameters = next((s, p) for s, p in seen if "title" in s and "LIMIT" in s)
    conn = db.session.connection()
    if conn.dialect.name == "sqlite":
        assert title_search.TABLE in statement
        plan = " | ".join(
            str(r[-1]) for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
        )
        assert "VIRTUAL TABLE" in plan and "SCAN process_instance" not in plan, plan
    else:
        if not _pg_trgm_offered(conn):
            pytest.skip("this PostgreSQL server offers no pg_trgm (postgresql-contrib)")
        conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
        plan = "\n".join(
            str(r[-1]) for r in conn.exec_driver_sql("EXPLAIN " + statement, parameters)
        )
        db.session.rollback()
        assert title_search.PG_INDEX in plan, plan


def test_the_index_follows_each_case_in_its_own_transaction(app, world, clock):
    committee = world["committee_a"]
    case = funding_case(world, purpose="初始的活动名称")
    db.session.commit()
    assert case.id in _found(committee, "初始的活动")
    case.title = "改过的活动名称"
    db.session.commit()
    assert case.id in _found(committee, "改过的活动")
    assert case.id not in _found(committee, "初始的活动")
    # A change rolled back with its transaction is rolled back in the index too.
    case.title = "回滚了的活动名称"
    db.session.flush()
    assert case.id in _found(committee, "回滚了的活")  # the trigger ran in this transaction
    db.session.rollback()
    assert not _found(committee, "回滚了的活")
    assert case.id in _found(committee, "改过的活动")


def test_installing_twice_changes_nothing_and_fills_the_index_once(app, world, clock):
    funding_case(world, purpose="已有的活动名称")
    db.session.commit()
    with db.engine.begin() as conn:
        assert title_search.install(conn)
        assert title_search.install(conn)
    assert len(_found(world["committee_a"], "已有的活动")) == 1


def test_the_filter_by_subject_finds_what_joining_every_subject_found(app, world, clock):
    """The subject's name is looked up among the people first, then their cases by the
    subject's index; the cases are those a join of every case with its subject finds."""
    from pbflow.models import Person

    seed.seed(300, 2)
    committee = db.session.execute(select(User).where(User.username == "committee_a")).scalar()
    names = db.session.execute(
        select(Person.name).join(P, P.subject_person_id == Person.id).limit(3)
    ).scalars()
    texts = {n[:2] for n in names} | {n[-1:] for n in names} | {"无此人", "%", "_"}
    matched = 0
    for name in sorted(texts):
        filters, errors = cases.CaseFilters.parse({"person": name, "status": "all"})
        assert not errors
        found = {r.case.id for r in cases.search(committee, filters, "zh", page_size=2000).rows}
        joined = select(P.id).join(Person, Person.id == P.subject_person_id)
        expected = set(
            db.session.execute(joined.where(Person.name.icontains(name, autoescape=True))).scalars()
        )
        assert found == expected, name
        matched += len(found)
    assert matched


class _NoTrigrams:
    """A PostgreSQL connection whose server offers no pg_trgm (the statements of ``install``
    answered as such a server would, anything else refused)."""

    class dialect:  # noqa: N801 - stands for the connection's dialect
        name = "postgresql"

    version = "3.40.1"  # what ``SELECT sqlite_version()`` answers (SQLite's)

    def __init__(self) -> None:
        self.run: list[str] = []

    def execute(self, statement, *_args):
        self.run.append(str(statement))
        version = self.version

        class _Rows:
            def first(self):
                return None

            def scalar(self):
                return version

        return _Rows()

    def exec_driver_sql(self, statement, *_args):
        raise AssertionError(f"nothing is created without the extension: {statement}")


def test_without_pg_trgm_the_index_is_left_out_with_a_warning(caplog):
    conn = _NoTrigrams()
    with caplog.at_level("WARNING", logger="pbflow.title_search"):
        assert title_search.install(conn) is False
    assert "pg_trgm" in caplog.text and "reads every case" in caplog.text
    assert len(conn.run) == 1 and "pg_available_extensions" in conn.run[0]


def test_without_the_index_the_search_reads_the_titles_as_before(app, titled, clock):
    """A database without the index (uninstalled here; a SQLite built without FTS5, a
    PostgreSQL without pg_trgm) finds the same cases by reading the titles."""
    committee = titled["committee_a"]
    indexed = _found(committee, "主题党日")
    assert indexed and indexed == _oracle("主题党日")
    db.session.remove()  # its transaction's locks would keep PostgreSQL's DROP INDEX waiting
    with db.engine.begin() as conn:
        title_search.uninstall(conn)
    try:
        filters, _errors = cases.CaseFilters.parse({"q": "主题党日", "status": "all"})
        _result, seen = recorded(lambda: cases.search(committee, filters, "zh"))
        assert not any(title_search.TABLE in s for s, _p in seen)
        assert _found(committee, "主题党日") == indexed
    finally:  # the other tests of this database find it as the migrations left it
        db.session.remove()
        with db.engine.begin() as conn:
            assert title_search.install(conn)
    assert _found(committee, "主题党日") == indexed


class _NoFts5(_NoTrigrams):
    class dialect:  # noqa: N801 - stands for the connection's dialect
        name = "sqlite"


class _OldSqlite(_NoFts5):
    version = "3.31.1"  # FTS5 without the trigram tokenizer (Ubuntu 20.04's)


@pytest.mark.parametrize("conn", [_NoFts5(), _OldSqlite()], ids=["no-fts5", "sqlite-3.31"])
def test_a_sqlite_without_trigrams_leaves_the_index_out_with_a_warning(caplog, conn):
    with caplog.at_level("WARNING", logger="pbflow.title_search"):
        assert title_search.install(conn) is False
    assert "FTS5" in caplog.text and "3.34" in caplog.text and "reads every case" in caplog.text


def test_the_cases_of_a_name_are_found_from_the_people(app, world, clock):
    """SQLite, taking the open cases for a handful, walked every open case and looked up
    its subject (95 ms at 100,000 cases for a name nobody has); told that half are open, it
    starts from the people of that name and reads their cases by the subject's index."""
    seed.seed(600, 1)
    committee = db.session.execute(select(User).where(User.username == "committee_a")).scalar()
    filters, _errors = cases.CaseFilters.parse({"person": "无此人"})
    assert filters.status == "open"
    _result, seen = recorded(lambda: cases.search(committee, filters, "zh"))
    statement, parameters = next((s, p) for s, p in seen if "FROM person" in s)
    conn = db.session.connection()
    if conn.dialect.name == "sqlite":
        plan = " | ".join(
            str(r[-1]) for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
        )
        assert "USING INDEX ix_process_instance_subject_person_id" in plan, plan
    else:  # a small test database: the table read whole would cost as little
        conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
        plan = "\n".join(
            str(r[-1]) for r in conn.exec_driver_sql("EXPLAIN " + statement, parameters)
        )
        db.session.rollback()
        assert "ix_process_instance_subject_person_id" in plan, plan
