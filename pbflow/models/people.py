"""Login identities, member profiles and role assignments."""

from __future__ import annotations

import secrets
from datetime import date, datetime

from flask_login import UserMixin
from sqlalchemy import CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from pbflow.clock import now
from pbflow.extensions import db
from pbflow.models.org import Organization

ROLES = (
    "admin",  # sets up organizations, users and roles
    "committee",  # party committee member or organization department staff
    "organizer",  # 组织员 appointed by the committee
    "secretary",
    "deputy_secretary",
    "organizing_member",  # 组织委员: main handler of member development
    "branch_committee",
    "group_leader",
    "member",
    "auditor",  # read-only, may verify the audit chain
)

PARTY_STATUSES = ("none", "applicant", "activist", "target", "probationary", "full")


def new_session_token() -> str:
    """A fresh random token; every session cookie of an account carries its current one."""
    return secrets.token_urlsafe(24)


EMAIL_MODES = ("off", "immediate", "daily")


class User(UserMixin, db.Model):
    __tablename__ = "user_account"
    __table_args__ = (
        CheckConstraint("email_mode in ('off','immediate','daily')", name="email_mode"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    display_name: Mapped[str] = mapped_column(String(120))
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(default=True)
    failed_logins: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None]
    last_login_at: Mapped[datetime | None]
    locale: Mapped[str | None] = mapped_column(String(10))
    # Notifications by e-mail too: off, immediate (each one) or daily (one digest a day).
    email: Mapped[str | None] = mapped_column(String(254))
    email_mode: Mapped[str] = mapped_column(String(10), default="off", server_default="off")
    # Replaced on logout, password change or reset and deactivation: a session (or remember
    # cookie) carrying an older token no longer logs anybody in (see get_id).
    session_token: Mapped[str] = mapped_column(String(64), default=new_session_token)
    created_at: Mapped[datetime] = mapped_column(default=now)

    roles: Mapped[list[RoleAssignment]] = relationship(
        back_populates="user", cascade="all, delete-orphan"
    )
    person: Mapped[Person | None] = relationship(back_populates="user", uselist=False)

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive users
        return self.active

    def get_id(self) -> str:
        """What Flask-Login stores in the session: the user id and the current session token."""
        return f"{self.id}:{self.session_token}"

    def __repr__(self) -> str:
        return f"<User {self.username}>"


class Person(db.Model):
    __tablename__ = "person"
    __table_args__ = (
        CheckConstraint(
            "party_status in ('none','applicant','activist','target','probationary','full')",
            name="party_status",
        ),
        # An organization's people, with what the membership statistics count (status, key
        # dates, age, sex, education) from the index alone.
        Index(
            "ix_person_org_members",
            "org_id",
            "party_status",
            "active",
            "admitted_on",
            "full_member_on",
            "birth_date",
            "gender",
            "education",
        ),
        # People by the day probation ends and the day full membership began: who can become
        # a full member within a period (member development's figures) is read by range.
        Index("ix_person_probation_end", "probation_end_on"),
        Index("ix_person_full_member", "full_member_on"),
        # And by admission and birth: the membership statistics read those admitted since a
        # day, and those born next to an age band's limit, by range (pbflow.engine.tally).
        Index("ix_person_admitted", "admitted_on"),
        Index("ix_person_birth", "birth_date"),
        # The people list, by name: a page is read from the index in order, where it sorted
        # every person the reader may read (24,000 for a committee) to show 25.
        Index("ix_person_name", "name", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    org_id: Mapped[int] = mapped_column(ForeignKey("organization.id", ondelete="RESTRICT"))
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL"), unique=True
    )
    id_number: Mapped[str | None] = mapped_column(String(40), unique=True)
    gender: Mapped[str | None] = mapped_column(String(10))
    birth_date: Mapped[date | None]
    ethnicity: Mapped[str | None] = mapped_column(String(40))
    education: Mapped[str | None] = mapped_column(String(80))
    job: Mapped[str | None] = mapped_column(String(120))
    phone: Mapped[str | None] = mapped_column(String(40))
    party_status: Mapped[str] = mapped_column(String(20), default="none")
    # 留党察看 whose rights are not restored: may not vote or act as introducer (DOMAIN 1.9).
    on_party_probation: Mapped[bool] = mapped_column(default=False)
    applied_on: Mapped[date | None]
    activist_on: Mapped[date | None]
    target_on: Mapped[date | None]
    admitted_on: Mapped[date | None]
    probation_end_on: Mapped[date | None]
    full_member_on: Mapped[date | None]
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=now)

    org: Mapped[Organization] = relationship()
    user: Mapped[User | None] = relationship(back_populates="person")

    @property
    def is_full_member(self) -> bool:
        return self.party_status == "full"

    def __repr__(self) -> str:
        return f"<Person {self.name} {self.party_status}>"


class RoleAssignment(db.Model):
    __tablename__ = "role_assignment"
    __table_args__ = (
        UniqueConstraint("user_id", "org_id", "role", name="uq_role_assignment"),
        CheckConstraint(
            "role in ('admin','committee','organizer','secretary','deputy_secretary',"
            "'organizing_member','branch_committee','group_leader','member','auditor')",
            name="role",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )
    org_id: Mapped[int] = mapped_column(
        ForeignKey("organization.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(String(30))
    created_at: Mapped[datetime] = mapped_column(default=now)

    user: Mapped[User] = relationship(back_populates="roles")
    org: Mapped[Organization] = relationship()
