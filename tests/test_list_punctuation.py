"""Lists of people and choices in the reader's language: 、 between Chinese items, a comma
between English ones, on case pages, in documents and in exports; the API gives the stored
values beside its text, so that programs never parse a sentence."""

from __future__ import annotations

import re

from pbflow.engine.definitions import Choice, FieldSpec, Label, joined
from pbflow.procedures.assessment import rounds
from pbflow.procedures.assessment import scheme as schemes
from pbflow.services import cases
from tests.api.helpers import Api, token
from tests.assessment.helpers import fire
from tests.life_meeting.test_life_meeting import PEOPLE, pid, start_meeting


def test_a_list_follows_the_locale_it_is_given():
    assert joined(["王强", "李梅"], "zh") == "王强、李梅"
    assert joined(["Wang Qiang", "Li Mei"], "en") == "Wang Qiang, Li Mei"
    assert joined([], "zh") == ""


def test_people_choices_and_records_are_joined_in_the_language_asked_for(app):
    refs = cases.Refs(persons={1: "王强", 2: "李梅"}, users={7: "张书记", 8: "赵委员"})
    persons = FieldSpec("who", "persons", Label("人员", "People"))
    colours = FieldSpec(
        "topics",
        "multichoice",
        Label("议题", "Topics"),
        choices=(Choice("study", Label("学习", "Study")), Choice("work", Label("工作", "Work"))),
    )
    users = FieldSpec("handlers", "user", Label("经办人", "Handlers"))
    with app.test_request_context():
        assert cases.display_value(persons, [1, 2], refs, "zh").text == "王强、李梅"
        assert cases.display_value(persons, [1, 2], refs, "en").text == "王强, 李梅"
        assert cases.display_value(colours, ["study", "work"], refs, "zh").text == "学习、工作"
        assert cases.display_value(colours, ["study", "work"], refs, "en").text == "Study, Work"
        assert cases.display_value(users, [7, 8], refs, "zh").text == "张书记、赵委员"
        assert cases.display_value(users, [7, 8], refs, "en").text == "张书记, 赵委员"


def test_a_records_entry_says_who_and_when_in_the_languages_brackets(app):
    """A record's "(recorded by, on)" was written with English brackets and comma in
    Chinese, and its labels with an ASCII colon; its entries are joined with ； there."""
    refs = cases.Refs(persons={1: "王强", 2: "李梅"}, users={7: "张书记"})
    note = FieldSpec("note", "string", Label("内容", "Note"))
    records = FieldSpec("talks", "records", Label("谈话记录", "Talks"))
    refs.specs = {"note": note, "talks": records}
    value = [
        {"note": "谈心", "by": 7, "on": "2026-03-02"},
        {"note": "交流", "by": 7, "on": "2026-03-03"},
    ]
    with app.test_request_context():
        zh = cases.display_value(records, value, refs, "zh")
        en = cases.display_value(records, value, refs, "en")
    assert zh.items[0] == "内容：谈心（张书记，2026-03-02）"
    assert zh.text == "内容：谈心（张书记，2026-03-02）；内容：交流（张书记，2026-03-03）"
    assert en.items[0] == "Note: 谈心 (张书记, 2026-03-02)"
    assert en.text == "Note: 谈心 (张书记, 2026-03-02); Note: 交流 (张书记, 2026-03-03)"


def test_the_case_page_lists_participants_the_chinese_way(client, auth, world):
    case = start_meeting(world)
    names = [world[u].person.name for u in PEOPLE]
    auth.login("secretary")
    zh = client.get(f"/cases/{case.id}?lang=zh").get_data(as_text=True)
    assert f"<dt>参会人员</dt>\n      <dd>{'、'.join(names)}</dd>" in zh
    en = client.get(f"/cases/{case.id}?lang=en").get_data(as_text=True)
    assert f"<dt>Participants</dt>\n      <dd>{', '.join(names)}</dd>" in en


def test_the_api_gives_the_stored_values_beside_the_text(client, world):
    case = start_meeting(world)
    ids = [pid(world[u]) for u in PEOPLE]
    names = [world[u].person.name for u in PEOPLE]
    secret = token(world, "secretary")
    for lang, sep in (("zh", "、"), ("en", ", ")):
        _r, body = Api(client, secret, lang).get(f"/api/v1/cases/{case.id}")
        field = next(f for f in body["fields"] if f["name"] == "participants")
        assert field["value"] == ids == body["data"]["participants"]  # the same in any language
        assert field["text"] == sep.join(names)


