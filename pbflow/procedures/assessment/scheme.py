"""Assessment schemes: reading, checking and saving one (a new version each time).

A scheme (the body of an ``AssessmentScheme``, as YAML or JSON)::

    name: 2026年度支部"三四五六"考核
    pass_mark: 80            # below it a branch fails (DOMAIN 5: 80 is common)
    stars: [[80, 3], [90, 4], [95, 5]]   # score at least ..., stars
    committee_vote: true     # the committee decides by the vote machinery
    appeal_days: 10          # a branch appeals within this many days of publication
    groups:
      - key: meetings
        label: {zh: 组织生活, en: Organizational life}
        criteria:
          - {key: three_meetings, max: 30, measure: three_meetings, label: {...}}
          - {key: party_building, max: 10, label: {...}}      # no measure: assessors score it
          # One question of the satisfaction survey (falls back to the overall rate):
          # - {key: service, max: 5, measure: satisfaction, question: service, label: {...}}
    vetoes:
      - {key: serious_violation, cap: 59, label: {...}}

Weights are the criteria's maximum scores and must add up to 100; every computed criterion
names a known measure (``measures.MEASURES``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import yaml
from flask_babel import gettext as _
from sqlalchemy import func, select

from pbflow import audit, validation
from pbflow.engine.errors import NotAllowed, NotFound, ValidationFailed
from pbflow.extensions import db
from pbflow.models import AssessmentScheme, User
from pbflow.procedures.assessment import access
from pbflow.procedures.assessment.measures import MEASURES

_KEY = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
TOTAL = 100
# The pass mark a scheme has unless it sets its own (DOMAIN 5: "a pass mark (80 is common),
# star levels (3 stars meets the standard)": the default's 3 stars start at it).
DEFAULT_PASS_MARK = 80


class SchemeProblem(ValidationFailed):
    pass


def _label(raw: Any, where: str, problems: list[str]) -> dict[str, str]:
    if not isinstance(raw, Mapping) or not all(
        isinstance(raw.get(k), str) and raw.get(k).strip() for k in ("zh", "en")
    ):
        problems.append(_("%(where)s: a label needs both zh and en.", where=where))
        return {"zh": where, "en": where}
    out = {}
    for k in ("zh", "en"):
        text = raw[k].strip()
        if validation.text_problem(text, 200):
            problems.append(_("%(where)s: the label is not plain text.", where=where))
        out[k] = text[:200]
    return out


def _number(raw: Any, low: float, high: float) -> float | None:
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        return None
    value = float(raw)
    return value if low <= value <= high else None


def check(raw: Any) -> dict[str, Any]:
    """The scheme in its stored shape, or SchemeProblem listing everything wrong with it."""
    problems: list[str] = []
    if not isinstance(raw, Mapping):
        raise SchemeProblem(_("A scheme is a mapping with groups, criteria and levels."))
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip() or validation.text_problem(name, 200):
        problems.append(_("The scheme needs a name (plain text, at most 200 characters)."))
        name = ""
    pass_mark = _number(raw.get("pass_mark", DEFAULT_PASS_MARK), 0, TOTAL)
    if pass_mark is None:
        problems.append(_("The pass mark is a number from 0 to 100."))
        pass_mark = float(DEFAULT_PASS_MARK)
    stars: list[list[float]] = []
    raw_stars = raw.get("stars", [])
    if not isinstance(raw_stars, list) or not raw_stars:
        problems.append(_("Give the star levels as a list of [lowest score, stars]."))
        raw_stars = []
    for item in raw_stars:
        ok = isinstance(item, list | tuple) and len(item) == 2
        low = _number(item[0], 0, TOTAL) if ok else None
        n = item[1] if ok else None
        if low is None or not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= 5:
            problems.append(_("A star level is [lowest score from 0 to 100, stars from 1 to 5]."))
            continue
        if low < pass_mark:
            problems.append(_("A star level must not start below the pass mark."))
        stars.append([low, n])
    stars.sort()
    if [s[1] for s in stars] != sorted({s[1] for s in stars}):
        problems.append(_("Higher star levels need higher scores, one level per number of stars."))
    groups_out, keys, total = [], set(), 0.0
    groups = raw.get("groups")
    if not isinstance(groups, list) or not groups:
        problems.append(_("A scheme has at least one group of criteria."))
        groups = []
    for gi, group in enumerate(groups, 1):
        if not isinstance(group, Mapping):
            problems.append(_("Group %(n)s is not a mapping.", n=gi))
            continue
        gkey = group.get("key")
        where = str(gkey) if isinstance(gkey, str) else f"#{gi}"
        if not isinstance(gkey, str) or not _KEY.match(gkey) or gkey in keys:
            problems.append(_("Group %(n)s needs a unique key of small letters.", n=gi))
        keys.add(gkey)
        criteria_out = []
        criteria = group.get("criteria")
        if not isinstance(criteria, list) or not criteria:
            problems.append(_("Group %(key)s has no criteria.", key=where))
            criteria = []
        for ci, crit in enumerate(criteria, 1):
            if not isinstance(crit, Mapping):
                problems.append(_("Criterion %(n)s of %(key)s is not a mapping.", n=ci, key=where))
                continue
            ckey = crit.get("key")
            cwhere = str(ckey) if isinstance(ckey, str) else f"{where}.{ci}"
            if not isinstance(ckey, str) or not _KEY.match(ckey) or ckey in keys:
                problems.append(
                    _("Criterion %(where)s needs a unique key of small letters.", where=cwhere)
                )
            keys.add(ckey)
            most = _number(crit.get("max"), 0.5, TOTAL)
            if most is None:
                problems.append(_("Criterion %(where)s: max is from 0.5 to 100.", where=cwhere))
                most = 0.0
            total += most
            measure = crit.get("measure")
            if measure is not None and measure not in MEASURES:
                problems.append(
                    _(
                        "Criterion %(where)s: unknown measure %(m)s (known: %(known)s).",
                        where=cwhere,
                        m=str(measure)[:40],
                        known=", ".join(MEASURES),
                    )
                )
            question = crit.get("question")
            if question is not None and (
                measure != "satisfaction"
                or not isinstance(question, str)
                or not _KEY.match(question)
            ):
                problems.append(
                    _(
                        "Criterion %(where)s: a survey question (a key of small letters) goes "
                        "only with the measure satisfaction.",
                        where=cwhere,
                    )
                )
            entry = {
                "key": ckey,
                "label": _label(crit.get("label"), cwhere, problems),
                "max": most,
                "measure": measure,
            }
            if question is not None:
                entry["question"] = question
            criteria_out.append(entry)
        groups_out.append(
            {
                "key": gkey,
                "label": _label(group.get("label"), where, problems),
                "criteria": criteria_out,
            }
        )
    if groups_out and abs(total - TOTAL) > 1e-6:
        problems.append(
            _("The criteria's maximum scores add up to %(total)s, not 100.", total=f"{total:g}")
        )
    vetoes_out = []
    vetoes = raw.get("vetoes", [])
    if not isinstance(vetoes, list):
        problems.append(_("Vetoes are a list."))
        vetoes = []
    for vi, veto in enumerate(vetoes, 1):
        vkey = veto.get("key") if isinstance(veto, Mapping) else None
        vwhere = str(vkey) if isinstance(vkey, str) else f"veto {vi}"
        if not isinstance(vkey, str) or not _KEY.match(vkey) or vkey in keys:
            problems.append(_("Veto %(where)s needs a unique key of small letters.", where=vwhere))
        keys.add(vkey)
        cap = _number(
            veto.get("cap", pass_mark - 1) if isinstance(veto, Mapping) else None, 0, TOTAL
        )
        if cap is None:
            problems.append(_("Veto %(where)s: cap is a score from 0 to 100.", where=vwhere))
            cap = 0.0
        label = _label(veto.get("label") if isinstance(veto, Mapping) else None, vwhere, problems)
        vetoes_out.append({"key": vkey, "label": label, "cap": cap})
    vote = raw.get("committee_vote", False)
    if not isinstance(vote, bool):
        problems.append(_("committee_vote is true or false."))
    days = raw.get("appeal_days", 10)
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 90:
        problems.append(_("appeal_days is a whole number of days from 1 to 90."))
        days = 10
    if problems:
        raise SchemeProblem(
            _("The scheme is not valid."), field_errors={"scheme": "; ".join(problems)}
        )
    return {
        "name": name.strip(),
        "pass_mark": pass_mark,
        "stars": stars,
        "committee_vote": bool(vote),
        "appeal_days": days,
        "groups": groups_out,
        "vetoes": vetoes_out,
    }


def parse_text(text: str) -> dict[str, Any]:
    """A scheme from YAML (or JSON) text, checked."""
    if validation.has_nul(text) or len(text) > 100_000:
        raise SchemeProblem(_("The scheme is not valid."), field_errors={"scheme": _("too long")})
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SchemeProblem(
            _("The scheme is not valid."),
            field_errors={"scheme": _("not YAML: %(e)s", e=str(exc)[:200])},
        ) from None
    return check(raw)


def criteria(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [c for g in body["groups"] for c in g["criteria"]]


def save(actor: User | None, year: int, body: Mapping[str, Any]) -> AssessmentScheme:
    """Save ``body`` as the next version of the year's scheme (one transaction, audited)."""
    if actor is not None and not access.is_assessor(actor):
        raise NotAllowed(_("Only the party committee edits assessment schemes."))
    if not validation.MIN_YEAR <= year <= validation.MAX_YEAR:
        raise ValidationFailed(
            _("Some fields need correcting."), field_errors={"year": _("out of range")}
        )
    checked = check(body)
    try:
        last = db.session.execute(
            select(func.max(AssessmentScheme.version)).where(AssessmentScheme.year == year)
        ).scalar()
        row = AssessmentScheme(
            year=year,
            version=(last or 0) + 1,
            name=checked["name"],
            body=checked,
            created_by_user_id=actor.id if actor else None,
        )
        db.session.add(row)
        db.session.flush()
        audit.record(
            "assessment_scheme_saved",
            actor=actor or audit.SYSTEM,
            payload={"scheme_id": row.id, "year": year, "version": row.version, "body": checked},
        )
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return row


