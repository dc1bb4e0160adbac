"""Blueprints, error pages and template helpers."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from flask import Flask, g, jsonify, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from markupsafe import Markup, escape

from pbflow import clock
from pbflow.engine.definitions import ASIDE_CLOSE, ASIDE_OPEN, LABEL_SEPARATOR
from pbflow.engine.errors import DomainError
from pbflow.extensions import db, login_manager
from pbflow.web.template_gettext import page_locale
from pbflow.web.url_rules import LazyBuilderRule

if TYPE_CHECKING:
    from pbflow.procedures import Procedure

_URL_SAFE = re.compile(r"[A-Za-z0-9_.-]+")


def wants_json() -> bool:
    return request.path.startswith("/api/") or (request.accept_mimetypes.best == "application/json")


def _error_page(status: int, title: str, message: str):
    if request.path.startswith("/api/v1/"):
        from pbflow.api.core import problem_response

        return problem_response(status, message, title)
    if wants_json():
        return jsonify({"error": message, "status": status}), status
    return render_template("errors/error.html", status=status, title=title, message=message), status


# Form fields never shown back on the "Form expired" page: tokens, passwords, the tracking
# code and the opinion box's honeypot.
_NOT_SHOWN_BACK = {"csrf_token", "current", "new", "confirm", "code", "version", "website"}
_A_CHOICE = re.compile(r"[A-Za-z0-9_.:@+-]*")


def _from_this_site() -> bool:
    """The request was sent by one of pbflow's own pages. Browsers say so in
    ``Sec-Fetch-Site`` (``same-origin``), whatever the page's referrer policy: the opinion
    box's pages send no referrer, and their forms post with ``Origin: null``. Without that
    header, the Origin (or the Referer) must be this server's. A form another site makes a
    browser post here fails the token check too; what it sent must not come back on a page
    of pbflow's."""
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None:
        return site == "same-origin"
    own = request.host_url.rstrip("/")
    origin = request.headers.get("Origin")
    if origin and origin != "null":
        return origin == own
    referrer = urlsplit(request.headers.get("Referer") or "")
    return f"{referrer.scheme}://{referrer.netloc}" == own


def _typed_text() -> list[str]:
    """The free text typed in a refused form, to copy: not the values of choices, ids,
    numbers or dates (single words of letters, digits and punctuation) nor secrets; and
    only to the browser that typed it on pbflow's own page (``_from_this_site``)."""
    if request.method != "POST" or not request.form or not _from_this_site():
        return []
    return [
        value.strip()
        for name, value in request.form.items(multi=True)
        if name not in _NOT_SHOWN_BACK
        and "password" not in name
        and value.strip()
        and not _A_CHOICE.fullmatch(value.strip())
    ]


def url_maker(endpoint: str, **args: Any):
    """``url_for(endpoint, **args)`` for many values of the one argument given as
    ``"*"``: the URL is built once with a marker in its place, and each value (a whole
    number, or a name of letters, digits, ``-``, ``_`` and ``.``, which a URL keeps as
    they are) put in place of the marker. A table of a hundred linked rows costs one
    url_for, not a hundred. Anything else is built by url_for."""
    from flask import url_for

    (name,) = (k for k, v in args.items() if v == "*")
    marker = "7919000013"  # digits: kept as they are in a path or a query
    base = url_for(endpoint, **{k: (marker if k == name else v) for k, v in args.items()})
    head, _found, tail = base.partition(marker)
    if base.count(marker) != 1:
        return lambda value: url_for(endpoint, **dict(args, **{name: value}))

    def make(value: Any) -> str:
        text = str(value)
        if isinstance(value, bool) or not _URL_SAFE.fullmatch(text):
            return url_for(endpoint, **dict(args, **{name: value}))
        return f"{head}{text}{tail}"

    return make


def label(value: Any) -> str:
    """A workflow label in the page's language."""
    if hasattr(value, "get") and hasattr(value, "zh"):
        return value.get(page_locale())
    return str(value)


