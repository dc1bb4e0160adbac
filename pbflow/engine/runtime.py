"""``start`` and ``fire``: the only ways a case changes (DESIGN section 4).

Each public function is one database transaction: check the actor's right, validate fields,
run guards, move the state with the cached machine, apply effects, write the case with an
optimistic version check, queue the audit event(s) and notifications, commit. Any refusal
raises a DomainError and rolls back, so nothing is half-written. The hot path works on row
snapshots and Core statements rather than ORM objects: that is where the engine's speed
comes from (see bench/engine.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from flask_babel import gettext as _
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.attributes import instance_state
from sqlalchemy.orm.base import manager_of_class

from pbflow import audit, clock, validation
from pbflow.engine import actors, calendar, fastsql, fields, tally, tasks
from pbflow.engine.context import Block, CaseState, Context
from pbflow.engine.definitions import Definition, DueSpec, FieldSpec, StateSpec, TransitionSpec
from pbflow.engine.errors import (
    ConcurrentChange,
    GuardRefused,
    InvalidState,
    NotAllowed,
    NotFound,
    ValidationFailed,
)
from pbflow.engine.registry import registry
from pbflow.extensions import db
from pbflow.extensions import session as current_session
from pbflow.models import Organization, ProcessInstance, User

_T = ProcessInstance.__table__
_CASE_MANAGER = manager_of_class(ProcessInstance)
_CASE_ATTRS = [c.key for c in _T.columns if c.computed is None]  # generated ones are not mapped
_COLS = [
    _T.c.id,
    _T.c.definition_id,
    _T.c.workflow_id,
    _T.c.org_id,
    _T.c.state,
    _T.c.data,
    _T.c.version,
    _T.c.entered_version,
    _T.c.subject_person_id,
    _T.c.submitter_user_id,
    _T.c.assignee_user_id,
    _T.c.parent_id,
    _T.c.created_at,
    _T.c.state_entered_at,
    _T.c.closed_at,
    _T.c.title,
]
SYSTEM = "system"
# What a new case's row could hold that its validated fields did not check already.
_TEXT_COLUMNS = ("workflow_id", "title", "state")


def _IDENTITY(case_id: int) -> tuple:  # noqa: N802 - a constant's shape, built per case
    """The session identity key of a case: what ``identity_key`` returns, built directly
    (that helper inspects the mapper on every call)."""
    return (ProcessInstance, (case_id,), None)


@dataclass
class Outcome:
    case_id: int
    state: str
    version: int
    fired: list[str] = field(default_factory=list)


@dataclass
class Action:
    """One thing a user may do on a case now, or could do once ``reason`` no longer holds."""

    trigger: str
    label: Any
    dest: str
    enabled: bool
    reason: str | None
    available_from: date | None
    fields: tuple[FieldSpec, ...]
    comment: str


def load_case(case_id: int, *, for_update: bool = False) -> CaseState:
    row = fastsql.load_case(case_id, for_update)
    if row is None:
        raise NotFound(_("No such case."))
    return CaseState(*row)


def expire_cached(case_id: int) -> None:
    """Core UPDATEs bypass the ORM: drop any loaded copy of the case so it is read afresh.

    Only the columns are expired (naming them skips the relationship cascade, which costs
    more than the whole UPDATE).
    """
    session = current_session()
    obj = session.identity_map.get(_IDENTITY(case_id))
    if obj is not None:
        session.expire(obj, _CASE_ATTRS)


def _case_id(case: int | ProcessInstance | CaseState) -> int:
    return case if isinstance(case, int) else case.id


def _actor_label(actor: Any) -> str:
    return actor.username if isinstance(actor, User) else str(actor or SYSTEM)


def compute_due(d: Definition, state: StateSpec, ctx: Context) -> datetime | None:
    return due_of(state.due, ctx)


def due_of(spec: DueSpec | None, ctx: Context) -> datetime | None:
    """The moment a time limit ends, counted from its field or from ``ctx``'s day, its
    amount read from the workflow's settings where it names one."""
    if spec is None:
        return None
    base = ctx.date_value(spec.from_field) if spec.from_field else ctx.today
    if base is None:
        return None
    amount = spec.amount if spec.amount is not None else int(ctx.setting(spec.setting))
    return calendar.end_of_day_utc(calendar.add(base, amount, spec.unit))