def current(year: int) -> AssessmentScheme | None:
    """The latest version of the year's scheme."""
    return db.session.execute(
        select(AssessmentScheme)
        .where(AssessmentScheme.year == year)
        .order_by(AssessmentScheme.version.desc())
        .limit(1)
    ).scalar()


def get(scheme_id: int) -> AssessmentScheme:
    found = db.session.get(AssessmentScheme, scheme_id)
    if found is None:
        raise NotFound(_("No such scheme."))
    return found


def all_versions() -> list[AssessmentScheme]:
    return list(
        db.session.execute(
            select(AssessmentScheme).order_by(
                AssessmentScheme.year.desc(), AssessmentScheme.version.desc()
            )
        ).scalars()
    )


def dump(body: Mapping[str, Any]) -> str:
    return yaml.safe_dump(dict(body), allow_unicode=True, sort_keys=False, width=100)


DEFAULT = {
    "name": "支部“三四五六”工程季度考核",
    "pass_mark": DEFAULT_PASS_MARK,
    "stars": [[80, 3], [90, 4], [95, 5]],
    "committee_vote": True,
    "appeal_days": 10,
    "groups": [
        {
            "key": "organizational_life",
            "label": {"zh": "组织生活", "en": "Organizational life"},
            "criteria": [
                {
                    "key": "three_meetings",
                    "label": {
                        "zh": "“三会一课”按要求召开",
                        "en": "Three meetings and one lesson held",
                    },
                    "max": 30,
                    "measure": "three_meetings",
                },
                {
                    "key": "rectification",
                    "label": {"zh": "整改事项按期销号", "en": "Rectification items closed on time"},
                    "max": 10,
                    "measure": "rectification_on_time",
                },
            ],
        },
        {
            "key": "masses",
            "label": {"zh": "联系服务群众", "en": "Serving the people"},
            "criteria": [
                {
                    "key": "opinions",
                    "label": {"zh": "意见按时答复", "en": "Opinions answered on time"},
                    "max": 15,
                    "measure": "opinions_on_time",
                },
                {
                    "key": "satisfaction",
                    "label": {"zh": "群众满意率", "en": "Satisfaction rate"},
                    "max": 15,
                    "measure": "satisfaction",
                },
            ],
        },
        {
            "key": "development_supervision",
            "label": {"zh": "发展党员与督办", "en": "Development and supervision"},
            "criteria": [
                {
                    "key": "development",
                    "label": {
                        "zh": "发展党员按时限推进",
                        "en": "Development cases within time limits",
                    },
                    "max": 10,
                    "measure": "development_on_time",
                },
                {
                    "key": "notices",
                    "label": {
                        "zh": "督办通知按时办结",
                        "en": "Supervision notices answered on time",
                    },
                    "max": 10,
                    "measure": "notices_on_time",
                },
            ],
        },
        {
            "key": "assessors",
            "label": {"zh": "考核组评定", "en": "Scored by the assessors"},
            "criteria": [
                {
                    "key": "party_building",
                    "label": {
                        "zh": "党建工作特色与成效",
                        "en": "Party building work and its results",
                    },
                    "max": 10,
                },
            ],
        },
    ],
    "vetoes": [
        {
            "key": "serious_violation",
            "label": {
                "zh": "发生严重违纪违法问题",
                "en": "A serious violation of discipline or law",
            },
            "cap": 59,
        }
    ],
}
