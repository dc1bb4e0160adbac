"""Domain errors. Each carries a reason a person can read; none leaves anything written."""

from __future__ import annotations

from datetime import date
from typing import Any


class DomainError(Exception):
    """Base of refusals. ``field_errors`` maps form fields to messages, for re-showing a form."""

    status = 400

    def __init__(
        self,
        message: str,
        *,
        field_errors: dict[str, str] | None = None,
        available_from: date | None = None,
        details: dict[str, Any] | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.field_errors = field_errors or {}
        self.available_from = available_from
        self.details = details or {}

    def __str__(self) -> str:
        if self.field_errors:
            fields = "; ".join(f"{k}: {v}" for k, v in self.field_errors.items())
            return f"{self.message} ({fields})"
        return self.message


class NotFound(DomainError):
    status = 404


class NotAllowed(DomainError):
    """The actor has no right to do this (wrong role, wrong organization)."""

    status = 403


class InvalidState(DomainError):
    """The trigger is not possible from the case's current state."""

    status = 409


class GuardRefused(DomainError):
    """A rule of the procedure is not met (yet)."""

    status = 422


class ValidationFailed(DomainError):
    status = 422


class ConcurrentChange(DomainError):
    """Someone changed the case since this actor loaded it."""

    status = 409


class DefinitionError(Exception):
    """A workflow file is invalid; the message names the file, the line when known, the problem."""

    def __init__(self, path: str, problem: str, line: int | None = None):
        self.path = path
        self.problem = problem
        self.line = line
        where = f"{path}:{line}" if line else path
        super().__init__(f"{where}: {problem}")
