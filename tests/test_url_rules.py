"""The URL builders compiled on first use (pbflow.web.url_rules) build what Werkzeug's own
would, for every route; and they are in fact left uncompiled until then, so that making an
app stays cheap (a Werkzeug that stops calling ``_compile_builder`` fails here)."""

from __future__ import annotations

import threading
import time

from flask import url_for
from werkzeug.routing import AnyConverter, Map, Rule

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


LAZY = "LazyBuilderRule._compile_builder.<locals>.build"


def test_every_route_is_added_with_lazy_builders(app):
    rules = [r for r in app.url_map.iter_rules() if r.endpoint != "static"]
    assert len(rules) > 100
    for rule in rules:
        assert isinstance(rule, LazyBuilderRule), rule.rule
        assert rule._build.__func__.__qualname__ == LAZY, rule.rule
        assert rule._build_unknown.__func__.__qualname__ == LAZY, rule.rule


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


def test_a_rule_is_compiled_once_on_first_use_from_many_threads(monkeypatch):
    """Nothing is compiled when the rule is added; eight threads building it first at once
    compile its builder once (a slow compile, so that they all arrive during it), and all get
    the same URL."""
    compiled: list[bool] = []
    eager = Rule._compile_builder

    def slow_compile(rule: Rule, append_unknown: bool = True):
        compiled.append(append_unknown)
        time.sleep(0.05)
        return eager(rule, append_unknown)

    monkeypatch.setattr(Rule, "_compile_builder", slow_compile)
    routes = Map([LazyBuilderRule("/cases/<int:case_id>", endpoint="show")])
    rule = next(routes.iter_rules())
    assert compiled == []
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
    assert compiled == [False]  # the builder without extra arguments, once
