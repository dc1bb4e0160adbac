"""The template helpers that build many links cheaply (link_url, url_maker) give exactly what
url_for gives, for the plain values they join as they are and for the others."""

from __future__ import annotations

from datetime import date

from flask import url_for


def test_link_url_and_url_maker_are_url_for(app):
    link_url = app.jinja_env.globals["link_url"]
    url_maker = app.jinja_env.globals["url_maker"]
    links = [
        ("cases.index", {"org": 3, "overdue": 1}),
        ("cases.index", {"workflow": "supervision_notice", "org": 7, "status": "all"}),
        ("meetings.index", {"org": 5, "type": "theme_day", "from": date(2026, 1, 1)}),
        ("meetings.index", {"org": 5, "to": "2026-03-31", "from": "2026-01-01"}),
        ("cases.index", {"q": "a b&c=dé", "org": 2}),  # quoted (urlencode quotes "/" too)
        ("cases.index", {"org": None, "overdue": True}),
        ("cases.show", {"case_id": 12}),
        ("meetings.calendar", {"org_id": 4, "year": 2026, "_anchor": "miss-4"}),
        ("supervision.dashboard", {"org": 1, "period": "year", "on": "2026-06-01"}),
    ]
    with app.test_request_context("/"):
        for endpoint, args in links:
            expected = url_for(endpoint, **{k: v for k, v in args.items() if v is not None})
            assert link_url((endpoint, args)) == expected, (endpoint, args)
        makers = [
            (url_maker("cases.show", case_id="*"), "cases.show", {"case_id": "*"}),
            (
                url_maker("cases.index", org="*", overdue=1),
                "cases.index",
                {"org": "*", "overdue": 1},
            ),
            (
                url_maker("supervision.dashboard", org="*", period="month", on="2026-02-01"),
                "supervision.dashboard",
                {"org": "*", "period": "month", "on": "2026-02-01"},
            ),
            (
                url_maker("cases.index", workflow="*", org=1, overdue=1),
                "cases.index",
                {"workflow": "*", "org": 1, "overdue": 1},
            ),
        ]
        for make, endpoint, args in makers:
            (name,) = (k for k, v in args.items() if v == "*")
            for value in (1, 42, 7919000013, "member_development", "a b/c", "x&y", True):
                if endpoint == "cases.show" and not isinstance(value, int):
                    continue
                expected = url_for(endpoint, **dict(args, **{name: value}))
                assert make(value) == expected, (endpoint, value)
