"""Blueprints, error pages and template helpers."""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify, render_template, request
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError

from pbflow import clock, validation
from pbflow.engine.errors import DomainError
from pbflow.extensions import db, login_manager


def wants_json() -> bool:
    return request.path.startswith("/api/") or (request.accept_mimetypes.best == "application/json")


def _error_page(status: int, title: str, message: str):
    if wants_json():
        return jsonify({"error": message, "status": status}), status
    return render_template("errors/error.html", status=status, title=title, message=message), status


def register_web(app: Flask) -> None:
    from pbflow.models import User
    from pbflow.web import auth, edges, headers, home

    # Before any blueprint: the routes' <int:...> must be built with the bounded converter.
    edges.register_edges(app)
    edges.register_error_pages(app, _error_page)
    headers.register_headers(app)

    login_manager.login_view = "auth.login"
    login_manager.login_message = None
    login_manager.session_protection = "strong"

    @login_manager.user_loader
    def load_user(user_id: str) -> User | None:
        uid = validation.parse_id(user_id)
        user = db.session.get(User, uid) if uid is not None else None
        return user if user and user.active else None

    app.register_blueprint(auth.bp)
    app.register_blueprint(home.bp)
    from pbflow.web import api, cases, inbox

    app.register_blueprint(inbox.bp)
    app.register_blueprint(cases.bp)
    app.register_blueprint(api.bp)
    from pbflow.web import account, admin, audit_pages

    app.register_blueprint(admin.bp)
    app.register_blueprint(audit_pages.bp)
    app.register_blueprint(account.bp)
    from pbflow.web import meetings

    app.register_blueprint(meetings.bp)
    from pbflow.web import opinions

    app.register_blueprint(opinions.bp)
    from pbflow.web import development

    app.register_blueprint(development.bp)

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
        return _error_page(
            400,
            _("Form expired"),
            _(
                "The form was missing its security token or it expired. Please "
                "go back, reload the page and submit again."
            ),
        )

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

    @app.template_filter("local")
    def local_time(value: Any, fmt: str = "%Y-%m-%d %H:%M") -> str:
        if value is None:
            return ""
        return clock.to_local(value).strftime(fmt)

    @app.template_global()
    def label(value: Any) -> str:
        """A workflow label in the page's language."""
        loc = str(get_locale() or "zh")
        return value.get(loc) if hasattr(value, "get") and hasattr(value, "zh") else str(value)

    @app.context_processor
    def globals_() -> dict[str, Any]:
        return {"current_locale": str(get_locale() or "zh")}
