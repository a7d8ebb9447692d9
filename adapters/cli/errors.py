"""The ONE table mapping failures to CLI exit codes and one-line messages.

:func:`adapters.cli.command.run` calls :func:`classify` for any exception a verb
raises. Rows are checked in order and the first ``isinstance`` match wins, so
specific types come before their bases. Domain errors already say what is
wrong in one line (``str(exc)``); the table only adds the exit code and, for
errors from libraries, a short prefix. Anything not in the table is an internal
error (exit 1), still reported in one line.
"""

from __future__ import annotations

import sqlite3
from enum import IntEnum

from eventsourcing.persistence import IntegrityError, OperationalError, PersistenceError

from domain import errors as domain_errors
from domain.store import InvalidStoreURL, StoreError
from projections.history import HistoryError, PositionOutOfRange


class ExitCode(IntEnum):
    """Exit statuses of every ``pronghorn`` verb (documented in ``--help`` epilogues)."""

    OK = 0
    FAILURE = 1  # unexpected internal error
    USAGE = 2  # bad arguments or invalid values
    NOT_FOUND = 3  # no such volume / node / replica / snapshot / history
    CONFLICT = 4  # already exists; import over existing aggregates; concurrent change
    INVALID_STATE = 5  # the command is not allowed in the current state
    SCHEDULING = 6  # replicas could not be placed
    STORE = 7  # the event store is unreachable or refuses to work
    TIMEOUT = 8  # --wait gave up: the manager has not done it (yet)
    INTERRUPTED = 130


class CommandError(Exception):
    """A failure a verb detects itself (bad file, refused import); ``str()`` is one line."""

    code: ExitCode = ExitCode.FAILURE

    def __init__(self, message: str, code: ExitCode | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


# (exception type, exit code, message prefix). First match wins.
ERROR_TABLE: list[tuple[type[BaseException], ExitCode, str]] = [
    (domain_errors.NotFound, ExitCode.NOT_FOUND, ""),
    (domain_errors.AlreadyExists, ExitCode.CONFLICT, ""),
    (domain_errors.InvalidValue, ExitCode.USAGE, ""),
    (domain_errors.InvalidTransition, ExitCode.INVALID_STATE, ""),
    (domain_errors.SchedulingFailed, ExitCode.SCHEDULING, ""),
    (domain_errors.DomainError, ExitCode.FAILURE, ""),
    (PositionOutOfRange, ExitCode.USAGE, ""),
    (HistoryError, ExitCode.NOT_FOUND, ""),
    (InvalidStoreURL, ExitCode.USAGE, ""),
    (StoreError, ExitCode.STORE, ""),
    (IntegrityError, ExitCode.CONFLICT, "store refused a conflicting write: "),
    (OperationalError, ExitCode.STORE, "event store unavailable: "),
    (PersistenceError, ExitCode.STORE, "event store error: "),
    (sqlite3.Error, ExitCode.STORE, "event store error: "),
    (FileNotFoundError, ExitCode.NOT_FOUND, ""),
    (OSError, ExitCode.FAILURE, ""),
]


def one_line(text: str) -> str:
    return " ".join(text.split()) or "(no message)"


def classify(exc: BaseException) -> tuple[ExitCode, str]:
    """Exit code and one-line message for ``exc``."""
    if isinstance(exc, CommandError):
        return exc.code, one_line(str(exc))
    for kind, code, prefix in ERROR_TABLE:
        if isinstance(exc, kind):
            if isinstance(exc, OSError) and exc.strerror and exc.filename is not None:
                return code, one_line(f"{prefix}{exc.strerror}: {exc.filename}")
            return code, one_line(prefix + str(exc))
    return ExitCode.FAILURE, one_line(f"internal error: {type(exc).__name__}: {exc}")