def _run_guards(rules, ctx: Context, reg: Any = None) -> Block | None:
    if not rules:
        return None
    named = (reg or registry()).rules.guards
    for rule in rules:
        block = named[rule.name].fn(ctx, **rule.params)
        if block is not None:
            return block
    return None


def _apply_effects(rules, ctx: Context, reg: Any = None) -> None:
    if not rules:
        return
    named = (reg or registry()).rules.effects
    for rule in rules:
        named[rule.name].fn(ctx, **rule.params)


def _check_comment(t: TransitionSpec, comment: str | None) -> str | None:
    text = (comment or "").strip() or None
    if t.comment == "required" and not text:
        raise ValidationFailed(
            _("Please give a reason."), field_errors={"comment": _("is required")}
        )
    if text and len(text) > 5000:
        raise ValidationFailed(
            _("Some fields need correcting."),
            field_errors={"comment": _("must be at most %(n)s characters", n=5000)},
        )
    return text if t.comment != "none" else None


def _who_may(t: TransitionSpec) -> str:
    return _(", ").join(rule.describe() for rule in t.by)


def notice_params(case: CaseState, d: Definition | None = None, **extra: Any) -> dict[str, Any]:
    """What a notice about a case records, to be rendered in each reader's language later:
    the case's own title (typed text, in no one language; a workflow without a title template
    stores its Chinese title there, which is left out), its workflow version and state."""
    own = (d or registry().stored(case.definition_id)).title_template is not None
    return {
        "title": (case.title or None) if own else None,
        "definition_id": case.definition_id,
        "state": case.state,
        **extra,
    }


def _notify(
    user_ids: set[int],
    case: CaseState,
    kind: str,
    params: dict[str, Any],
    at: datetime | None = None,
) -> None:
    if user_ids:
        when = at or clock.now()
        fastsql.notify([(uid, case.id, kind, params, when) for uid in sorted(user_ids)])


def _waits_on_requester(d: Definition, state: str) -> bool:
    known = d.__dict__.setdefault("_pbflow_waits_on_requester", {})
    waits = known.get(state)
    if waits is None:
        waits = known[state] = any(
            rule.kind in ("submitter", "subject")
            for t in d.transitions_from(state)
            for rule in t.by
        )
    return waits


