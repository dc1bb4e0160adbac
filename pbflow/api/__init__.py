"""The versioned JSON API for other systems (issue 18), under ``/api/v1/``.

Every operation calls the same service function as its page; ``core`` holds the machinery
(tokens or session, scopes, rate limit, problem details, cursors) and the OpenAPI document,
served at ``/api/openapi.json`` with a reference page at ``/api/docs``.
"""

from __future__ import annotations

from flask import Flask


def register_api(app: Flask) -> None:
    from pbflow import audit
    from pbflow.api import cases as _cases  # noqa: F401 - registers the operations
    from pbflow.api import core, pages
    from pbflow.api import directory as _directory  # noqa: F401
    from pbflow.api import inbox as _inbox  # noqa: F401
    from pbflow.api import records as _records  # noqa: F401
    from pbflow.extensions import csrf

    csrf.exempt(core.bp)  # tokens need no CSRF; the session path checks it in core
    app.register_blueprint(core.bp)
    app.register_blueprint(pages.bp)
    core.spec.app = app
    audit.attribute_with(core.via_token)
