"""The templates' gettext: Flask-Babel's catalogs, found once per locale.

Flask-Babel's template callables resolve the request's catalog on every call (its namespace
on ``g``, the domain, the locale selector, the catalog cache): about 8 µs a call, and the
inbox of a committee calls them 370 times a page. These read the locale the request has
already settled on (``g._flask_babel.babel_locale``, which ``force_locale`` sets as well, so
a notice written in another language gets that language's catalog) and keep each locale's
catalog; until a locale is settled they ask Flask-Babel, which settles it.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app, g
from flask_babel import get_translations


def catalog() -> Any:
    """The request's catalog, as the templates' ``_()`` finds it (Python code that renders
    many translated strings, a badge per row, uses it too)."""
    ns = g.get("_flask_babel")
    locale = getattr(ns, "babel_locale", None)
    if locale is None:
        return get_translations()
    held = getattr(ns, "pbflow_catalog", None)  # this request's, for this very locale
    if held is not None and held[0] is locale:
        return held[1]
    catalogs = current_app.extensions.setdefault("pbflow_catalogs", {})
    found = catalogs.get(locale)
    if found is None:
        found = catalogs[locale] = get_translations()
    ns.pbflow_catalog = (locale, found)
    return found


def gettext(string: str) -> str:
    """``string`` translated, unformatted (Flask-Babel's gettext without its look-ups)."""
    return catalog().ugettext(string)


def install(app: Flask) -> None:
    app.jinja_env.install_gettext_callables(
        gettext=lambda s: catalog().ugettext(s),
        ngettext=lambda s, p, n: catalog().ungettext(s, p, n),
        newstyle=True,
        pgettext=lambda c, s: catalog().upgettext(c, s),
        npgettext=lambda c, s, p, n: catalog().unpgettext(c, s, p, n),
    )
