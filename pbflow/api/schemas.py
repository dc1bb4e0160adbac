"""The API's request and response shapes, as pydantic models: SpecTree validates requests and
responses with them and writes them into the OpenAPI document, so the two cannot drift."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Open(BaseModel):
    model_config = ConfigDict(extra="allow")


# --- problems ---------------------------------------------------------------------------------


class ProblemDetails(Open):
    """RFC 9457 problem details, in the language asked for."""

    type: str = "about:blank"
    title: str
    status: int = Field(ge=400, le=599)
    detail: str
    instance: str | None = None
    field_errors: dict[str, str] | None = None
    available_from: str | None = None
    details: dict[str, Any] | None = None
    retry_after: int | None = None


# --- lists --------------------------------------------------------------------------------------


class PageQuery(Strict):
    cursor: str | None = Field(default=None, max_length=200)
    limit: int = Field(default=25, ge=1, le=100)


# --- cases --------------------------------------------------------------------------------------


class CaseQuery(PageQuery):
    workflow: str | None = Field(default=None, max_length=200)
    state: str | None = Field(default=None, max_length=200)
    org: int | None = Field(default=None, ge=1, le=2**31 - 1)
    person: str | None = Field(default=None, max_length=200)
    q: str | None = Field(default=None, max_length=200)
    overdue: bool = False
    status: Literal["open", "closed", "all"] = "open"
    date_from: str | None = Field(default=None, max_length=20, description="2026-03-01")
    date_to: str | None = Field(default=None, max_length=20, description="2026-03-31")


class CaseSummary(Strict):
    id: int
    title: str | None
    workflow: str
    workflow_label: str
    state: str
    state_label: str | None
    org_id: int
    org: str | None
    subject: str | None
    version: int
    overdue: bool
    due_at: AwareDatetime | None
    closed_at: AwareDatetime | None
    created_at: AwareDatetime | None
    updated_at: AwareDatetime | None


class CaseList(Strict):
    items: list[CaseSummary]
    # Counted no further than a limit: with ``total_exact`` false, more than ``total`` - 1
    # (1,000); follow ``next_cursor`` to the end all the same.
    total: int
    total_exact: bool
    next_cursor: str | None


class FieldOut(Strict):
    name: str
    type: str
    label: str | None
    required: bool
    choices: list[str]
    people: str | None = Field(
        default=None,
        description="a per_person_text field's: the persons field of the case whose people it "
        'has a line for; its value is {"<person id>": "text"}',
    )


class ActionOut(Strict):
    trigger: str
    label: str | None
    dest: str | None
    enabled: bool
    reason: str | None
    available_from: str | None
    comment: str | None
    fields: list[FieldOut]


class Actions(Strict):
    version: int
    state: str
    actions: list[ActionOut]


class TimelineOut(Strict):
    seq: int
    at: AwareDatetime | None
    actor: str | None
    action: str
    text: str | None
    from_state: str | None
    to_state: str | None
    comment: str | None


class CommentOut(Strict):
    id: int
    author: str | None
    body: str
    created_at: AwareDatetime


class AttachmentOut(Strict):
    id: int
    filename: str
    content_type: str
    size: int
    purpose: str | None
    uploaded_by: str | None
    created_at: AwareDatetime
    download: str


class CaseDetail(CaseSummary):
    data: dict[str, Any]
    fields: list[dict[str, Any]] = Field(
        description="name, label, text (for reading, in the language asked for) and value "
        "(the stored value, as in data)"
    )
    actions: list[ActionOut]
    parent_id: int | None
    children: list[dict[str, Any]]
    timeline: list[TimelineOut]
    comments: list[CommentOut]
    attachments: list[AttachmentOut]
    vote: dict[str, Any] | None


class FileIn(Strict):
    filename: str = Field(min_length=1, max_length=255)
    content_base64: str = Field(max_length=30_000_000)


class StartIn(Strict):
    workflow: str = Field(min_length=1, max_length=64)
    org_id: int = Field(ge=1, le=2**31 - 1)
    values: dict[str, Any] = Field(default_factory=dict)
    files: dict[str, FileIn] = Field(default_factory=dict)


class StepIn(Strict):
    trigger: str = Field(min_length=1, max_length=64)
    values: dict[str, Any] = Field(default_factory=dict)
    files: dict[str, FileIn] = Field(default_factory=dict)
    version: int | None = Field(default=None, ge=1, le=2**31 - 1)
    comment: str | None = Field(default=None, max_length=4000)


class StepOut(Strict):
    id: int
    state: str
    version: int


class BallotIn(Strict):
    choice: Literal["for", "against", "abstain"]


class BallotOut(Strict):
    id: int
    choice: str | None


class ResolutionIn(Strict):
    meeting_date: str = Field(max_length=20, description="2026-03-01")
    attended: int = Field(ge=0, le=100_000)
    votes_for: int = Field(ge=0, le=100_000)
    votes_against: int = Field(ge=0, le=100_000)
    votes_abstain: int = Field(ge=0, le=100_000)
    written_for: int = Field(default=0, ge=0, le=100_000)
    written_against: int = Field(default=0, ge=0, le=100_000)
    written_abstain: int = Field(default=0, ge=0, le=100_000)
    minutes: FileIn | None = None
    version: int | None = Field(default=None, ge=1, le=2**31 - 1)


class ResolutionOut(Strict):
    id: int
    result: str


class CommentIn(Strict):
    body: str = Field(min_length=1, max_length=4000)


class Comments(Strict):
    items: list[CommentOut]


class Attachments(Strict):
    items: list[AttachmentOut]


class StartOptionOut(Strict):
    workflow: str
    label: str
    org_ids: list[int]


class StartOptions(Strict):
    items: list[StartOptionOut]


# --- inbox and notifications -----------------------------------------------------------------


class InboxItemOut(Strict):
    case: CaseSummary
    title: str  # whom or what the case is about
    steps: list[str]  # triggers of the steps that move the case on
    options: list[str]  # triggers of the steps the caller merely may take
    vote: bool  # a ballot to cast
    record: bool  # a meeting's resolution to record


class NotificationOut(Strict):
    id: int
    case_id: int | None
    kind: str
    text: str
    created_at: AwareDatetime
    read_at: AwareDatetime | None


class InboxQuery(Strict):
    # The next page of one list: a ``next_cursor`` (what waits) or ``next_possible_cursor``.
    cursor: str | None = Field(default=None, max_length=200)
    possible_cursor: str | None = Field(default=None, max_length=200)


class InboxOut(Strict):
    items: list[InboxItemOut]  # what waits on the caller (a page of ``total``)
    # Counted no further than a limit: with ``total_exact`` false, more than ``total`` - 1
    # cases wait (1,000 for ``items``, 100 for ``possible``).
    total: int
    total_exact: bool
    possible: list[InboxItemOut]  # where the caller merely may act (a page of possible_total)
    possible_total: int
    possible_total_exact: bool
    unread: int
    next_cursor: str | None = None  # the next page of ``items`` (None: the last)
    next_possible_cursor: str | None = None  # the next page of ``possible``


class NotificationList(Strict):
    items: list[NotificationOut]
    unread: int
    next_cursor: str | None


class ReadCount(Strict):
    marked: int


# --- people and organizations -------------------------------------------------------------------


class PeopleQuery(PageQuery):
    q: str | None = Field(default=None, max_length=200)
    org: int | None = Field(default=None, ge=1, le=2**31 - 1)
    party_status: str | None = Field(default=None, max_length=20)


class PersonOut(Open):
    id: int
    name: str
    org_id: int
    party_status: str
    party_status_label: str
    active: bool


class PeopleList(Strict):
    items: list[PersonOut]
    total: int
    next_cursor: str | None


class OrgOut(Strict):
    id: int
    code: str
    name: str
    name_en: str | None
    kind: str
    parent_id: int | None
    active: bool


class OrgList(Strict):
    items: list[OrgOut]


class ImportIn(Strict):
    csv_base64: str = Field(max_length=30_000_000)
    filename: str = Field(default="people.csv", max_length=255)
    dry_run: bool = True


class ImportOut(Open):
    applied: bool
    created: int
    updated: int
    errors: list[dict[str, Any]]


# --- meetings, compliance, supervision ---------------------------------------------------------


class MeetingQuery(PageQuery):
    org: int | None = Field(default=None, ge=1, le=2**31 - 1)
    year: int | None = Field(default=None, ge=1900, le=2999)
    type: str | None = Field(default=None, max_length=30)


class MeetingOut(Open):
    id: int
    org_id: int
    type: str
    type_label: str
    topic: str | None
    held_on: str | None


class VoteIn(Strict):
    text: str = Field(min_length=1, max_length=500, description="the resolution put to the vote")
    votes_for: int = Field(ge=0, le=9999)
    against: int = Field(ge=0, le=9999)
    abstained: int = Field(ge=0, le=9999)


class MeetingIn(Strict):
    org_id: int = Field(ge=1, le=2**31 - 1)
    meeting_type: str = Field(max_length=30)
    held_on: str = Field(max_length=20, description="2026-03-01")
    topic: str = Field(max_length=300)
    place: str = Field(default="", max_length=200)
    chair: int = Field(ge=1, le=2**31 - 1, description="a person id: who chaired or lectured")
    recorder: int = Field(ge=1, le=2**31 - 1, description="a person id: who kept the record")
    agenda: str = Field(default="", max_length=20_000)
    minutes: str = Field(default="", max_length=100_000)
    resolutions: str = Field(default="", max_length=20_000)
    votes: list[VoteIn] = Field(
        default_factory=list,
        max_length=30,
        description="resolutions put to the vote (general and committee meetings); pbflow "
        "says whether each passed",
    )
    present: list[int] = Field(default_factory=list, max_length=10_000)
    reasons: dict[str, str] = Field(
        default_factory=dict,
        description="person id -> why absent, at most 300 characters: required for every "
        "member who should attend and is not in `present` (the leave asked for, or absent "
        "without leave, 未请假); a missing or blank one is refused in `field_errors` as "
        "`reason_<person id>`",
    )
    files: list[FileIn] = Field(default_factory=list, max_length=20)


class MeetingDetail(Open):
    id: int
    org_id: int
    type: str
    topic: str
    held_on: str
    present: list[dict[str, Any]]
    absent: list[dict[str, Any]]
    files: list[dict[str, Any]]


class MeetingList(Strict):
    items: list[MeetingOut]
    # Counted no further than a limit: with ``total_exact`` false, more than ``total`` - 1
    # (1,000); follow ``next_cursor`` to the end all the same.
    total: int
    total_exact: bool
    next_cursor: str | None


class YearQuery(Strict):
    year: int | None = Field(default=None, ge=1900, le=2999)
    org: int | None = Field(default=None, ge=1, le=2**31 - 1)


class Figures(Open):
    pass


# --- opinion box ---------------------------------------------------------------------------------


class OpinionIn(Strict):
    org_code: str = Field(min_length=1, max_length=64)
    values: dict[str, str | bool] = Field(
        default_factory=dict, description="the opinion form's fields (category, text, ...)"
    )


class OpinionOut(Strict):
    code: str
    org_name: str
    subject: str
    submitted_at: AwareDatetime
    answer_due: str | None
    anonymous: bool


class FollowIn(Strict):
    code: str = Field(min_length=1, max_length=64)


class OpinionStepIn(Strict):
    code: str = Field(min_length=1, max_length=64)
    trigger: str = Field(min_length=1, max_length=64)
    values: dict[str, str | int | bool] = Field(default_factory=dict)
    version: int | None = Field(default=None, ge=1, le=2**31 - 1)


class FollowOut(Open):
    state: str
    state_label: str | None
    closed: bool


# --- audit ---------------------------------------------------------------------------------------


class AuditQuery(PageQuery):
    action: str | None = Field(default=None, max_length=64)
    actor: str | None = Field(default=None, max_length=120)
    case: int | None = Field(default=None, ge=1, le=2**31 - 1)
    org: int | None = Field(default=None, ge=1, le=2**31 - 1)
    date_from: str | None = Field(default=None, max_length=20)
    date_to: str | None = Field(default=None, max_length=20)


class AuditEventOut(Strict):
    seq: int
    at: AwareDatetime
    actor: str
    action: str
    org_id: int | None
    case_id: int | None
    from_state: str | None
    to_state: str | None
    payload: dict[str, Any]
    hash: str


class AuditList(Strict):
    items: list[AuditEventOut]
    next_cursor: str | None


class AuditHeadOut(Strict):
    seq: int
    hash: str


class AuditVerifyOut(Open):
    ok: bool
    checked: int
    problem: str | None


# --- tokens and me -------------------------------------------------------------------------------


class TokenIn(Strict):
    name: str = Field(min_length=1, max_length=80)
    scope: Literal["read", "act", "admin"] = "read"
    days: int = Field(default=90, ge=1, le=366)
    kind: Literal["personal", "service"] = "personal"
    owner: str | None = Field(default=None, max_length=80, description="an admin's choice")


class TokenOut(Strict):
    id: int
    name: str
    kind: str
    scope: str
    prefix: str
    owner: str
    created_at: AwareDatetime
    expires_at: AwareDatetime
    last_used_at: AwareDatetime | None
    revoked_at: AwareDatetime | None


class TokenMade(TokenOut):
    secret: str


class TokenList(Strict):
    items: list[TokenOut]


class MeOut(Strict):
    id: int
    username: str
    display_name: str
    roles: list[dict[str, Any]]
    token: dict[str, Any] | None