def register_web(app: Flask, procedures: Sequence[Procedure] = ()) -> None:
    """The shared blueprints, then each procedure's pages, links, case-page panels and the
    functions its templates call; error pages and template helpers."""
    from pbflow.models import User
    from pbflow.web import auth, edges, headers, home

    # Before any blueprint: the routes' <int:...> must be built with the bounded converter,
    # and each rule's URL builders compiled when first used (pbflow.web.url_rules).
    app.url_rule_class = LazyBuilderRule
    edges.register_edges(app)
    edges.register_error_pages(app, _error_page)
    headers.register_headers(app)

    login_manager.login_view = "auth.login"
    login_manager.login_message = None
    login_manager.session_protection = "strong"

    @login_manager.user_loader
    def load_user(session_id: str) -> User | None:
        # "<id>:<session token>": a session ended by logout, a password change or reset, or
        # deactivation carries an old token and logs nobody in (remember cookies alike).
        from pbflow.services.accounts import session_user

        return session_user(session_id)

    @app.before_request
    def session_state_per_request() -> None:
        """Each request is logged in, and gets its CSRF token, by its own cookie, checked anew.

        Flask-Login and Flask-WTF cache the user and the token on ``g``, which lives as long as
        the application context; where one context serves several requests (the test client
        inside an app context, a worker reusing a context) one request's login would otherwise
        carry over to the next whatever cookie that one brings, and an ended session would go
        on working.
        """
        g.pop("_login_user", None)
        g.pop(app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token"), None)

    app.register_blueprint(auth.bp)
    app.register_blueprint(home.bp)
    from pbflow.web import api, cases, inbox

    app.register_blueprint(inbox.bp)
    app.register_blueprint(cases.bp)
    app.register_blueprint(api.bp)
    from pbflow.web import account, admin, admin_config, audit_pages

    app.register_blueprint(admin.bp)
    app.register_blueprint(admin_config.bp)
    app.register_blueprint(audit_pages.bp)
    from pbflow.web import security_pages

    app.register_blueprint(security_pages.bp)
    app.register_blueprint(account.bp)
    from pbflow.web import documents

    app.register_blueprint(documents.bp)
    from pbflow.api import register_api

    register_api(app)
    for procedure in procedures:
        if procedure.blueprint is not None:
            app.register_blueprint(procedure.blueprint)
        for name, fn in procedure.template_globals.items():
            app.add_template_global(fn, name)
    app.jinja_env.globals["nav_entries"] = tuple(e for p in procedures for e in p.nav)
    app.jinja_env.globals["case_panels"] = tuple(t for p in procedures for t in p.case_panels)
    app.jinja_env.globals["procedure_panels"] = {
        page: tuple(t for p in procedures for t in p.panels.get(page, ()))
        for page in {page for p in procedures for page in p.panels}
    }

    @app.template_global()
    def link_url(link: tuple[str, dict[str, Any]]) -> str:
        """The URL of an (endpoint, arguments) link, as url_for would build it, with the
        path built once per endpoint and path arguments and the query added: a grid of a
        thousand linked cells costs one url_for per row of organizations, not per cell."""
        from urllib.parse import urlencode

        from flask import url_for

        endpoint, args = link
        cache = g.setdefault("pbflow_link_bases", {})
        names = cache.get(endpoint)
        if names is None:
            names = cache[endpoint] = frozenset(
                a for rule in app.url_map.iter_rules(endpoint) for a in rule.arguments
            )
        path = tuple(sorted((k, v) for k, v in args.items() if k in names))
        base = cache.get((endpoint, path))
        if base is None:
            base = cache[(endpoint, path)] = url_for(endpoint, **dict(path))
        query = {k: v for k, v in args.items() if k not in names and k != "_anchor"}
        query = {k: v for k, v in query.items() if v is not None}
        if query:
            # names and values a URL keeps as they are (numbers, days, plain words) are joined
            # as they are: what urlencode gives for them, without quoting each
            plain = [(k, v if isinstance(v, str) else str(v)) for k, v in query.items()]
            if all(_URL_SAFE.fullmatch(k) and _URL_SAFE.fullmatch(v) for k, v in plain):
                url = base + "?" + "&".join(f"{k}={v}" for k, v in plain)
            else:
                url = base + "?" + urlencode(query)
        else:
            url = base
        return url + (f"#{args['_anchor']}" if args.get("_anchor") else "")

    app.add_template_global(url_maker)

    @app.template_global()
    def id_url(endpoint: str, name: str, value: int) -> str:
        """``url_for(endpoint, **{name: value})`` for an endpoint whose one argument is a
        whole number: ``url_maker``'s builder, kept for the request per endpoint (a list of a
        hundred linked rows built them with the router a hundred times)."""
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            from flask import url_for

            return url_for(endpoint, **{name: value})
        cache = g.setdefault("pbflow_id_urls", {})
        make = cache.get((endpoint, name))
        if make is None:
            make = cache[(endpoint, name)] = url_maker(endpoint, **{name: "*"})
        return make(value)

    @app.template_global()
    def grid_words() -> dict[str, str]:
        from pbflow.services.grids import words

        return words(page_locale())

    @app.template_global()
    def nav_visible(entry: Any) -> bool:
        """A procedure's link shows when its ``visible`` check (a template global called with
        the logged-in user) says so, or always when it has none."""
        if not entry.visible:
            return True
        from flask_login import current_user

        check = app.jinja_env.globals.get(entry.visible)
        return bool(check and current_user.is_authenticated and check(current_user))

    @app.errorhandler(403)
    def forbidden(_e):
        return _error_page(403, _("Not allowed"), _("You may not see or do this."))

    @app.errorhandler(404)
    def not_found(_e):
        return _error_page(404, _("Not found"), _("There is nothing at this address."))

    @app.errorhandler(409)
    def conflict(_e):
        return _error_page(
            409,
            _("Changed meanwhile"),
            _("Someone changed this in the meantime. Please reload the page and try again."),
        )

    @app.errorhandler(CSRFError)
    def csrf_error(_e):
        title = _("Form expired")
        message = _(
            "The form was missing its security token or it expired. Please "
            "go back, reload the page and submit again."
        )
        typed = _typed_text()
        if request.path.startswith("/api/") or wants_json():
            return _error_page(400, title, message)
        from pbflow.web.access import form_page

        back = form_page()
        if not typed:
            page = render_template(
                "errors/error.html", status=400, title=title, message=message, back=back
            )
            return page, 400
        # What was typed in the refused form, shown to copy (the page it came from comes back
        # blank): kept out of caches, since an opinion's text may be among it.
        page = render_template(
            "errors/error.html", status=400, title=title, message=message, typed=typed, back=back
        )
        return page, 400, {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}

    @app.errorhandler(413)
    def too_large(_e):
        return _error_page(413, _("Too large"), _("The upload is larger than allowed."))

    @app.errorhandler(500)
    def server_error(_e):
        db.session.rollback()
        return _error_page(
            500,
            _("Something went wrong"),
            _("The error has been logged. Nothing you did was half-saved."),
        )

    @app.errorhandler(DomainError)
    def domain_error(e: DomainError):
        db.session.rollback()  # a refusal writes nothing, whatever the view had begun
        return _error_page(e.status, _("Not possible"), e.message)

    # Figures as the pages print them: shared by every procedure's pages.
    @app.template_filter("pct")
    def pct(share: float | None, digits: int = 1) -> str:
        """A share as a percentage, or a dash when there is nothing to divide by."""
        return "—" if share is None else f"{100 * share:.{int(digits)}f}%"

    @app.template_filter("one_decimal")
    def one_decimal(value: float | None) -> str:
        """A mean to one decimal, or a dash when there is none."""
        return "—" if value is None else f"{value:.1f}"

    @app.template_filter("local")
    def local_time(value: Any, fmt: str = "%Y-%m-%d %H:%M") -> str:
        if value is None:
            return ""
        return clock.to_local(value).strftime(fmt)

    app.add_template_global(label)

    # Punctuation by the page's language (full-width in Chinese), as definitions.labelled
    # and aside give it to text made in Python: ``{{ _('Download')|colon }}`` and
    # ``{% filter bracketed %}...{% endfilter %}`` (English brackets bring their space).
    # (Markup's + escapes the text as format would, at a third of format's cost: the audit
    # trail's page gives every row's action a colon.)
    @app.template_filter("colon")
    def colon(text: Any) -> Markup:
        return escape(text) + LABEL_SEPARATOR.get(page_locale())

    @app.template_filter("bracketed")
    def bracketed(text: Any) -> Markup:
        locale = page_locale()
        return Markup(ASIDE_OPEN.get(locale)) + escape(text) + ASIDE_CLOSE.get(locale)

    # The page's language, for macros imported without the page's context (which do not see
    # ``current_locale``: admin/_forms.html's org_name).
    app.add_template_global(page_locale, "page_locale")

    @app.template_global()
    def notification_text(note: Any) -> str:
        """A notification in the reader's language (the page's), whatever language it was
        made in: the inbox (and any page listing notifications) calls this."""
        from pbflow.services import notifications

        return notifications.text(note)

    @app.context_processor
    def globals_() -> dict[str, Any]:
        return {"current_locale": page_locale()}
