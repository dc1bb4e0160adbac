"""Languages: complete Chinese catalog, per-user choice, ?lang= switch, local dates, error pages."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import pytest
from babel.messages.frontend import CommandLineInterface
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from pbflow.extensions import db
from tests.conftest import PASSWORD, csrf_token

ROOT = Path(__file__).resolve().parent.parent
CATALOGS = ROOT / "pbflow" / "translations"
ZH_PO = CATALOGS / "zh" / "LC_MESSAGES" / "messages.po"
ZH_MO = CATALOGS / "zh" / "LC_MESSAGES" / "messages.mo"
PLACEHOLDER = re.compile(r"%\((\w+)\)s")
HAN = re.compile(r"[\u4e00-\u9fff]")


def _catalog(path: Path):
    with open(path, "rb") as fh:
        return read_po(fh, locale="zh")


def _untranslated(template, translations) -> list[str]:
    """msgids of ``template`` that ``translations`` lacks, leaves empty, or marks fuzzy."""
    missing = []
    for msg in template:
        if not msg.id:
            continue
        done = translations.get(msg.id)
        if done is None:
            strings: list[str] = []
        else:
            strings = [done.string] if isinstance(done.string, str) else list(done.string)
        if done is None or "fuzzy" in done.flags or not strings or not all(strings):
            missing.append(msg.id if isinstance(msg.id, str) else msg.id[0])
    return missing


def test_every_msgid_of_the_template_has_a_chinese_translation():
    template = _catalog(CATALOGS / "messages.pot")
    missing = _untranslated(template, _catalog(ZH_PO))
    assert not missing, "untranslated in zh (run `make messages`, then translate): " + "; ".join(
        missing
    )


def test_fresh_extraction_from_the_source_finds_nothing_untranslated(tmp_path):
    """Strings added to the code later cannot slip by without a Chinese translation."""
    pot = tmp_path / "fresh.pot"
    CommandLineInterface().run(
        [
            "pybabel",
            "-q",
            "extract",
            "-F",
            str(ROOT / "babel.cfg"),
            "-k",
            "_l",
            "-k",
            "lazy_gettext",
            "-o",
            str(pot),
            str(ROOT),
        ]
    )
    fresh = _catalog(pot)
    assert len([m for m in fresh if m.id]) > 100  # the extraction really read the sources
    assert not any(".venv" in loc[0] for m in fresh for loc in m.locations)
    missing = _untranslated(fresh, _catalog(ZH_PO))
    assert not missing, "new UI text without a zh translation (run `make messages`): " + "; ".join(
        missing
    )


def test_translations_keep_the_placeholders_and_are_chinese():
    problems = []
    for msg in _catalog(ZH_PO):
        if not msg.id:
            continue
        ids = [msg.id] if isinstance(msg.id, str) else list(msg.id)
        strings = [msg.string] if isinstance(msg.string, str) else list(msg.string)
        wanted = set(PLACEHOLDER.findall(ids[-1]))
        for text in strings:
            if text and set(PLACEHOLDER.findall(text)) != wanted:
                problems.append(f"{ids[0]!r}: placeholders {sorted(wanted)} -> {text!r}")
            if text and not HAN.search(text) and HAN.search(ids[0]) is None and len(ids[0]) > 12:
                problems.append(f"{ids[0]!r} is not translated into Chinese: {text!r}")
    assert not problems, "\n".join(problems)


def test_the_catalogs_pass_babels_own_checks():
    """What `pybabel compile` reports as an error (and `make translations` stops on): a
    plural whose Chinese form names a placeholder its English singular lacks, for one."""
    problems = []
    for po in (ZH_PO, CATALOGS / "en" / "LC_MESSAGES" / "messages.po"):
        with open(po, "rb") as fh:
            catalog = read_po(fh)
        for msg, errors in catalog.check():
            problems += [f"{po.parent.parent.name}: {msg.id!r}: {e}" for e in errors]
    assert not problems, "\n".join(problems)


def test_compiled_catalog_matches_the_po_file():
    """The committed .mo is what runs; it must say what the .po says (`make translations`)."""
    with open(ZH_MO, "rb") as fh:
        compiled = read_mo(fh)

    def text(value) -> tuple[str, ...]:
        return (value,) if isinstance(value, str) else tuple(value)

    stale = [
        msg.id
        for msg in _catalog(ZH_PO)
        if msg.id
        and all(text(msg.string))  # untranslated entries are the other tests' business
        and (compiled.get(msg.id) is None or text(compiled.get(msg.id).string) != text(msg.string))
    ]
    assert not stale, f"{len(stale)} messages differ between messages.po and messages.mo"


# --- pages in both languages ----------------------------------------------------------------


def test_page_in_chinese_and_in_english(world, client):
    zh = client.get("/login?lang=zh").get_data(as_text=True)
    assert "登录" in zh and "Log in" not in zh and 'lang="zh-CN"' in zh
    en = client.get("/login?lang=en").get_data(as_text=True)
    assert "Log in" in en and "登录" not in en and 'lang="en"' in en


def test_admin_page_in_both_languages(world, auth, client):
    auth.login("admin")
    zh = client.get("/admin/users?lang=zh").get_data(as_text=True)
    assert "用户和角色" in zh and "系统管理" in zh and "Users and roles" not in zh
    en = client.get("/admin/users?lang=en").get_data(as_text=True)
    assert "Users and roles" in en and "用户和角色" not in en


def test_lang_switch_sticks_for_later_pages(world, client):
    client.get("/login?lang=en")
    assert "Log in" in client.get("/login").get_data(as_text=True)
    client.get("/login?lang=zh")
    assert "登录" in client.get("/login").get_data(as_text=True)


def test_default_language_follows_the_browser(world, client):
    html = client.get("/login", headers={"Accept-Language": "en-US,en;q=0.9"}).get_data(
        as_text=True
    )
    assert "Log in" in html
    html = client.get("/login", headers={"Accept-Language": "zh-CN,zh;q=0.9"}).get_data(
        as_text=True
    )
    assert "登录" in html


def test_user_chooses_language_on_account_page(world, auth, client):
    member = world["member"]
    auth.login("member")
    page = client.get("/account/", headers={"Accept-Language": "zh-CN"})
    assert page.status_code == 200
    token = csrf_token(page.get_data(as_text=True))
    resp = client.post("/account/language", data={"csrf_token": token, "locale": "en"})
    assert resp.status_code == 302
    db.session.refresh(member)
    assert member.locale == "en"
    # The saved choice is used on the next visit, even from a Chinese browser without cookie.
    client.delete_cookie("pbflow_lang")
    html = client.get("/account/", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert "My account" in html
    from tests.conftest import audit_actions, security_actions

    # A user's own setting: the security log, not the process chain.
    assert "user_locale_changed" in security_actions(member.id)
    assert "user_locale_changed" not in audit_actions()


def test_language_choice_refuses_unknown_locale(world, auth, client):
    auth.login("member")
    token = csrf_token(client.get("/account/").get_data(as_text=True))
    resp = client.post("/account/language?lang=en", data={"csrf_token": token, "locale": "fr"})
    assert resp.status_code == 422
    assert "is not one of the choices" in resp.get_data(as_text=True)
    assert world["member"].locale is None


def test_change_own_password(world, auth, client):
    auth.login("member")
    token = csrf_token(client.get("/account/").get_data(as_text=True))
    resp = client.post(
        "/account/password?lang=en",
        data={"csrf_token": token, "current": "wrong", "new": "new-pass-123", "confirm": "x"},
    )
    assert resp.status_code == 422
    html = resp.get_data(as_text=True)
    assert "is not your current password" in html and "new-pass-123" not in html
    resp = client.post(
        "/account/password",
        data={
            "csrf_token": token,
            "current": PASSWORD,
            "new": "new-pass-123",
            "confirm": "new-pass-123",
        },
    )
    assert resp.status_code == 302
    auth.logout()
    assert auth.login("member", PASSWORD).status_code == 401
    assert auth.login("member", "new-pass-123").status_code == 302


def test_dates_are_shown_in_local_time(world, auth, client):
    member = world["member"]
    member.last_login_at = datetime(2026, 3, 1, 20, 30)  # UTC: 04:30 next day in Beijing
    db.session.commit()
    auth.login("admin")
    html = client.get(f"/admin/users/{member.id}?lang=en").get_data(as_text=True)
    assert "2026-03-02 04:30" in html and "2026-03-01 20:30" not in html


@pytest.mark.parametrize(
    ("lang", "forbidden", "missing"),
    [("zh", "无权操作", "未找到"), ("en", "Not allowed", "Not found")],
)
def test_error_pages_in_both_languages(world, auth, client, lang, forbidden, missing):
    auth.login("member")
    resp = client.get(f"/admin/orgs?lang={lang}")
    assert resp.status_code == 403 and forbidden in resp.get_data(as_text=True)
    resp = client.get(f"/no-such-page?lang={lang}")
    assert resp.status_code == 404 and missing in resp.get_data(as_text=True)


def test_conflict_page_in_chinese(app, client):
    from flask import abort

    @app.route("/_test_conflict")
    def conflict():
        abort(409)

    resp = client.get("/_test_conflict?lang=zh")
    assert resp.status_code == 409
    assert "内容已被他人修改" in resp.get_data(as_text=True)


def test_templates_translate_in_the_language_of_the_moment(app):
    """The templates' gettext keeps each language's catalog (pbflow.web.template_gettext):
    it follows the request's language, and force_locale (a notice written in the
    committee's language) within a request, and back."""
    from flask import render_template_string
    from flask_babel import force_locale

    page = "{{ _('Overdue') }}|{{ ngettext('%(num)s case in all.', '%(num)s cases in all.', 3) }}"
    # Each request has its own application context (and g), as served.
    with app.app_context(), app.test_request_context("/?lang=en"):
        assert render_template_string(page) == "Overdue|3 cases in all."
        with force_locale("zh"):
            assert render_template_string(page) == "逾期|共 3 件。"
        assert render_template_string(page) == "Overdue|3 cases in all."
    with app.app_context(), app.test_request_context("/?lang=zh"):
        assert render_template_string(page) == "逾期|共 3 件。"
        with force_locale("en"):
            assert render_template_string(page) == "Overdue|3 cases in all."