def fire_in_transaction(
    case_id: int,
    trigger: str,
    actor: Any,
    values_in: Mapping[str, Any] | None = None,
    *,
    expected_version: int | None = None,
    comment: str | None = None,
    case: CaseState | None = None,
) -> Outcome:
    """Fire without committing: for callers that already hold a transaction (votes, timers)."""
    reg = registry()
    cs = case or load_case(case_id)
    if cs.closed_at is not None:
        raise InvalidState(_("This case is closed."))
    if expected_version is not None and expected_version != cs.version:
        raise ConcurrentChange(
            _("This case changed since you opened it; please reload it and try again."),
            details={
                "expected_version": expected_version,
                "current_version": cs.version,
                "current_state": cs.state,
            },
        )
    d = reg.stored(cs.definition_id)
    t = d.transition(cs.state, trigger)
    if t is None:
        known = trigger in d.triggers()
        raise InvalidState(
            _(
                "'%(step)s' is not possible while the case is at '%(state)s'.",
                step=trigger,
                state=d.states[cs.state].label.get(_locale()),
            )
            if known
            else _("Unknown step '%(step)s'.", step=trigger)
        )
    # Identity and a string test: ``in`` would call the account model's __eq__ twice.
    is_system = actor is None or (isinstance(actor, str) and actor == SYSTEM)
    if is_system:
        if not any(rule.kind == "system" for rule in t.by):
            raise NotAllowed(_("This step must be taken by a person."))
    elif t.system_only or not actors.may_act(t.by, actor, cs):
        raise NotAllowed(_("You may not take this step. It is taken by: %(who)s.", who=_who_may(t)))
    values = fields.validate(
        t.fields, values_in, held=cs.data, label=lambda name: d.field_label(name, _locale())
    )
    note = _check_comment(t, comment)
    before = tasks.compute(d, cs)  # the case's work-waiting rows as they stand
    counted = tally.contributions(cs)  # and what its figures count of it
    cs.data = dict(cs.data or {})
    ctx = Context(d, cs, actor, values, t, taking=True)
    block = _run_guards(t.guards, ctx, reg)
    if block is not None:
        raise GuardRefused(block.reason, available_from=block.available_from)

    # The cached machine's table moves the state. Its events carry no callbacks or conditions
    # (build_machine), so the first transition from the state is what ``trigger`` would take,
    # without the event machinery that cost more than the lookup (bench/engine.py).
    from_state = cs.state
    cs.state = reg.machine(d).events[trigger].transitions[from_state][0].dest

    cs.data.update(values)
    if not is_system:
        cs.data["_by"] = {**cs.data.get("_by", {}), trigger: actor.id}
    _apply_effects(t.effects, ctx, reg)
    dest = d.states[cs.state]
    now = ctx.now
    new_version = cs.version + 1
    due_before, due_after = cs.due_at, compute_due(d, dest, ctx)
    changed = fastsql.move_case(
        case_id=cs.id,
        old_version=cs.version,
        state=cs.state,
        data=cs.data,
        new_version=new_version,
        now=now,
        due_at=due_after,
        closed_at=now if dest.final else None,
        assignee_user_id=cs.assignee_user_id,
    )
    if changed != 1:
        raise ConcurrentChange(
            _("This case changed since you opened it; please reload it and try again.")
        )
    expire_cached(cs.id)
    payload: dict[str, Any] = {
        "trigger": trigger,
        audit.DATA_DIGEST: audit.data_written(cs.id, cs.data),
    }
    if values:
        payload["fields"] = values
    if note:
        payload["comment"] = note
    if ctx.assignee_changed:
        payload["assignee"] = cs.assignee_user_id
    audit.record(
        "transition",
        actor=actor if not is_system else SYSTEM,
        org_id=cs.org_id,
        instance_id=cs.id,
        from_state=from_state,
        to_state=cs.state,
        payload=payload,
        at=now,
    )
    cs.due_at = due_after
    cs.state_entered_at = now
    cs.closed_at = now if dest.final else None
    tasks.replace(cs.id, before, tasks.compute(d, cs), now, (due_before, due_after))
    tally.record(counted, cs)
    if dest.final or _waits_on_requester(d, cs.state):
        requester = {cs.submitter_user_id, actors.person_user_id(cs.subject_person_id)}
        requester.discard(None)
        if not is_system:
            requester.discard(actor.id)
        # The step taken is named with the state it left it in: a case that stays in its
        # state (an activist's quarterly reports) told its applicant the same line each time.
        params = notice_params(cs, d, step=trigger, from_state=from_state)
        _notify(requester, cs, "result", params, at=now)
    cs.version = new_version
    return Outcome(cs.id, cs.state, new_version, [trigger])


def _locale() -> str:
    from flask_babel import get_locale

    loc = get_locale()
    return str(loc) if loc else "en"


def fire(
    case: int | ProcessInstance | CaseState,
    trigger: str,
    actor: Any,
    values: Mapping[str, Any] | None = None,
    *,
    expected_version: int | None = None,
    comment: str | None = None,
) -> Outcome:
    """Take one step on a case, as ``actor``, in one transaction (or refuse, writing nothing)."""
    session = current_session()
    try:
        outcome = fire_in_transaction(
            _case_id(case),
            trigger,
            actor,
            values,
            expected_version=expected_version,
            comment=comment,
        )
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return outcome


def _render_title(d: Definition, values: dict[str, Any]) -> str:
    """The case's own title from its start form; empty when the workflow gives none, so that
    pages show the workflow's title in each reader's language instead."""
    if not d.title_template:
        return ""
    try:
        return d.title_template.format_map(dict(values))[:300]
    except (KeyError, ValueError, IndexError):
        return ""


