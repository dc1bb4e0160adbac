"""The templates' cheaper helpers give what the straightforward calls give: ``id_url`` what
``url_for`` builds, ``_``/``gettext`` what Jinja's new-style gettext over Flask-Babel's
catalog gives (escaped, formatted, per language, after a switch of language within the
request), ``label`` a workflow label in the page's language."""

from __future__ import annotations

import pytest
from flask import render_template_string, url_for
from flask_babel import force_locale
from flask_babel import gettext as babel_gettext
from markupsafe import Markup, escape

from pbflow.engine.definitions import Label


@pytest.mark.parametrize("script_root", ["", "/pbflow"])
def test_id_url_is_url_for(app, script_root):
    with app.test_request_context("/", base_url=f"http://example.org{script_root}"):
        for endpoint, name in (
            ("cases.show", "case_id"),
            ("development.person_progress", "person_id"),
            ("development.org_pipeline", "org_id"),
        ):
            for value in (0, 1, 7, 42, 987654321, 123456789012):
                found = render_template_string("{{ id_url(e, n, v) }}", e=endpoint, n=name, v=value)
                assert found == str(escape(url_for(endpoint, **{name: value})))
                assert found.startswith(script_root + "/")


MESSAGES = [
    ("Overdue", {}),
    ("due %(date)s", {"date": "2026-01-01"}),
    ("due %(date)s", {"date": "<b>&"}),  # a value is escaped, the message is not
    ("%(n)s open cases, %(late)s overdue.", {"n": 3, "late": 1}),
    ("Opinion book", {}),
]


def _expected(message, variables):
    """Jinja's new-style gettext: the translation as Markup, always formatted."""
    return str(Markup(babel_gettext(message)) % variables)


@pytest.mark.parametrize("locale", ["zh", "en"])
def test_template_gettext_gives_the_catalogs_translation(app, locale):
    with app.test_request_context(f"/?lang={locale}"), force_locale(locale):
        for message, variables in MESSAGES * 2:  # the second time from the request's table
            for call in ("_", "gettext"):
                found = render_template_string("{{ " + call + "(m, **v) }}", m=message, v=variables)
                assert found == _expected(message, variables), (locale, call, message)
        # Not escaped where the template is not (a text e-mail, say).
        found = render_template_string(
            "{% autoescape false %}{{ _('due %(date)s', date='<b>') }}{% endautoescape %}"
        )
        assert found == babel_gettext("due %(date)s") % {"date": "<b>"}
        assert render_template_string("{{ label(x) }}", x=Label("中", "en")) == (
            "中" if locale == "zh" else "en"
        )


def test_a_switch_of_language_within_a_request_is_followed(app):
    with app.test_request_context("/?lang=zh"):
        with force_locale("zh"):
            zh = render_template_string("{{ _('Opinion book') }}")
        with force_locale("en"):
            en = render_template_string("{{ _('Opinion book') }}")
            assert render_template_string("{{ label(x) }}", x=Label("中", "en")) == "en"
        with force_locale("zh"):
            assert render_template_string("{{ _('Opinion book') }}") == zh
    assert en == "Opinion book" and zh != en


def test_figures_print_as_percentages_and_means_on_every_procedures_pages(app):
    """One pair of filters for every page: a share to one decimal (the dashboards) or whole
    (the opinion book), a mean to one decimal, a dash where nothing was divided."""
    pct, one_decimal = app.jinja_env.filters["pct"], app.jinja_env.filters["one_decimal"]
    assert pct(0.4567) == "45.7%" and pct(0.4567, 0) == "46%" and pct(1) == "100.0%"
    assert pct(None) == "—" and pct(None, 0) == "—"
    assert one_decimal(4.25) == "4.2" and one_decimal(3) == "3.0" and one_decimal(None) == "—"
