"""Helpers of the API tests: tokens, calls with a token, and every answer checked against
the OpenAPI document (its status documented, its body valid for that status's schema)."""

from __future__ import annotations

import re
from typing import Any

import jsonschema_rs

from pbflow.services import api_tokens

_DOC: dict[str, Any] = {}


def document(client) -> dict[str, Any]:
    if not _DOC:
        _DOC.update(client.get("/api/openapi.json").get_json())
    return _DOC


def token(world, username: str, scope: str = "read", **kw) -> str:
    return api_tokens.create_token(
        None, world[username], f"{username}-{scope}", scope=scope, **kw
    ).secret


def _operation(doc: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    for template, item in doc["paths"].items():
        pattern = "^" + re.sub(r"\{[a-z_]+\}", "[^/]+", template) + "$"
        if re.match(pattern, path) and method.lower() in item:
            return item[method.lower()]
    raise AssertionError(f"{method} {path} is not in the document")


def check(client, response, method: str, url: str) -> Any:
    """Assert the answer is one the document describes; return its JSON (or None)."""
    doc = document(client)
    path = url.split("?", 1)[0]
    op = _operation(doc, method, path)
    code = str(response.status_code)
    assert code in op["responses"], f"{method} {path} answered an undocumented {code}"
    assert response.status_code < 500
    content = op["responses"][code].get("content")
    if not content:
        return None
    media, spec = next(iter(content.items()))
    assert response.mimetype == media, (response.mimetype, media)
    body = response.get_json()
    schema = {**spec["schema"], "components": doc["components"]}
    jsonschema_rs.Draft202012Validator(schema).validate(body)
    return body


class Api:
    """Calls with a bearer token, each answer checked against the document."""

    def __init__(self, client, secret: str | None, lang: str = "en"):
        self.client, self.secret, self.lang = client, secret, lang

    def call(self, method: str, url: str, **kw):
        headers = {"Accept-Language": self.lang, **kw.pop("headers", {})}
        if self.secret:
            headers["Authorization"] = f"Bearer {self.secret}"
        response = self.client.open(url, method=method, headers=headers, **kw)
        body = check(self.client, response, method, url)
        return response, body

    def get(self, url: str, **kw):
        return self.call("GET", url, **kw)

    def post(self, url: str, **kw):
        return self.call("POST", url, **kw)

    def delete(self, url: str, **kw):
        return self.call("DELETE", url, **kw)
