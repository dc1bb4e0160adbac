"""Typed SQLAlchemy models, one module per concern; importing this package registers them all."""

from pbflow.models.audit import AuditCheckpoint, AuditEvent, AuditHead
from pbflow.models.meetings import (
    ComplianceNotice,
    Meeting,
    MeetingAttachment,
    MeetingAttendance,
    MeetingEdit,
    MeetingRequirement,
)
from pbflow.models.opinions import OpinionCode, RateCounter, RateWindow
from pbflow.models.org import Organization
from pbflow.models.people import Person, RoleAssignment, User
from pbflow.models.process import (
    Attachment,
    Ballot,
    Comment,
    Notification,
    ProcessInstance,
    Resolution,
    WorkflowDefinition,
)
from pbflow.models.security import SecurityEvent, SecurityHead

__all__ = [
    "Attachment",
    "AuditCheckpoint",
    "AuditEvent",
    "AuditHead",
    "Ballot",
    "Comment",
    "ComplianceNotice",
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
    "Resolution",
    "RoleAssignment",
    "SecurityEvent",
    "SecurityHead",
    "User",
    "WorkflowDefinition",
]
