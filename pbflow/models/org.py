"""The organization tree: party committee > general branch > branch > party group."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from pbflow.clock import now
from pbflow.extensions import db

ORG_KINDS = ("committee", "general_branch", "branch", "party_group")


class Organization(db.Model):
    __tablename__ = "organization"
    __table_args__ = (
        CheckConstraint(
            "kind in ('committee','general_branch','branch','party_group')", name="kind"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str | None] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("organization.id", ondelete="RESTRICT"), index=True
    )
    # Materialized path "/1/4/9/" so "this organization and everything below it" is one
    # indexed prefix match instead of a recursive query on every page.
    path: Mapped[str] = mapped_column(String(400), index=True, default="/")
    active: Mapped[bool] = mapped_column(default=True)
    # Per-organization overrides of workflow settings: {"workflow_id": {"setting": value}}.
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=now)

    parent: Mapped[Organization | None] = relationship(remote_side=[id], back_populates="children")
    children: Mapped[list[Organization]] = relationship(back_populates="parent")

    def ancestor_ids(self) -> list[int]:
        """Ids from the root down to and including this organization."""
        return [int(p) for p in self.path.strip("/").split("/") if p]

    def display_name(self, locale: str = "zh") -> str:
        return self.name_en if locale == "en" and self.name_en else self.name

    def __repr__(self) -> str:
        return f"<Organization {self.code} {self.kind}>"
