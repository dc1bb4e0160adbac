"""Access tokens for other systems (issue 18): personal tokens (their owner's own) and service
tokens (an account an admin runs a machine under). Only a SHA-256 of the secret is kept; the
secret is shown once when the token is made."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from pbflow.clock import now
from pbflow.extensions import db
from pbflow.models.people import User

TOKEN_KINDS = ("personal", "service")
SCOPES = ("read", "act", "admin")  # each one includes the ones before it


class ApiToken(db.Model):
    __tablename__ = "api_token"
    __table_args__ = (
        CheckConstraint("kind in ('personal','service')", name="api_token_kind"),
        CheckConstraint("scope in ('read','act','admin')", name="api_token_scope"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(80))
    kind: Mapped[str] = mapped_column(String(10), default="personal")
    scope: Mapped[str] = mapped_column(String(10), default="read")
    prefix: Mapped[str] = mapped_column(String(16))  # shown in lists to tell tokens apart
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=now)
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )
    expires_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    user: Mapped[User] = relationship(foreign_keys=[user_id])

    def __repr__(self) -> str:
        return f"<ApiToken {self.prefix} {self.name}>"
