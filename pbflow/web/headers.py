"""Security headers on every response (issue 10).

Content-Security-Policy: scripts and styles come only from the app itself (no inline script,
no inline event handler, no other origin: every library is served from /static/vendor/).
Mermaid draws a state diagram as an SVG that carries its own ``<style>`` element; style
elements are therefore allowed with the page's nonce, and ``static/pbflow.js`` (whose
``<script>`` tag carries that nonce) stamps it on the diagram's style element when it inserts
the SVG. Nothing else may be inline: no ``style-src 'unsafe-inline'``.

Cache-Control: ``no-store`` on every page and download the app generates, so a shared
computer's browser keeps no copy of a case, a file, or an opinion's tracking code after
logout; only the static files (scripts, styles) may be cached.
"""

from __future__ import annotations

import secrets

from flask import Flask, Response, g, request

NO_STORE = "no-store"


def csp_nonce() -> str:
    """This response's nonce (template global)."""
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(16)
    return g.csp_nonce


def content_security_policy(nonce: str) -> str:
    return "; ".join(
        (
            "default-src 'self'",
            "script-src 'self'",
            f"style-src 'self' 'nonce-{nonce}'",
            "img-src 'self' data:",
            "font-src 'self'",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        )
    )


def apply(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = content_security_policy(csp_nonce())
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if request.endpoint != "static":
        response.headers["Cache-Control"] = NO_STORE
    return response


def register_headers(app: Flask) -> None:
    app.after_request(apply)
    app.add_template_global(csp_nonce)