def start(
    workflow_id: str,
    org: int | Organization,
    actor: Any,
    values_in: Mapping[str, Any] | None = None,
    *,
    parent_id: int | None = None,
    commit: bool = True,
) -> ProcessInstance:
    """Open a new case of the workflow's current version at ``org`` (one transaction)."""
    try:
        case = _start(workflow_id, org, actor, values_in, parent_id)
        if commit:
            db.session.commit()
    except BaseException:
        if commit:
            db.session.rollback()
        raise
    return case


def _attach(session: Any, case: ProcessInstance) -> None:
    """``session.add`` of a case just written and made detached: it joins the identity map
    as the persistent copy of its row. Without add's save-update cascade: the object was
    filled from the row alone, none of its relationships is loaded, so the cascade (which
    cost more than the INSERT, bench/engine.py) would find nothing to walk.

    Joined as persistent, it is not among the objects SQLAlchemy takes out of the session
    when the transaction that inserted it rolls back: it is noted here and taken out then
    (``_forget_rolled_back``), or a later start given the same id (SQLite reuses a
    rolled-back rowid) could not join the session."""
    attach = getattr(session, "_save_or_update_impl", None)
    if attach is None:  # pragma: no cover - a SQLAlchemy without it: the public way
        session.add(case)
    else:
        attach(instance_state(case))
    inserted_in = session.get_nested_transaction() or session.get_transaction()
    session.info.setdefault(_STARTED, []).append((case, inserted_in))


_STARTED = "pbflow_started_cases"


def _forget_rolled_back(session: Any, previous_transaction: Any) -> None:
    """After a rollback: the cases started within the rolled-back transaction (or one
    nested in it) leave the session, their rows being gone."""
    started = session.info.get(_STARTED)
    if not started:
        return
    kept = []
    for case, inserted_in in started:
        t = inserted_in
        while t is not None and t is not previous_transaction:
            t = t.parent
        if t is None:
            kept.append((case, inserted_in))
        elif case in session:
            session.expunge(case)
    session.info[_STARTED] = kept


def _committed(session: Any) -> None:
    if session.get_nested_transaction() is None:  # the outermost: nothing left to undo
        session.info.pop(_STARTED, None)


def install_session_hooks(session_class: type) -> None:
    from sqlalchemy import event

    if not event.contains(session_class, "after_soft_rollback", _forget_rolled_back):
        event.listen(session_class, "after_soft_rollback", _forget_rolled_back)
        event.listen(session_class, "after_commit", _committed)


