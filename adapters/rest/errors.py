"""The ONE table mapping failures to HTTP statuses and the JSON error body.

``error_reply(exc)`` is called by the server for any exception a handler raises
(and for the server's own refusals: bad JSON, unknown route). The body is always
``{"error": {"code": ..., "message": ...}}``; ``code`` is a stable word, ``message``
one line. Rows are checked in order and the first ``isinstance`` match wins, so
specific types come before their bases; domain errors are matched by type, never
by text. Anything not in the table is an internal error (500), still one line.
A 503 (the store is unavailable) says when to try again: ``retry_after(exc)``.
"""

from __future__ import annotations

import math
import sqlite3
from http import HTTPStatus
from typing import Any

import pydantic
from eventsourcing.persistence import IntegrityError, OperationalError, PersistenceError

from adapters.cli.errors import CommandError, one_line
from domain import errors as domain_errors
from domain.store import StoreDown, StoreError
from projections.history import HistoryError, PositionOutOfRange


class ApiError(Exception):
    """A refusal the transport makes itself (malformed JSON, no such route...)."""

    def __init__(self, status: HTTPStatus, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


# (exception type, HTTP status, error code). First match wins.
ERROR_TABLE: list[tuple[type[BaseException], HTTPStatus, str]] = [
    (domain_errors.NotFound, HTTPStatus.NOT_FOUND, "NotFound"),
    (domain_errors.AlreadyExists, HTTPStatus.CONFLICT, "AlreadyExists"),
    (domain_errors.InvalidTransition, HTTPStatus.CONFLICT, "InvalidTransition"),
    (domain_errors.SchedulingFailed, HTTPStatus.CONFLICT, "SchedulingFailed"),
    (domain_errors.ConcurrencyConflict, HTTPStatus.CONFLICT, "ConcurrencyConflict"),
    (domain_errors.InvalidValue, HTTPStatus.UNPROCESSABLE_ENTITY, "InvalidValue"),
    (pydantic.ValidationError, HTTPStatus.UNPROCESSABLE_ENTITY, "InvalidValue"),
    (PositionOutOfRange, HTTPStatus.UNPROCESSABLE_ENTITY, "InvalidValue"),
    (CommandError, HTTPStatus.UNPROCESSABLE_ENTITY, "InvalidValue"),  # replay's point parser
    (HistoryError, HTTPStatus.NOT_FOUND, "NotFound"),
    (domain_errors.DomainError, HTTPStatus.INTERNAL_SERVER_ERROR, "DomainError"),
    (IntegrityError, HTTPStatus.CONFLICT, "ConcurrencyConflict"),
    (StoreError, HTTPStatus.SERVICE_UNAVAILABLE, "StoreUnavailable"),
    (OperationalError, HTTPStatus.SERVICE_UNAVAILABLE, "StoreUnavailable"),
    (PersistenceError, HTTPStatus.SERVICE_UNAVAILABLE, "StoreUnavailable"),
    (sqlite3.Error, HTTPStatus.SERVICE_UNAVAILABLE, "StoreUnavailable"),
]


def _validation_message(exc: pydantic.ValidationError) -> str:
    parts = []
    for error in exc.errors(include_url=False):
        where = ".".join(str(p) for p in error["loc"]) or "body"
        parts.append(f"{where}: {error['msg']}")
    return "invalid request body: " + "; ".join(parts)


def classify(exc: BaseException) -> tuple[HTTPStatus, str, str]:
    """(status, code, one-line message) for ``exc``."""
    if isinstance(exc, ApiError):
        return exc.status, exc.code, one_line(str(exc))
    for kind, status, code in ERROR_TABLE:
        if isinstance(exc, kind):
            if isinstance(exc, pydantic.ValidationError):
                return status, code, one_line(_validation_message(exc))
            return status, code, one_line(str(exc))
    return HTTPStatus.INTERNAL_SERVER_ERROR, "InternalError", one_line(f"internal error: {type(exc).__name__}: {exc}")


def retry_after(exc: BaseException) -> int:
    """Whole seconds a client should wait before retrying after a 503: until the store's next probe."""
    return max(1, math.ceil(exc.retry_after)) if isinstance(exc, StoreDown) else 1


def error_body(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}
