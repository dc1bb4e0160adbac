"""Typed SQLAlchemy models, one module per concern; importing this package registers them all."""

from pbflow.models.api_token import ApiToken
from pbflow.models.assessment import (
    AssessmentAward,
    AssessmentResult,
    AssessmentScheme,
    SatisfactionSurvey,
    SurveyAnswer,
    SurveyCode,
)
from pbflow.models.audit import AuditCheckpoint, AuditEvent, AuditHead, AuditPerson
from pbflow.models.calendar import CalendarDay, CalendarYear
from pbflow.models.meetings import (
    ComplianceNotice,
    Meeting,
    MeetingAttachment,
    MeetingAttendance,
    MeetingEdit,
    MeetingRequirement,
    TrainingRecord,
    TrainingTotal,
)
from pbflow.models.notices import MailMessage, ReminderMark, SiteFlag
from pbflow.models.opinions import OpinionCode, RateCounter, RateWindow
from pbflow.models.org import Organization
from pbflow.models.people import Person, RoleAssignment, User
from pbflow.models.process import (
    Attachment,
    Ballot,
    Comment,
    Escalation,
    Notification,
    ProcessInstance,
    Resolution,
    WorkflowDefinition,
)
from pbflow.models.security import SecurityEvent, SecurityHead
from pbflow.models.supervision import SupervisionNotice
from pbflow.models.tally import CaseTally
from pbflow.models.tasks import CaseTask

__all__ = [
    "AssessmentAward",
    "AssessmentResult",
    "AssessmentScheme",
    "SatisfactionSurvey",
    "SurveyAnswer",
    "SurveyCode",
    "ApiToken",
    "Attachment",
    "AuditCheckpoint",
    "AuditEvent",
    "AuditPerson",
    "AuditHead",
    "Ballot",
    "CalendarDay",
    "CalendarYear",
    "CaseTally",
    "CaseTask",
    "Comment",
    "ComplianceNotice",
    "Escalation",
    "MailMessage",
    "Meeting",
    "MeetingAttachment",
    "MeetingAttendance",
    "MeetingEdit",
    "MeetingRequirement",
    "Notification",
    "OpinionCode",
    "Organization",
    "Person",
    "ProcessInstance",
    "RateCounter",
    "RateWindow",
    "ReminderMark",
    "Resolution",
    "RoleAssignment",
    "SecurityEvent",
    "SecurityHead",
    "SiteFlag",
    "TrainingRecord",
    "TrainingTotal",
    "SupervisionNotice",
    "User",
    "WorkflowDefinition",
]
