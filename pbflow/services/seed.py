"""``pbflow seed --scale N``: a large, realistic data set for trying pbflow at scale and for
``bench/pages.py``.

What it adds (under the first top-level committee, the demo's included, or a new one): general
branches and about fifty branches with party groups, thousands of people with accounts for each
branch's officers, cases of every workflow walked through their own transitions to every
state, meetings with attendance, and opinions. Everything is written in ONE transaction
together with the audit events that describe it: each case's ``case_started`` and
``transition`` events lead to exactly the state and version stored (``pbflow audit verify``
replays them), each meeting's ``meeting_recorded`` event carries its snapshot, and the events
are hashed, sealed and chained by the very code that appends every other event
(``audit.append_bulk``). Only the rows are written in bulk instead of one engine call per
step: a walk follows the workflow's declared transitions (not its guards and effects, which
check real-world dates and papers), so 100,000 cases take minutes instead of hours.

The content is reproducible from ``seed`` (random.Random(seed)); ids follow what the database
already holds, and each event's random salt differs from run to run, as always.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select, text

from pbflow import audit, clock
from pbflow.engine import actors, tally, tasks
from pbflow.engine.definitions import Definition, FieldSpec
from pbflow.engine.errors import ValidationFailed
from pbflow.engine.registry import registry
from pbflow.extensions import db
from pbflow.models import (
    Meeting,
    MeetingAttendance,
    Organization,
    Person,
    ProcessInstance,
    RoleAssignment,
    User,
)
from pbflow.models.meetings import MEETING_TYPES
from pbflow.models.people import new_session_token
from pbflow.services import training_totals
from pbflow.services.accounts import hash_password

MAX_SCALE = 1_000_000
PASSWORD = "pbflow-demo"  # the demo's password: seeded officers log in like the demo's people
STUDY_MEETINGS = ("party_lecture", "theme_day")  # the seed's meetings that give training
STUDY = (60, 120, 180)  # minutes of training for each member present
# Share of cases per workflow (those installed; the rest is spread over what is there).
MIX = {
    "opinion": 30,
    "member_development": 20,
    "rectification": 15,
    "activity_funding": 15,
    "supervision_notice": 12,
    "life_meeting": 8,
}
# A development case's state -> its subject's party standing (the effects' set_party_status).
STANDING = {
    "applied": "applicant",
    "application_returned": "applicant",
    "applicant": "applicant",
    "activist_filing": "activist",
    "activist": "activist",
    "target_filing": "activist",
    "rejected": "none",
    "withdrawn": "none",
    "cancelled": "none",
    "archiving": "full",
    "archived": "full",
}
_PROBATION_STATES = {
    "probation",
    "conversion_discussion",
    "conversion_meeting",
    "conversion_approval",
}
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红建国志海波辉鹏"
EDUCATION = ("高中", "中专", "大专", "本科", "本科", "硕士研究生")
TOPICS = ("学习贯彻党的创新理论", "安全生产专题", "组织生活会准备", "发展党员工作", "主题党日活动")
LEAVE = ("病假", "事假", "出差", "未请假")  # a per-person field's lines (reasons for absence)
BATCH = 5000


class _Actor:
    """What ``audit`` needs of a user: the id and the username."""

    __slots__ = ("id", "username")

    def __init__(self, user_id: int, username: str):
        self.id = user_id
        self.username = username


@dataclass
class SeedReport:
    seed: int
    scale: int
    root_code: str
    orgs: int = 0
    branches: int = 0
    people: int = 0
    users: int = 0
    cases: int = 0
    cases_by_state: dict[str, int] = field(default_factory=dict)
    meetings: int = 0
    events: int = 0

    def summary(self) -> str:
        return (
            f"seed {self.seed}, scale {self.scale} under '{self.root_code}': "
            f"{self.orgs} organizations ({self.branches} branches), {self.people} people, "
            f"{self.users} accounts, {self.cases} cases in {len(self.cases_by_state)} "
            f"workflow states, {self.meetings} meetings, {self.events} audit events"
        )


@dataclass
class _Org:
    id: int
    code: str
    kind: str
    path: str
    officers: list[_Actor] = field(default_factory=list)
    members: list[int] = field(default_factory=list)  # person ids


class _Ids:
    """Next free ids per table (rows are inserted with their ids, in bulk)."""

    def __init__(self) -> None:
        self.next: dict[str, int] = {}

    def take(self, table: Any) -> int:
        name = table.name
        if name not in self.next:
            top = db.session.execute(select(func.max(table.c.id))).scalar()
            self.next[name] = (top or 0) + 1
        value = self.next[name]
        self.next[name] += 1
        return value


class _Seeder:
    def __init__(self, scale: int, seed: int, years: int, now: datetime):
        self.rng = random.Random(seed)
        self.scale = scale
        self.seed = seed
        self.now = now
        self.start = now - timedelta(days=365 * years)
        self.prefix = f"seed{seed}"
        self.ids = _Ids()
        self.events: list[tuple] = []  # (at, order, kwargs) sorted before appending
        self.rows: dict[str, list[dict[str, Any]]] = {}
        self.orgs: list[_Org] = []
        self.password = hash_password(PASSWORD)
        self.report: SeedReport | None = None

    # --- helpers ---------------------------------------------------------------------------

    def row(self, model: Any, **values: Any) -> int:
        table = model.__table__
        if "id" not in values:
            values["id"] = self.ids.take(table)
        self.rows.setdefault(table.name, []).append(values)
        return values["id"]

    def event(self, at: datetime, action: str, **kwargs: Any) -> None:
        self.events.append((at, len(self.events), action, kwargs))

    def when(self) -> datetime:
        span = (self.now - self.start).total_seconds()
        at = self.start + timedelta(seconds=self.rng.random() * span)
        return at.replace(microsecond=self.rng.randrange(1_000_000))

    def name(self) -> str:
        rng = self.rng
        return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))

    # --- organizations and people ------------------------------------------------------------

    def root(self) -> Organization:
        root = db.session.execute(
            select(Organization)
            .where(Organization.parent_id.is_(None), Organization.kind == "committee")
            .order_by(Organization.id)
            .limit(1)
        ).scalar_one_or_none()
        if root is not None:
            return root
        org_id = self.ids.take(Organization.__table__)
        root = Organization(
            id=org_id,
            code=self.prefix,
            name="规模测试党委",
            name_en="Scale Test Committee",
            kind="committee",
            parent_id=None,
            path=f"/{org_id}/",
            settings={},
        )
        db.session.add(root)
        db.session.flush()
        self.event(
            self.start,
            "org_created",
            org_id=org_id,
            payload={
                "code": root.code,
                "name": root.name,
                "kind": "committee",
                "parent_id": None,
            },
        )
        return root

    def org(self, parent: _Org, kind: str, code: str, name: str, name_en: str) -> _Org:
        org_id = self.ids.take(Organization.__table__)
        path = f"{parent.path}{org_id}/"
        self.row(
            Organization,
            id=org_id,
            code=code,
            name=name,
            name_en=name_en,
            kind=kind,
            parent_id=parent.id,
            path=path,
            active=True,
            settings={},
            created_at=self.start,
        )
        self.event(
            self.start,
            "org_created",
            org_id=org_id,
            payload={
                "code": code,
                "name": name,
                "kind": kind,
                "parent_id": parent.id,
            },
        )
        made = _Org(org_id, code, kind, path)
        self.orgs.append(made)
        return made

    def person(self, org: _Org, status: str, at: datetime, user_id: int | None = None) -> int:
        rng = self.rng
        born = date(1960 + rng.randrange(45), 1 + rng.randrange(12), 1 + rng.randrange(28))
        values = {
            "name": self.name(),
            "gender": rng.choice(("男", "女")),
            "birth_date": born,
            "education": rng.choice(EDUCATION),
            "party_status": status,
        }
        if status == "full":
            joined = born + timedelta(days=365 * 25 + rng.randrange(3000))
            values["full_member_on"] = min(joined, at.date())
        row = {
            "org_id": org.id,
            "user_id": user_id,
            "active": True,
            "on_party_probation": False,
            **values,
        }
        person_id = self.row(Person, created_at=at, **row)
        self.event(
            at,
            "person_created",
            org_id=org.id,
            payload={
                "person_id": person_id,
                "values": audit_values(values),
                audit.PERSON_DIGEST: audit.person_digest(row),
            },
        )
        return person_id

    def officer(self, org: _Org, roles: tuple[str, ...], label: str) -> _Actor:
        username = f"{self.prefix}.{org.code.rsplit('-', 1)[-1]}.{label}"
        user_id = self.row(
            User,
            username=username,
            display_name=self.name(),
            password_hash=self.password,
            active=True,
            failed_logins=0,
            email_mode="off",
            session_token=new_session_token(),
            created_at=self.start,
        )
        self.event(
            self.start,
            "user_created",
            payload={
                "user_id": user_id,
                "username": username,
                audit.CREDENTIAL_DIGEST: audit.credential_digest(self.password),
            },
        )
        for role in roles:
            self.row(
                RoleAssignment, user_id=user_id, org_id=org.id, role=role, created_at=self.start
            )
            self.event(
                self.start,
                "role_granted",
                org_id=org.id,
                payload={
                    "user_id": user_id,
                    "username": username,
                    "role": role,
                },
            )
        person_id = self.person(org, "full", self.start, user_id=user_id)
        org.members.append(person_id)
        officer = _Actor(user_id, username)
        org.officers.append(officer)
        return officer

    def tree(self, root: Organization) -> list[_Org]:
        top = _Org(root.id, root.code, root.kind, root.path)
        branches = min(50, max(4, self.scale // 20))
        generals = max(1, branches // 10)
        gbs = [
            self.org(
                top,
                "general_branch",
                f"{self.prefix}-g{i + 1}",
                f"第{i + 1}党总支（测试）",
                f"General Branch {i + 1} (seed)",
            )
            for i in range(generals)
        ]
        for gb in gbs:
            self.officer(gb, ("secretary", "committee"), "sec")
        out = []
        for i in range(branches):
            parent = gbs[i % generals] if i % 5 else top
            b = self.org(
                parent,
                "branch",
                f"{self.prefix}-b{i + 1}",
                f"第{i + 1}党支部（测试）",
                f"Branch {i + 1} (seed)",
            )
            self.officer(b, ("secretary", "branch_committee"), "sec")
            self.officer(b, ("organizing_member", "branch_committee"), "org")
            group = self.org(
                b,
                "party_group",
                f"{self.prefix}-b{i + 1}g1",
                f"第{i + 1}党支部第一党小组（测试）",
                f"Branch {i + 1}, Group 1 (seed)",
            )
            group.officers = b.officers
            out.append(b)
        people = max(60, self.scale // 25)
        statuses = ("full",) * 14 + ("probationary", "activist", "applicant", "none", "none")
        for _ in range(people):
            b = self.rng.choice(out)
            status = self.rng.choice(statuses)
            pid = self.person(b, status, self.when())
            if status in ("full", "probationary"):
                b.members.append(pid)
        return out

    # --- cases -------------------------------------------------------------------------------

    def value(
        self, spec: FieldSpec, at: datetime, org: _Org, subject: int | None, data=None
    ) -> Any:
        rng, t = self.rng, spec.type
        if t == "date":
            return (at - timedelta(days=rng.randrange(3))).date().isoformat()
        if t in ("string", "text"):
            return rng.choice(TOPICS)[: spec.max_length or 200]
        if t == "choice" and spec.choices:
            return rng.choice(spec.choices).value
        if t == "multichoice" and spec.choices:
            return [spec.choices[0].value]
        if t == "boolean":
            return False
        if t in ("integer", "number"):
            low = int(spec.min) if spec.min is not None else 1
            high = int(spec.max) if spec.max is not None else max(low, 5000)
            return rng.randint(low, max(low, min(high, low + 5000)))
        if t == "person":
            return subject or (rng.choice(org.members) if org.members else None)
        if t == "persons":
            return sorted(set(rng.sample(org.members, min(3, len(org.members)))))
        if t == "user":
            return rng.choice(org.officers).id if org.officers else None
        if t == "per_person_text":  # a line for the last of its people, as the case has them
            people = (data or {}).get(spec.people) or []
            return {str(people[-1]): rng.choice(LEAVE)} if people else None
        return None  # files: none are stored by the seed

    def values(self, specs: tuple[FieldSpec, ...], at, org, subject, data=None) -> dict[str, Any]:
        out = {}
        for spec in specs:
            if not spec.required and self.rng.random() < 0.5:
                continue
            v = self.value(spec, at, org, subject, data)
            if v is not None:
                out[spec.name] = v
        return out

    def case(self, d: Definition, definition_id: int, org: _Org, plan: _Plan) -> str:
        rng = self.rng
        at = self.when()
        case_id = self.ids.take(ProcessInstance.__table__)
        starter = rng.choice(org.officers)
        subject = None
        if d.subject not in ("none",):
            subject = self.person(org, "applicant", at)
        values = self.values(d.start_fields, at, org, subject)
        if d.subject not in ("none", "self"):
            values[d.subject] = subject
        anonymous = d.id == "opinion" and rng.random() < 0.4
        data: dict[str, Any] = dict(values)
        if not anonymous:
            data["_by"] = {"start": starter.id}
        created = at
        self.event(
            at,
            "case_started",
            actor=audit.ANONYMOUS if anonymous else starter,
            org_id=org.id,
            instance_id=case_id,
            to_state=d.initial,
            payload={
                "workflow": d.id,
                "definition_id": definition_id,
                "fields": values,
                "parent_id": None,
                audit.DATA_DIGEST: audit.data_digest(data),
            },
        )
        state, version, entered = d.initial, 1, at
        assignee = values.get("owner") or values.get("recipient")
        steps = rng.randint(0, plan.depth + 2)
        for _ in range(steps):
            t = plan.next(state, rng)
            if t is None:
                break
            step_at = at + timedelta(days=rng.randint(1, 20), seconds=rng.randrange(86400))
            if step_at >= self.now:
                break
            at = step_at
            system = all(rule.kind == "system" for rule in t.by)
            actor = audit.SYSTEM if system else rng.choice(org.officers)
            fields = self.values(t.fields, at, org, subject, data)
            payload: dict[str, Any] = {"trigger": t.trigger}
            if fields:
                payload["fields"] = fields
            data.update(fields)
            if not system:
                data["_by"] = {**data.get("_by", {}), t.trigger: actor.id}
            if "handler" in fields:
                assignee = fields["handler"]
                payload["assignee"] = assignee
            _opinion_marks(t.trigger, at, data, rng)
            payload[audit.DATA_DIGEST] = audit.data_digest(data)
            self.event(
                at,
                "transition",
                actor=actor,
                org_id=org.id,
                instance_id=case_id,
                from_state=state,
                to_state=t.dest,
                payload=payload,
            )
            state, version, entered = t.dest, version + 1, at
        final = d.states[state].final
        due = None if final else entered + timedelta(days=rng.choice((7, 15, 30, 60)))
        title = ""
        if d.title_template:
            try:
                title = d.title_template.format_map(values)[:300]
            except (KeyError, ValueError, IndexError):
                title = ""
        self.row(
            ProcessInstance,
            id=case_id,
            definition_id=definition_id,
            workflow_id=d.id,
            org_id=org.id,
            subject_person_id=subject,
            submitter_user_id=None if anonymous else starter.id,
            assignee_user_id=assignee,
            parent_id=None,
            title=title,
            state=state,
            data=data,
            version=version,
            entered_version=version,
            created_at=created,
            updated_at=entered,
            state_entered_at=entered,
            closed_at=entered if final else None,
            due_at=due,
        )
        if subject is not None and d.id == "member_development":
            standing = "probationary" if state in _PROBATION_STATES else STANDING.get(state)
            person = next(r for r in reversed(self.rows["person"]) if r["id"] == subject)
            before, after = person["party_status"], standing or "target"
            if after != before:
                # As the development effects do: the person's new standing is recorded.
                person["party_status"] = after
                self.event(
                    entered,
                    "person_updated",
                    org_id=org.id,
                    instance_id=case_id,
                    from_state=state,
                    payload={
                        "person_id": subject,
                        "before": {"party_status": before},
                        "after": {"party_status": after},
                        "step": "seed",
                        audit.PERSON_DIGEST: audit.person_digest(person),
                    },
                )
        return f"{d.id}:{state}"

    # --- meetings ----------------------------------------------------------------------------

    def meeting(self, org: _Org) -> None:
        rng = self.rng
        at = self.when()
        meeting_id = self.ids.take(Meeting.__table__)
        chair = org.members[0] if org.members else None
        recorder = org.members[1] if len(org.members) > 1 else chair
        expected = org.members[:80]
        absent = {pid: "病假" for pid in expected if rng.random() < 0.1}
        mtype = rng.choice(MEETING_TYPES)
        values = {
            "meeting_type": mtype,
            "held_on": at.date(),
            "topic": rng.choice(TOPICS),
            "place": "会议室",
            "chair_person_id": chair,
            "recorder_person_id": recorder,
            "agenda": None,
            "minutes": "会议按议程进行，参会党员围绕主题逐一发言。",
            "resolutions": None,
            # Party lectures and theme days give their members present 1 to 3 hours of
            # training (DOMAIN 3), taken from the id: the seed's other values stay as they were.
            "training_minutes": STUDY[meeting_id % 3] if mtype in STUDY_MEETINGS else None,
        }
        self.row(
            Meeting,
            id=meeting_id,
            org_id=org.id,
            recorded_by=org.officers[0].id,
            created_at=at,
            updated_at=at,
            version=1,
            **values,
        )
        for pid in expected:
            self.row(
                MeetingAttendance,
                meeting_id=meeting_id,
                person_id=pid,
                present=pid not in absent,
                reason=absent.get(pid),
            )
        snapshot = {
            "meeting_type": values["meeting_type"],
            "held_on": values["held_on"].isoformat(),
            "topic": values["topic"],
            "place": values["place"],
            "chair": chair,
            "recorder": recorder,
            "agenda": None,
            "minutes": values["minutes"],
            "resolutions": None,
            "training_minutes": values["training_minutes"],
            "present": sorted(pid for pid in expected if pid not in absent),
            "absent": {str(pid): reason for pid, reason in absent.items()},
        }
        self.event(
            at,
            "meeting_recorded",
            actor=org.officers[0],
            org_id=org.id,
            payload={"meeting_id": meeting_id, **snapshot, "attachments": []},
        )

    # --- the whole run -----------------------------------------------------------------------

    def run(self) -> SeedReport:
        taken = db.session.execute(
            select(Organization.id).where(Organization.code.like(f"{self.prefix}-%")).limit(1)
        ).first()
        if taken:
            raise ValidationFailed(
                f"this database already holds seed {self.seed}; use another --seed number"
            )
        root = self.root()
        branches = self.tree(root)
        report = SeedReport(
            self.seed, self.scale, root.code, orgs=len(self.orgs), branches=len(branches)
        )
        reg = registry()
        installed = [w for w in MIX if _has(reg, w)]
        weights = [MIX[w] for w in installed]
        plans, defs, where = {}, {}, {}
        for wid in installed:
            d = reg.get(wid)
            defs[wid] = (d, reg.ensure_stored(d, at=self.start))
            plans[wid] = _Plan(d)
            where[wid] = [o for o in self.orgs if o.kind in d.run_by and o.officers] or branches
        for _ in range(self.scale):
            wid = self.rng.choices(installed, weights)[0]
            d, def_id = defs[wid]
            org = self.rng.choice(where[wid])
            # Each case draws from its own stream, seeded from the run's: another field in
            # one workflow's forms changes that workflow's cases, not every later case of
            # every other workflow.
            run, self.rng = self.rng, random.Random(self.rng.getrandbits(64))
            try:
                key = self.case(d, def_id, org, plans[wid])
            finally:
                self.rng = run
            report.cases_by_state[key] = report.cases_by_state.get(key, 0) + 1
        for _ in range(max(10, self.scale // 40)):
            self.meeting(self.rng.choice(branches))
        report.cases = self.scale
        report.meetings = len(self.rows.get("meeting", ()))
        report.people = len(self.rows.get("person", ()))
        report.users = len(self.rows.get("user_account", ()))
        self.write()
        report.events = len(self.events)
        self.report = report
        return report

    def write(self) -> None:
        order = (
            "organization",
            "user_account",
            "role_assignment",
            "person",
            "process_instance",
            "meeting",
            "meeting_attendance",
        )
        tables = db.Model.metadata.tables
        for name in order:
            rows = self.rows.get(name, [])
            keys = {k for r in rows for k in r}
            for r in rows:  # one statement for all rows: every row names every column
                for k in keys:
                    r.setdefault(k, None)
            for i in range(0, len(rows), BATCH):
                db.session.execute(insert(tables[name]), rows[i : i + BATCH])
        self.events.sort(key=lambda e: (e[0], e[1]))
        for i in range(0, len(self.events), BATCH):
            audit.append_bulk(
                audit.make_event(action, at=at, **kwargs)
                for at, _order, action, kwargs in self.events[i : i + BATCH]
            )
        if db.session.get_bind().dialect.name == "postgresql":
            for name in order:
                db.session.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{name}', 'id'),"
                        f" (SELECT max(id) FROM {name}))"
                    )
                )


class _Plan:
    """How a walk moves forward: from each state, the transitions that bring a final state
    closer (taken most of the time) and the others (returns, side steps)."""

    def __init__(self, d: Definition):
        self.d = d
        by_source: dict[str, list] = {}
        for t in d.transitions:
            for s in d.expand_sources(t):
                by_source.setdefault(s, []).append(t)
        self.by_source = by_source
        # The way to the end that goes furthest (closed, archived ...): the distance of every
        # state to that final state, by breadth-first searches forwards and backwards.
        ahead = _distances(d.initial, lambda s: (t.dest for t in by_source.get(s, ())))
        finals = [s for s in ahead if d.states[s].final] or list(ahead)
        goal = max(finals, key=lambda s: ahead[s])
        into: dict[str, set[str]] = {}
        for s, ts in by_source.items():
            for t in ts:
                into.setdefault(t.dest, set()).add(s)
        self.dist = _distances(goal, lambda s: into.get(s, ()))
        self.depth = max(self.dist.values(), default=1)

    def next(self, state: str, rng: random.Random) -> Any:
        options = [t for t in self.by_source.get(state, ()) if t.dest != state]
        if not options:
            return None
        here = self.dist.get(state, 999)
        forward = [t for t in options if self.dist.get(t.dest, 999) < here]
        if forward and rng.random() < 0.9:
            return rng.choice(forward)
        return rng.choice(options)


def _distances(start: str, neighbours: Any) -> dict[str, int]:
    dist = {start: 0}
    todo = deque([start])
    while todo:
        s = todo.popleft()
        for n in neighbours(s):
            if n not in dist:
                dist[n] = dist[s] + 1
                todo.append(n)
    return dist


def _opinion_marks(trigger: str, at: datetime, data: dict[str, Any], rng: random.Random) -> None:
    """What the opinion box's effects keep in a case's data (``opinion_box/effects.py``): the
    answer's time limit, the first publication and whether it was on time, reopenings; the
    book's figures read them."""
    today = at.date()
    if trigger == "accept" and "answer_due" not in data:
        data["answer_due"] = (today + timedelta(days=rng.choice((10, 15, 20)))).isoformat()
    elif trigger == "publish" and "first_published_on" not in data:
        data["first_published_on"] = today.isoformat()
        data["on_time"] = today.isoformat() <= data.get("answer_due", today.isoformat())
    elif trigger == "reject_answer":
        data["reopen_count"] = int(data.get("reopen_count") or 0) + 1


