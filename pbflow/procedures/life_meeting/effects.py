"""Effects of the life meeting and rectification workflows (DOMAIN.md section 2).

Lists of records that belong to one case (heart-to-heart talks, study sessions, inspection
materials, appraisal grades, progress notes) are kept in the case's ``data`` and written by
these effects and the engine's generic ``append_record``, so each entry is one audited
transition with its fields in the trail, and the guards in ``guards.py`` judge the lists.
"""

from __future__ import annotations

import re

from flask_babel import gettext as _
from sqlalchemy import select

from pbflow.engine import actors
from pbflow.engine.context import Context
from pbflow.engine.errors import ValidationFailed
from pbflow.engine.rules import Rule, registrar
from pbflow.extensions import db

REGISTRY: dict[str, Rule] = {}
effect = registrar(REGISTRY)


@effect("set_material")
def set_material(ctx: Context, *, field: str, file_field: str) -> None:
    """Record (or replace) one participant's comparison and inspection material."""
    person = ctx.values[field]
    materials = dict(ctx.data.get("materials") or {})
    previous = materials.get(str(person)) or {}
    materials[str(person)] = {
        "file": ctx.values[file_field],
        "on": ctx.today.isoformat(),
        "status": "submitted",
        "round": int(previous.get("round", 0)) + 1,
    }
    ctx.data["materials"] = materials
    ctx.data.pop(field, None)
    ctx.data.pop(file_field, None)


@effect("return_materials")
def return_materials(ctx: Context, *, field: str) -> None:
    """The superior sends materials back for rewriting: those named in ``field``, or all."""
    named = ctx.values.get(field) or []
    materials = dict(ctx.data.get("materials") or {})
    for key, entry in materials.items():
        if not named or int(key) in named:
            materials[key] = {**entry, "status": "returned"}
    ctx.data["materials"] = materials


@effect("give_off_season_consent")
def give_off_season_consent(ctx: Context) -> None:
    """The superior's consent to a democratic life meeting outside the fourth quarter (its
    reason is the step's comment)."""
    ctx.data["off_season_consent"] = True


@effect("set_grades")
def set_grades(ctx: Context, *, members_field: str, grade_field: str) -> None:
    """Give each member named the same democratic appraisal grade (a later grade replaces)."""
    grades = dict(ctx.data.get("grades") or {})
    for pid in ctx.values.get(members_field) or []:
        grades[str(pid)] = ctx.values[grade_field]
    ctx.data["grades"] = grades
    ctx.data.pop(members_field, None)
    ctx.data.pop(grade_field, None)


_CASE_ID = re.compile(r"\d+")


@effect("link_cases")
def link_cases(ctx: Context, *, field: str, workflow: str, target: str) -> None:
    """Link cases of ``workflow`` (for example opinion box items) by their ids.

    Only cases of the same organization or one below it may be linked; an id that is not
    such a case is refused with the id named, so the person can correct the list.
    """
    from pbflow.models import ProcessInstance

    raw = str(ctx.values.get(field) or "")
    ids = sorted({int(m) for m in _CASE_ID.findall(raw)})
    ctx.data.pop(field, None)
    if not ids:
        return
    rows = db.session.execute(
        select(ProcessInstance.id, ProcessInstance.workflow_id, ProcessInstance.org_id).where(
            ProcessInstance.id.in_(ids)
        )
    ).all()
    index = actors.org_index()
    ok = {
        r.id
        for r in rows
        if r.workflow_id == workflow
        and r.org_id in index
        and ctx.case.org_id in index[r.org_id].ancestor_ids()
    }
    bad = [i for i in ids if i not in ok]
    if bad:
        raise ValidationFailed(
            _("Some fields need correcting."),
            field_errors={
                field: _(
                    "not a case of this kind in this organization: %(ids)s",
                    ids=", ".join(map(str, bad)),
                )
            },
        )
    ctx.data[target] = sorted(set(ctx.data.get(target) or []) | set(ids))


@effect("start_child_case")
def start_child_case(ctx: Context, *, workflow: str, fields: list[str]) -> None:
    """Open a child case of ``workflow`` (a rectification item) with the step's fields, in
    the same transaction; the fields belong to the child, not to this case's data."""
    from pbflow.engine import runtime

    values = {name: ctx.values[name] for name in fields if name in ctx.values}
    child = runtime.start(
        workflow, ctx.case.org_id, ctx.actor, values, parent_id=ctx.case.id, commit=False
    )
    ctx.created_children.append(child.id)
    ctx.data["children"] = [*(ctx.data.get("children") or []), child.id]
    for name in fields:
        ctx.data.pop(name, None)
