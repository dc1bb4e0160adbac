"""What the dashboard's charts draw, as plain data for ``static/charts.js`` (read from a
``data-chart`` attribute: no inline script). Every chart's numbers are also in the table
next to it, one click away."""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _

from pbflow.procedures.supervision.dashboard import Dashboard
from pbflow.procedures.supervision.membership import DIMENSIONS, value_label


def _percent(share: float | None) -> float | None:
    return None if share is None else round(100 * share, 1)


def charts(d: Dashboard, section: str | None = None) -> dict[str, dict[str, Any]]:
    """Every chart, or only those of the page's ``section`` (the others' figures are then
    not counted)."""
    found: dict[str, dict[str, Any]] = {}
    if section in (None, "development") and d.pipeline is not None:
        found["pipeline"] = {
            "type": "bar",
            "labels": [label.get(d.scope.locale) for _k, label in d.pipeline.stages],
            "datasets": [
                {
                    "label": _("Open cases"),
                    "data": [d.pipeline.total.per_stage.get(k, 0) for k, _l in d.pipeline.stages],
                }
            ],
        }
    if section in (None, "opinions") and d.opinions is not None:
        found["opinions"] = {
            "type": "line",
            "percent": True,
            "labels": [t.label for t in d.opinions.over_time],
            "datasets": [
                {
                    "label": _("Satisfaction rate"),
                    "data": [_percent(t.satisfaction) for t in d.opinions.over_time],
                },
                {
                    "label": _("Answered on time"),
                    "data": [_percent(t.on_time_share) for t in d.opinions.over_time],
                },
            ],
        }
    if section not in (None, "membership"):
        return found
    m = d.membership
    for key, label in DIMENSIONS:
        if key == "status":
            continue
        found[f"membership-{key}"] = {
            "type": "bar",
            "title": str(label),
            "labels": [value_label(key, v) for v in m.values[key]],
            "datasets": [
                {
                    "label": _("At the start (%(day)s)", day=m.period.start.isoformat()),
                    "data": [m.total.start.by[key].get(v, 0) for v in m.values[key]],
                },
                {
                    "label": _("At the end (%(day)s)", day=m.period.end.isoformat()),
                    "data": [m.total.end.by[key].get(v, 0) for v in m.values[key]],
                },
            ],
        }
    return found