def test_the_meeting_minutes_document_lists_people_in_its_language(app):
    """The history of corrections (the minutes document's and the page's, one reading:
    pbflow/procedures/three_meetings/corrections.py) names people in the reader's list
    punctuation."""
    from types import SimpleNamespace

    from pbflow.procedures.three_meetings import corrections
    from pbflow.procedures.three_meetings.services import type_label

    names = {1: "王强", 2: "李梅"}

    def read(field: str, value, locale: str) -> str:
        edit = SimpleNamespace(
            before={}, after={field: value}, edited_at=None, editor=None, reason=""
        )
        return corrections.of([edit], names, {}, type_label, locale)[0].changes[0].after

    with app.test_request_context():
        assert read("present", [1, 2], "zh") == "王强、李梅"
        assert read("present", [1, 2], "en") == "王强, 李梅"
        absent = {"1": "出差", "2": ""}
        assert read("absent", absent, "zh") == "王强（出差）、李梅"
        assert read("absent", absent, "en") == "王强 (出差), 李梅"


def test_the_ranking_export_names_vetoes_in_its_language(client, auth, world, clock):
    """The export's veto column gave the scheme's keys (serious_violation), joined with an
    English comma, in either language."""
    clock.set("2026-04-02T02:00:00")
    a = world["committee_a"]
    schemes.save(a, 2026, schemes.DEFAULT)
    rid = rounds.open_round(a, world.committee.id, 2026, 1).id
    fire(rid, "start_scoring", a)
    rounds.set_veto(a, rid, world.branch.id, "serious_violation", True, "严重违纪")
    auth.login("committee_a")
    zh = client.get(f"/assessment/rounds/{rid}?format=csv&lang=zh").get_data(as_text=True)
    assert "发生严重违纪违法问题" in zh and "serious_violation" not in zh
    en = client.get(f"/assessment/rounds/{rid}?format=csv&lang=en").get_data(as_text=True)
    assert "A serious violation of discipline or law" in en and "serious_violation" not in en
    assert re.search(r"^\ufeffRank,Branch,.*,Veto,", en, re.M)


def test_the_templates_colon_and_brackets_follow_the_page(app):
    """``colon`` and ``bracketed`` give a page its language's punctuation, escape what they
    are given and keep markup made by the template (a link in brackets)."""
    from flask import render_template_string
    from markupsafe import Markup

    page = (
        "{{ _('Download')|colon }}CSV · {{ '<b>'|bracketed }} · "
        "{% filter bracketed %}<a href=\"/x\">{{ _('appeal') }}</a>{% endfilter %}"
    )
    # Each request has its own application context (and g), as served.
    with app.app_context(), app.test_request_context("/?lang=zh"):
        assert (
            render_template_string(page) == '下载：CSV · （&lt;b&gt;） · （<a href="/x">申诉</a>）'
        )
    with app.app_context(), app.test_request_context("/?lang=en"):
        expected = 'Download: CSV ·  (&lt;b&gt;) ·  (<a href="/x">appeal</a>)'
        assert render_template_string(page) == expected
        assert isinstance(app.jinja_env.filters["bracketed"](Markup("<i>x</i>")), Markup)
        # What is not text is written as text: a number, a count.
        assert render_template_string("{{ 12|bracketed }}{{ 3|colon }}") == " (12)3: "


def test_the_case_lists_state_chips_and_the_grids_cells_read_in_chinese(client, auth, world):
    """Two places that wrote an ASCII colon or bracket between Chinese words: a state's
    filter and chip ("发展党员：已递交申请"), a compliance cell's description."""
    from pbflow.services import grids

    auth.login("secretary")
    page = client.get("/cases?status=all&lang=zh").get_data(as_text=True)
    assert re.search(r"[\u4e00-\u9fff]: ", page) is None
    words = grids.words("zh")
    assert (words["colon"], words["aside_open"], words["aside_close"]) == ("：", "（", "）")
    assert grids.words("en")["colon"] == ": "
