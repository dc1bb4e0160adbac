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
from flask_babel import get_locale, get_translations
from jinja2 import pass_context
from markupsafe import Markup


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

    def translated(message: str, autoescape: bool) -> Any:
        """A message as the catalog translates it (as Markup on an escaped page), kept for the
        rest of the request with the catalog it came from: a page asks for the same few
        dozen messages hundreds of times."""
        ns = g.get("_flask_babel")
        held = getattr(ns, "pbflow_messages", None)
        if held is None or held[0] is not getattr(ns, "babel_locale", None):
            text = catalog().ugettext(message)
            if ns is None or getattr(ns, "babel_locale", None) is None:
                return Markup(text) if autoescape else text
            held = ns.pbflow_messages = (ns.babel_locale, {})
        found = held[1].get((message, autoescape))
        if found is None:
            text = catalog().ugettext(message)
            found = held[1][(message, autoescape)] = Markup(text) if autoescape else text
        return found

    @pass_context
    def template_gettext(__context: Any, __string: str, **variables: Any) -> Any:
        """Jinja's new-style ``gettext`` (``_`` too, without Jinja's alias that looks it up
        again at every call): the translation, escaped or not as the page is, always taken
        as a format string (one without a "%" is itself)."""
        found = translated(__string, __context.eval_ctx.autoescape)
        return found % variables if variables or "%" in found else found

    app.jinja_env.globals["gettext"] = template_gettext
    app.jinja_env.globals["_"] = template_gettext


def page_locale() -> str:
    """The request's locale as text ("zh", "en"), read from what Flask-Babel has settled on
    (as the catalogs above) and its text kept with it: ``label`` asks for it hundreds of times
    a page, and ``get_locale`` plus ``str`` of a Locale cost about 5 µs a call."""
    ns = g.get("_flask_babel")
    locale = getattr(ns, "babel_locale", None)
    if locale is None:
        return str(get_locale() or "zh")
    held = getattr(ns, "pbflow_locale_text", None)
    if held is not None and held[0] is locale:
        return held[1]
    text = str(locale)
    ns.pbflow_locale_text = (locale, text)
    return text