def _start(workflow_id, org, actor, values_in, parent_id) -> ProcessInstance:
    reg = registry()
    d = reg.get(workflow_id)
    # The session's organization index, not an ORM load: the kind is all a start needs.
    org_obj = actors.org_index().get(org.id if isinstance(org, Organization) else org)
    if org_obj is None:
        raise NotFound(_("No such organization."))
    if org_obj.kind not in d.run_by:
        raise InvalidState(
            _(
                "%(workflow)s is not run by this kind of organization.",
                workflow=d.title.get(_locale()),
            )
        )
    user = actor if isinstance(actor, User) else None
    subject_id = None
    if d.subject == "self":
        subject_id = actors.person_id_of_user(user.id) if user else None
        if subject_id is None:
            raise ValidationFailed(_("Your account has no member profile to apply with."))
    provisional = CaseState(
        id=None,
        definition_id=0,
        workflow_id=d.id,
        org_id=org_obj.id,
        state=d.initial,
        data={},
        version=0,
        entered_version=0,
        subject_person_id=subject_id,
        submitter_user_id=user.id if user else None,
        assignee_user_id=None,
        parent_id=parent_id,
        created_at=None,
        state_entered_at=None,
    )
    if not actors.may_act(d.start_by, actor, provisional):
        raise NotAllowed(
            _(
                "You may not start this here. It is started by: %(who)s.",
                who=_(", ").join(r.describe() for r in d.start_by),
            )
        )
    values = fields.validate(d.start_fields, values_in)
    if d.subject not in ("none", "self"):
        provisional.subject_person_id = values.get(d.subject)
    provisional.data = dict(values)
    ctx = Context(d, provisional, actor, values)
    block = _run_guards(d.start_guards, ctx, reg)
    if block is not None:
        raise GuardRefused(block.reason, available_from=block.available_from)
    provisional.definition_id = reg.ensure_stored(d, at=ctx.now)
    if user:
        provisional.data["_by"] = {"start": user.id}
    _apply_effects(d.start_effects, ctx, reg)
    now = ctx.now
    row = {
        "definition_id": provisional.definition_id,
        "workflow_id": d.id,
        "org_id": org_obj.id,
        "subject_person_id": provisional.subject_person_id,
        "submitter_user_id": provisional.submitter_user_id,
        "assignee_user_id": provisional.assignee_user_id,
        "parent_id": parent_id,
        "title": _render_title(d, values),
        "state": d.initial,
        "data": provisional.data,
        "version": 1,
        "entered_version": 1,
        "created_at": now,
        "updated_at": now,
        "state_entered_at": now,
        "due_at": compute_due(d, d.states[d.initial], ctx),
        "closed_at": None,
        "reminded_at": None,
        "overdue_at": None,
    }
    # The row is written with one raw INSERT (an ORM flush of one object costs more than
    # the rest of the start, bench/engine.py), after the same checks a flush makes; the
    # object then joins the session as the persistent copy of that row. It is filled as a
    # load fills it (its attribute dictionary), not through the instrumented constructor,
    # whose per-attribute events cost more than the INSERT.
    case = _CASE_MANAGER.new_instance()
    case.__dict__.update(row)
    if problems := validation.check_row(case, _TEXT_COLUMNS):
        raise ValidationFailed(_("Some fields need correcting."), field_errors=problems)
    case.__dict__["id"] = fastsql.insert_case(row)
    make_transient_to_detached(case)
    _attach(current_session(), case)
    audit.record(
        "case_started",
        actor=actor if user else (actor or SYSTEM),
        org_id=org_obj.id,
        instance_id=case.id,
        to_state=d.initial,
        payload={
            "workflow": d.id,
            "definition_id": case.definition_id,
            "fields": values,
            "parent_id": parent_id,
            audit.DATA_DIGEST: audit.data_written(case.id, row["data"]),
        },
        at=now,
    )
    tasks.write_new(case.id, tasks.compute(d, case), now, case.due_at)
    tally.record(None, case)
    return case


def pending_block(d: Any, cs: CaseState, user: Any, t: Any) -> Block | None:
    """What stops step ``t`` now, before its form is filled in: the first guard that refuses
    it, leaving out those that judge a field of the step's own form. ``user`` may be None
    (a step shown on a person's progress, not to an actor)."""
    own = {f.name for f in t.fields}
    pending = tuple(g for g in t.guards if g.params.get("field") not in own)
    return _run_guards(pending, Context(d, cs, user, {}, t))


def available_actions(case: int | ProcessInstance | CaseState, user: User) -> list[Action]:
    """What ``user`` may do on the case now, and (greyed) what they may do once a rule is met.

    Guards that judge a field of the step's own form are left for submission: they cannot be
    decided before the person has typed the value.
    """
    cs = case if isinstance(case, CaseState) else load_case(_case_id(case))
    if cs.closed_at is not None:
        return []
    d = registry().stored(cs.definition_id)
    result = []
    for t in d.transitions_from(cs.state):
        if t.system_only or not actors.may_act(t.by, user, cs):
            continue
        block = pending_block(d, cs, user, t)
        if block is not None and not t.show_blocked:
            continue
        result.append(
            Action(
                trigger=t.trigger,
                label=t.label,
                dest=t.dest,
                enabled=block is None,
                reason=block.reason if block else None,
                available_from=block.available_from if block else None,
                fields=t.fields,
                comment=t.comment,
            )
        )
    return result


def waiting_users(case: CaseState) -> set[int]:
    """Everyone who could take a (non-automatic) step on the case now."""
    d = registry().stored(case.definition_id)
    users: set[int] = set()
    for t in d.transitions_from(case.state):
        for rule in t.by:
            users.update(actors.users_for_rule(rule, case))
    return users
