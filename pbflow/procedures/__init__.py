"""The procedures pbflow runs, one package each, and the one interface they plug in through.

A procedure's package (``pbflow/procedures/<name>/``) holds what only that procedure needs: its
guards and effects, its services, its pages (a blueprint), CLI commands if any, and its demo
data. Its workflow files stay in ``workflows/``, its templates in ``templates/<name>/``, its
tests in ``tests/<name>/``, and its models, if it has any, in ``pbflow/models/`` (one module per
concern: Alembic compares the migrations with every model, so all of them are imported there).

The package's ``__init__`` declares ``procedure = Procedure(...)``. ``create_app`` takes up the
procedures ``PBFLOW_PROCEDURES`` names (by default every one in ``SHIPPED``, in that order):
the engine's guard and effect registries fill from them, their blueprints, CLI commands, links
and case-page panels are registered, and ``pbflow init --demo`` and ``pbflow tick`` call their
hooks. The engine itself imports no procedure.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from flask import Flask, current_app

if TYPE_CHECKING:
    import click
    from flask import Blueprint

    from pbflow.engine.rules import Rule

# The procedures that come with pbflow, in the order they are taken up: their links in the top
# bar, their demo data and their panels on the case page follow this order.
SHIPPED = (
    "activity_funding",
    "three_meetings",
    "life_meeting",
    "opinion_box",
    "member_development",
    "supervision",
    "satisfaction",
    "assessment",
)


@dataclass(frozen=True)
class NavEntry:
    """A link in the top bar, for everyone (``public``) or only for those logged in."""

    endpoint: str
    label: Any  # a lazy gettext string, translated when the page is drawn
    public: bool = False
    # The name of a template global called with the logged-in user that says whether to
    # show the link (None: show it to everyone logged in).
    visible: str | None = None


@dataclass(frozen=True)
class Procedure:
    """What one procedure brings to pbflow; all but ``name`` may be left out."""

    name: str  # its package's name, and the name of its templates/ and tests/ folders
    workflows: tuple[str, ...] = ()  # ids of its workflow files in workflows/
    guards: Mapping[str, Rule] = field(default_factory=dict)  # named rules its files use
    effects: Mapping[str, Rule] = field(default_factory=dict)
    blueprint: Blueprint | None = None  # its pages
    cli: click.Group | None = None  # commands under `flask --app app pbflow`
    demo: Callable[[Any], None] | None = None  # adds its demo data to `pbflow init --demo`
    # Its part of `pbflow tick` (given the time to act as of, None for now): a summary line
    # and one line per problem.
    tick: Callable[[datetime | None], tuple[str, list[str]]] | None = None
    nav: tuple[NavEntry, ...] = ()  # its links in the top bar
    case_panels: tuple[str, ...] = ()  # templates the case page includes (``case`` is set)
    template_globals: Mapping[str, Callable[..., Any]] = field(default_factory=dict)
    # Its meetings' minutes for the bound yearly volume of an organization: called with
    # (reader, organization id, year, locale), returns pbflow.documents.volume.Section items.
    minutes: Callable[[Any, int, int, str], list[Any]] | None = None
    # Renderers of its kinds of notification: kind -> (params -> sentence in the current
    # locale); see pbflow.services.notifications.
    notices: Mapping[str, Callable[[Mapping[str, Any]], str]] = field(default_factory=dict)
    # Templates other procedures' pages include, by page name ("meeting": a meeting record's
    # page, with ``meeting`` set; "compliance": a compliance calendar, with ``cal`` set).
    panels: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # Figures it offers other packages (the supervision dashboard, the branch assessment, the
    # API), by name: plain functions of organization ids and a period, without rights checks
    # (the caller checks what its reader may see). See ``figure``.
    figures: Mapping[str, Callable[..., Any]] = field(default_factory=dict)
    # Called by `pbflow tick` when an overdue case is escalated to a superior organization,
    # inside that transaction, with a ``pbflow.engine.timers.EscalationRequest``; returns the
    # id of a case it opened for the superior to act on (a supervision notice), or None.
    on_escalation: Callable[[Any], int | None] | None = None
    # What its own audit events are called on the audit pages, by action: a lazy gettext
    # label each (pbflow.services.audit_search.action_label; unnamed ones show their key).
    audit_actions: Mapping[str, Any] = field(default_factory=dict)
    # What it counts of its own workflows' cases, kept as data by the engine for its figures
    # (pbflow.engine.tally): workflow id -> a function of a case (its row and ``data``, and
    # nothing that can change without the case) giving (measure, state, time, weight) tuples.
    tallies: Mapping[str, Callable[[Any], Any]] = field(default_factory=dict)
    # What it counts of people, kept the same way: a function of a person and the organization
    # index giving (measure, state, organization, time, weight) tuples.
    person_tallies: Callable[[Any, Any], Any] | None = None


def load(name: str) -> Procedure:
    """The procedure declared by the package ``pbflow.procedures.<name>``."""
    module_name = f"{__name__}.{name}"
    if name.isidentifier():
        try:
            return importlib.import_module(module_name).procedure
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise  # the package is there but something it imports is not
    raise ValueError(
        f"PBFLOW_PROCEDURES: there is no procedure '{name}' (shipped: {', '.join(SHIPPED)})"
    )


def take_up(app: Flask) -> tuple[list[Procedure], list[Procedure]]:
    """The procedures to install (``PBFLOW_PROCEDURES``: names, or Procedure objects), kept in
    ``app.extensions``, and the shipped ones left out (so that a workflow file needing one of
    those can be refused with its name)."""
    chosen = app.config.get("PBFLOW_PROCEDURES") or SHIPPED
    installed = [p if isinstance(p, Procedure) else load(p) for p in chosen]
    names = [p.name for p in installed]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"PBFLOW_PROCEDURES names {', '.join(twice)} more than once")
    left_out = [load(name) for name in SHIPPED if name not in names]
    app.extensions["pbflow_procedures"] = installed
    return installed, left_out


def installed(app: Flask | None = None) -> list[Procedure]:
    """The procedures installed in the (current) app, in the order they were taken up."""
    return (app or current_app).extensions["pbflow_procedures"]


def figure(name: str, app: Flask | None = None) -> Callable[..., Any] | None:
    """The figure function ``name`` offered by an installed procedure, or None when none is
    installed that offers it (its part of a dashboard is then left out). A procedure never
    imports another: this is how one reads another's figures."""
    for procedure in installed(app):
        if name in procedure.figures:
            return procedure.figures[name]
    return None


def audit_action_label(action: str, app: Flask | None = None) -> Any | None:
    """What an installed procedure calls its audit events ``action``, or None."""
    for procedure in installed(app):
        if action in procedure.audit_actions:
            return procedure.audit_actions[action]
    return None


def panels(page: str, app: Flask | None = None) -> tuple[str, ...]:
    """The templates the installed procedures add to the page named ``page``."""
    return tuple(t for p in installed(app) for t in p.panels.get(page, ()))