def _has(reg: Any, workflow_id: str) -> bool:
    try:
        reg.get(workflow_id)
    except Exception:  # noqa: BLE001 - a workflow that is not installed
        return False
    return True


def audit_values(values: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, date) else v) for k, v in values.items()}


def seed(scale: int, seed_number: int = 1, *, years: int = 3) -> SeedReport:
    """Add a data set of ``scale`` cases (and what they need) in one transaction."""
    if not 1 <= scale <= MAX_SCALE:
        raise ValidationFailed(f"--scale must be between 1 and {MAX_SCALE}")
    if not 1 <= years <= 20:
        raise ValidationFailed("--years must be between 1 and 20")
    seeder = _Seeder(scale, seed_number, years, clock.now())
    try:
        last_case = db.session.execute(select(func.max(ProcessInstance.id))).scalar() or 0
        last_person = db.session.execute(select(func.max(Person.id))).scalar() or 0
        report = seeder.run()
        db.session.flush()
        actors.forget_orgs()  # the seeded branches, for the work-waiting rows
        tasks.fill(after_id=last_case)  # the inbox's rows, in the same transaction
        tally.fill(last_case, last_person)  # and the figures' counts
        training_totals.fill()  # and the members' training minutes of the seeded meetings
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    actors.forget_orgs()
    actors.forget_roles()
    # Fresh planner statistics: after a bulk load PostgreSQL still believes the tables small
    # (until autovacuum comes round) and picks plans that sort every row. On PostgreSQL a
    # VACUUM too, which sets the visibility map: until then an index-only scan (the inbox,
    # the opinion book's figures) fetches every row from the table as well.
    if db.engine.dialect.name == "postgresql":
        db.session.close()
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM (ANALYZE)")
    else:
        db.session.execute(text("ANALYZE"))
        db.session.commit()
    return report
