"""The URL builders compiled on first use (pbflow.web.url_rules) build what Werkzeug's own
would, for every route; and they are in fact left uncompiled until then, so that making an
app stays cheap (a Werkzeug that stops calling ``_compile_builder`` fails here)."""

from __future__ import annotations

import threading

from flask import url_for
from werkzeug.routing import AnyConverter, Rule

from pbflow.web.edges import IdConverter
from pbflow.web.url_rules import LazyBuilderRule


def _sample(rule: Rule) -> dict[str, object]:
    """A value each converter of ``rule`` takes: an id, one of an ``any``'s words, a name."""
    values: dict[str, object] = {}
    for name in rule.arguments:
        converter = rule._converters[name]
        if isinstance(converter, IdConverter):
            values[name] = 7
        elif isinstance(converter, AnyConverter):
            values[name] = sorted(converter.items)[0]
        else:
            values[name] = "b-1"
    return values


def test_every_route_is_added_with_lazy_builders(app):
    rules = [r for r in app.url_map.iter_rules() if r.endpoint != "static"]
    assert len(rules) > 100
    for rule in rules:
        assert isinstance(rule, LazyBuilderRule), rule.rule
        assert getattr(rule._build.__func__, "lazy_builder", False), rule.rule
        assert getattr(rule._build_unknown.__func__, "lazy_builder", False), rule.rule


def test_lazy_builders_build_what_werkzeug_builds(app):
    with app.test_request_context():
        for rule in app.url_map.iter_rules():
            values = _sample(rule)
            eager = Rule._compile_builder(rule, False)
            eager_unknown = Rule._compile_builder(rule, True)
            assert rule._build(**values) == eager(rule, **values), rule.rule
            extra = {**values, "page": 3, "q": "a b&c"}
            assert rule._build_unknown(**extra) == eager_unknown(rule, **extra), rule.rule
        # And through url_for, the way pages build them.
        assert url_for("cases.show", case_id=12) == "/cases/12"
        assert url_for("cases.index", status="all", page=2) == "/cases?status=all&page=2"


def test_first_use_from_many_threads_builds_one_url(app):
    with app.test_request_context():
        rule = next(r for r in app.url_map.iter_rules() if r.endpoint == "cases.show")
    found: list[tuple[str, str]] = []
    start = threading.Barrier(8)

    def build() -> None:
        start.wait()
        found.append(rule._build(case_id=5))

    threads = [threading.Thread(target=build) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert found == [("", "/cases/5")] * 8
