"""Supervision notices (督办): issuing one, what each concerns, the figures of the dashboard,
the notices shown on a case or a meeting, and the escalation hook.

A notice is a case of ``workflows/supervision_notice.yaml`` at the organization that must act,
linked (``SupervisionNotice``) to what it is about. Issuing it is one transaction: the case,
its link, and the audit events of both.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cached_property
from typing import Any

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import select

from pbflow import audit, clock
from pbflow.engine import actors, calendar, horizon, runtime, tally
from pbflow.engine.context import Context
from pbflow.engine.errors import NotAllowed, NotFound, ValidationFailed
from pbflow.engine.registry import registry
from pbflow.extensions import db
from pbflow.models import Organization, ProcessInstance, SupervisionNotice, User
from pbflow.models.meetings import MEETING_TYPES
from pbflow.procedures import figure
from pbflow.procedures.supervision.compliance import LABELS
from pbflow.procedures.supervision.scope import Scope
from pbflow.services import head_memo
from pbflow.services.periods import Period, bounds

WORKFLOW = "supervision_notice"
P, N = ProcessInstance, SupervisionNotice
ISSUER_ROLES = (("committee", "ancestor"), ("secretary", "parent"))


@dataclass
class Concerns:
    """What a notice is about, with the text its form starts from."""

    kind: str  # case | meeting | general
    org_id: int
    case_id: int | None = None
    meeting_type: str | None = None
    period_start: date | None = None
    period_end: date | None = None
    title: str = ""  # what the form shows it is about

    def link(self) -> dict[str, Any]:
        return {
            "concerns": self.kind,
            "concerns_org_id": self.org_id,
            "concerns_case_id": self.case_id,
            "meeting_type": self.meeting_type,
            "period_start": self.period_start,
            "period_end": self.period_end,
        }


def may_issue(user: User, org_id: int) -> bool:
    """The party committee above (or at) the organization, or the secretary of its superior,
    issues notices to it (the workflow's start rule)."""
    node = actors.org_index().get(org_id)
    if node is None or not isinstance(user, User):
        return False
    for role, at in ISSUER_ROLES:
        if actors.has_role(user.id, role, actors.resolve_scope(org_id, at)):
            return True
    return False


def about_case(viewer: User, case_id: int) -> Concerns:
    """A notice about a case (overdue work, an open rectification item)."""
    found = db.session.get(ProcessInstance, case_id)
    if found is None or not actors.can_read_org(viewer, found.org_id):
        raise NotFound(_("No such case."))
    if found.closed_at is not None:
        raise ValidationFailed(_("This case is closed: there is nothing to supervise."))
    d = registry().stored(found.definition_id)
    state = d.states[found.state].label.get(_locale())
    return Concerns(
        "case", found.org_id, case_id=found.id, title=f"#{found.id} {found.title} · {state}"
    )


def about_meeting(viewer: User, org_id: int, meeting_type: str, day: date) -> Concerns:
    """A notice about a meeting an organization owes for the period containing ``day``."""
    if not actors.can_read_org(viewer, org_id):
        raise NotFound(_("No such organization."))
    if meeting_type not in MEETING_TYPES:
        raise ValidationFailed(
            _("Some fields need correcting."), field_errors={"type": _("is not one of the choices")}
        )
    fn = figure("meetings")
    cells = []
    if fn is not None:
        for o in fn([org_id], day, day).get(org_id, []):
            if o.key == meeting_type:
                cells = [c for c in o.cells if c.start <= day <= c.end]
    if not cells or cells[0].status not in ("missing", "open"):
        raise ValidationFailed(_("That meeting is not missing in that period."))
    cell = cells[0]
    kind = LABELS.get(meeting_type, meeting_type)
    title = f"{actors.org_index()[org_id].name} · {kind} · {cell.label}"
    return Concerns("meeting", org_id, None, meeting_type, cell.start, cell.end, title)


def about_org(viewer: User, org_id: int) -> Concerns:
    if not actors.can_read_org(viewer, org_id):
        raise NotFound(_("No such organization."))
    return Concerns("general", org_id, title=actors.org_index()[org_id].name)


def issue(actor: User, concerns: Concerns, values: Mapping[str, Any]) -> ProcessInstance:
    """Issue a notice (one transaction): the case at the organization concerned, its link to
    what it is about, and their audit events. Refused with the workflow's reasons."""
    if not may_issue(actor, concerns.org_id):
        raise NotAllowed(
            _("Only the party committee above, or the superior's secretary, issues notices.")
        )
    try:
        notice = runtime.start(WORKFLOW, concerns.org_id, actor, dict(values), commit=False)
        _link(notice, concerns, level=0, escalated_from=None, actor=actor)
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return notice


def _link(notice, concerns: Concerns, *, level: int, escalated_from: int | None, actor) -> None:
    db.session.add(
        SupervisionNotice(
            case_id=notice.id, level=level, escalated_from_id=escalated_from, **concerns.link()
        )
    )
    audit.record(
        "supervision_notice_linked",
        actor=actor,
        org_id=notice.org_id,
        instance_id=notice.id,
        payload={**concerns.link(), "level": level, "escalated_from": escalated_from},
    )


def _locale() -> str:
    from flask_babel import get_locale

    return str(get_locale() or "zh")


# --- escalation -----------------------------------------------------------------------------


def on_escalation(request: Any) -> int | None:
    """An overdue case escalated to ``request.to_org_id`` (engine.timers): open a notice
    there for the superior to act on. A lapsed notice escalates the same way, so the next
    notice opens one level higher, about the same matter. None when the notice workflow is
    not loaded (the engine then leaves the escalation in the superior's inbox)."""
    d = registry().current.get(WORKFLOW)
    index = actors.org_index()
    target = index.get(request.to_org_id)
    if d is None or target is None or target.kind not in d.run_by:
        return None
    case_state = request.case
    # The escalated case's workflow may give its superior a time of its own (the opinion box:
    # the general branch proposes a solution within 7 working days, DOMAIN 4); otherwise the
    # notices' own setting for escalations.
    own_limit = request.state_limit
    if own_limit:
        deadline = calendar.last_day(request.superior_due_at)
    else:
        days = int(_setting(d, request.to_org_id, "escalation_days"))
        deadline = calendar.add_working_days(clock.to_local(request.now).date(), days)
    with force_locale(current_app.config.get("BABEL_DEFAULT_LOCALE") or "zh"):
        state = request.state.label.get(_locale())
        due = clock.to_local(request.due_at).strftime("%Y-%m-%d") if request.due_at else "—"
        where = index[request.from_org_id].name
        if case_state.workflow_id == WORKFLOW:
            before = db.session.execute(select(N).where(N.case_id == case_state.id)).scalar()
            concerns = Concerns(
                before.concerns if before else "general",
                before.concerns_org_id if before else case_state.org_id,
                before.concerns_case_id if before else None,
                before.meeting_type if before else None,
                before.period_start if before else None,
                before.period_end if before else None,
            )
            level = (before.level if before else 0) + 1
            problem = _(
                "Supervision notice #%(id)s to %(org)s was not handled in time "
                "(%(state)s, due %(due)s): %(title)s",
                id=case_state.id,
                org=where,
                state=state,
                due=due,
                title=case_state.title,
            )
            escalated_from = case_state.id
        else:
            concerns = Concerns("case", case_state.org_id, case_state.id)
            level, escalated_from = request.level, None
            problem = _(
                "Case #%(id)s \u201c%(title)s\u201d at %(org)s is overdue at \u201c%(state)s\u201d "
                "(due %(due)s).",
                id=case_state.id,
                title=case_state.title or request.definition.title.get(_locale()),
                org=where,
                state=state,
                due=due,
            )
        requirement = _("See that it is handled without further delay, and answer what was done.")
        if own_limit:
            limit, amount = _limit_of(request)
            requirement = _(
                "%(limit)s: %(amount)s, that is by %(deadline)s. Answer what was done.",
                limit=limit,
                amount=amount,
                deadline=deadline.isoformat(),
            )
    notice = runtime.start(
        WORKFLOW,
        request.to_org_id,
        runtime.SYSTEM,
        {"problem": problem, "requirement": requirement, "deadline": deadline.isoformat()},
        commit=False,
    )
    _link(notice, concerns, level=level, escalated_from=escalated_from, actor=audit.SYSTEM)
    return notice.id


def _limit_of(request: Any) -> tuple[str, Any]:
    """The time the escalated state gives its superior: its setting's label and the value
    that applies to the case (or the amount the state names)."""
    spec = request.state.escalation_due
    if spec.setting is None:
        return _("Time limit"), spec.amount
    ctx = Context(request.definition, request.case, runtime.SYSTEM, {}, now=request.now)
    return request.definition.settings[spec.setting].label.get(_locale()), ctx.setting(spec.setting)


def _setting(d, org_id: int, name: str) -> Any:
    ids = actors.org_index()[org_id].ancestor_ids()
    rows = dict(
        db.session.execute(
            select(Organization.id, Organization.settings).where(Organization.id.in_(ids))
        ).all()
    )
    for oid in reversed(ids):
        overrides = (rows.get(oid) or {}).get(WORKFLOW) or {}
        if name in overrides:
            return overrides[name]
    return d.setting_default(name)


# --- reading --------------------------------------------------------------------------------


@dataclass
class NoticeRow:
    case_id: int
    title: str
    org_id: int
    org_name: str
    state: str
    state_label: str
    closed: bool
    due_at: datetime | None
    overdue: bool
    level: int
    concerns: str
    concerns_case_id: int | None
    meeting_type: str | None
    period_start: date | None
    created_at: datetime


def _rows(where, locale: str, limit: int | None = 200) -> list[NoticeRow]:
    # Columns, not notice objects: a page lists a few, an export thousands.
    stmt = (
        select(
            N.case_id,
            N.level,
            N.concerns,
            N.concerns_case_id,
            N.meeting_type,
            N.period_start,
            P.title,
            P.org_id,
            P.state,
            P.definition_id,
            P.closed_at,
            P.due_at,
            P.created_at,
        )
        .join(P, P.id == N.case_id)
        .where(*where)
        .order_by(P.closed_at.is_not(None), P.created_at.desc(), P.id.desc())
    )
    if limit:
        stmt = stmt.limit(limit)
    now, index, reg = clock.now(), actors.org_index(), registry()
    result = []
    for n in db.session.execute(stmt):
        org_id, state, closed_at, due_at = n.org_id, n.state, n.closed_at, n.due_at
        spec = reg.stored(n.definition_id).states.get(state)
        node = index[org_id]
        result.append(
            NoticeRow(
                case_id=n.case_id,
                title=n.title,
                org_id=org_id,
                org_name=node.name_en if locale == "en" and node.name_en else node.name,
                state=state,
                state_label=spec.label.get(locale) if spec else state,
                closed=closed_at is not None,
                due_at=due_at,
                overdue=closed_at is None and due_at is not None and due_at <= now,
                level=n.level,
                concerns=n.concerns,
                concerns_case_id=n.concerns_case_id,
                meeting_type=n.meeting_type,
                period_start=n.period_start,
                created_at=n.created_at,
            )
        )
    return result


def for_case(case_id: int) -> list[NoticeRow]:
    """Notices about a case (for its page; the page has checked the reader's rights)."""
    return _rows([N.concerns_case_id == case_id], _locale())


def for_meeting(org_id: int, meeting_type: str, day: date) -> list[NoticeRow]:
    """Notices about a meeting type an organization owed in a period containing ``day``."""
    return _rows(
        [
            N.concerns_org_id == org_id,
            N.meeting_type == meeting_type,
            N.period_start <= day,
            N.period_end >= day,
        ],
        _locale(),
    )


def for_calendar(org_id: int, year: int) -> list[NoticeRow]:
    """Notices about the meetings an organization owed in a year (its compliance calendar)."""
    first, last = bounds(date(year, 6, 1), "year")
    return _rows(
        [
            N.concerns_org_id == org_id,
            N.concerns == "meeting",
            N.period_start >= first,
            N.period_start <= last,
        ],
        _locale(),
    )


@dataclass
class NoticeCount:
    org_id: int
    label: str
    issued: int = 0  # in the period
    open: int = 0  # now
    overdue: int = 0  # now
    closed: int = 0  # accepted in the period


@dataclass
class Notices:
    by_unit: list[NoticeCount]
    total: NoticeCount
    scope: Scope = field(repr=False)

    @cached_property
    def recent(self) -> list[NoticeRow]:
        """The latest open notices, read when first asked for: the dashboard's overview
        shows only the counts, its page of notices the notices."""
        scope = self.scope
        return _rows(
            [
                P.workflow_id == WORKFLOW,
                *(() if scope.everything else (P.org_id.in_(scope.ids),)),
                P.closed_at.is_(None),
            ],
            scope.locale,
            limit=10,
        )


def notices(scope: Scope, period: Period, *, by_unit: bool = True) -> Notices:
    """Notices per unit (the organization that must act): issued and accepted during the
    period, open and overdue now; and the latest ones. Counted from the figures kept as data
    (pbflow.engine.tally): a fixed number of statements whatever the number of notices.
    Without ``by_unit`` (a page that shows the sums) no row per unit: the database sums the
    organizations. Kept until the next recorded change, or until the next open case falls
    due (``head_memo``, ``horizon``), with the latest notices once read."""
    key = ("notices", scope.org.id, period.start, period.end, period.kind, by_unit, scope.locale)
    return head_memo.remembered(
        key, lambda: _notices(scope, period, by_unit), until=horizon.next_change
    )


def _notices(scope: Scope, period: Period, by_unit: bool) -> Notices:
    start, end = period.utc_bounds()
    counted: dict[int, list[int]] = {}  # org -> issued, open, overdue, closed

    def add(org_id: int, i: int, n: int) -> None:
        counted.setdefault(org_id, [0, 0, 0, 0])[i] += n

    now = clock.now() + timedelta(microseconds=1)  # overdue: due at or before now
    found = tally.counts_at(
        {
            tally.CREATED: (start, end),
            tally.OPEN: (None,),
            tally.DUE: (now,),
            tally.CLOSED: (start, end),
        },
        WORKFLOW,
        scope.ids,
        by_state=[tally.CLOSED],  # those accepted ("closed") of those ended
        by_org=by_unit,
    )
    for (measure, state, org_id), values in found.items():
        if measure == tally.OPEN:
            add(org_id, 1, values[0])
        elif measure == tally.DUE:
            add(org_id, 2, values[0])
        elif end > start and (measure == tally.CREATED or state == "closed"):
            add(org_id, 0 if measure == tally.CREATED else 3, values[1] - values[0])
    units = {n.id: NoticeCount(n.id, scope.name(n.id)) for n in scope.units} if by_unit else {}
    total = NoticeCount(scope.org.id, scope.name(scope.org.id))
    for org_id, (issued, open_, overdue, closed) in counted.items():
        for row in (units[scope.unit_of(org_id)], total) if by_unit else (total,):
            row.issued += issued
            row.open += open_
            row.overdue += overdue
            row.closed += closed
    return Notices(list(units.values()), total, scope)


def link_of(case_id: int) -> SupervisionNotice | None:
    """What a notice case is about (its page shows it)."""
    return db.session.execute(select(N).where(N.case_id == case_id)).scalar()
