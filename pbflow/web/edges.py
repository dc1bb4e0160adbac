"""What every request passes on its way in: bounded ids in URLs, no NUL bytes, sane JSON, and a
readable answer for every refusal the web layer itself gives (issue 10).

- ``<int:...>`` in every route is :class:`IdConverter`: an id a row could have, else 404;
- :func:`refuse_nul` refuses a NUL character anywhere in the path, the query string, the form
  (names, values, file names) or a JSON body, before any view runs (PostgreSQL cannot store
  them, and no honest form sends them), and a query parameter longer than
  ``MAX_QUERY_VALUE`` (search terms end up in LIKE patterns, which have limits of their own);
- :class:`BoundedJSONProvider` refuses JSON nested deeper than ``MAX_JSON_DEPTH`` with a 400
  instead of a RecursionError;
- :func:`register_error_pages` answers each 4xx with a translated page (JSON under /api/).

Which values are valid (ids, numbers, dates, text lengths) is decided in ``pbflow.validation``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

from flask import Flask, request
from flask.json.provider import DefaultJSONProvider
from flask_babel import gettext as _
from werkzeug.exceptions import BadRequest, HTTPException, NotFound
from werkzeug.routing import IntegerConverter

from pbflow import validation

MAX_JSON_DEPTH = 32
MAX_QUERY_VALUE = 1000


class BadInput(BadRequest):
    """A 400 whose message a person can read (already translated)."""

    def __init__(self, message: str):
        super().__init__(description=message)
        self.message = message


class IdConverter(IntegerConverter):
    """The app's ``int`` converter: ASCII digits for an id from 1 to ``validation.MAX_ID``.

    A longer or larger number is a 404 like any other missing case, rather than an overflow
    in the database driver. (Out of range it is NotFound outright: a mere ValidationError
    would let Werkzeug answer 405 when the same path exists for another method.)
    """

    regex = r"[0-9]{1,10}"

    def __init__(self, map: Any, fixed_digits: int = 0, min: int | None = None, **kw: Any):
        kw.setdefault("max", validation.MAX_ID)
        kw.pop("signed", None)
        super().__init__(map, fixed_digits=fixed_digits, min=1 if min is None else min, **kw)

    def to_python(self, value: str) -> int:
        number = int(value)
        if not self.min <= number <= self.max:
            raise NotFound()
        return number


def _depth_exceeded(value: Any, limit: int) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return False


class BoundedJSONProvider(DefaultJSONProvider):
    """Flask's JSON, refusing bodies nested deeper than ``MAX_JSON_DEPTH`` (the parser would
    otherwise hit Python's recursion limit, and every later walk of the value too)."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        try:
            value = json.loads(s, **kwargs)
        except RecursionError:
            raise BadInput(_("The JSON is nested too deeply.")) from None
        if _depth_exceeded(value, MAX_JSON_DEPTH):
            raise BadInput(_("The JSON is nested too deeply."))
        return value


def _json_strings(value: Any) -> Iterator[str]:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _request_strings() -> Iterator[str]:
    yield request.path
    for source in (request.args, request.form):
        for key, values in source.lists():
            yield key
            yield from values
    for key, storage in request.files.items(multi=True):
        yield key
        yield storage.filename or ""
    if request.is_json:
        yield from _json_strings(request.get_json(silent=True))


def refuse_nul() -> None:
    """before_request: a NUL character anywhere in what the client sent, or an over-long
    query parameter, is a 400."""
    if any(validation.NUL in text for text in _request_strings()):
        raise BadInput(_("The request contains a character that is not allowed (NUL)."))
    if any(len(v) > MAX_QUERY_VALUE for _k, values in request.args.lists() for v in values):
        raise BadInput(
            _("A search or filter value is longer than %(n)s characters.", n=MAX_QUERY_VALUE)
        )


def register_edges(app: Flask) -> None:
    """Install the converter and JSON provider; call before any blueprint is registered."""
    app.url_map.converters["int"] = IdConverter
    app.json = BoundedJSONProvider(app)
    app.before_request(refuse_nul)


# --- answers ------------------------------------------------------------------------------

_TITLES: dict[int, Callable[[], tuple[str, str]]] = {
    400: lambda: (_("Bad request"), _("The request could not be understood.")),
    405: lambda: (_("Not possible"), _("This address does not take that kind of request.")),
    414: lambda: (_("Too long"), _("The address is too long.")),
    415: lambda: (_("Bad request"), _("The request was sent in a form this page does not take.")),
    422: lambda: (_("Not possible"), _("The request could not be processed.")),
}


def register_error_pages(app: Flask, render: Callable[[int, str, str], Any]) -> None:
    """Translated answers for the 4xx errors Flask and Werkzeug raise themselves."""

    @app.errorhandler(BadInput)
    def bad_input(e: BadInput):
        return render(400, _("Bad request"), e.message)

    @app.errorhandler(HTTPException)
    def http_error(e: HTTPException):
        code = e.code or 500
        if code >= 500:
            return e
        title, message = _TITLES.get(code, _TITLES[400])()
        return render(code, title, message)
