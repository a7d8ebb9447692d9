"""adapters.rest.errors: the one table gives each failure a status, a code and one line."""

from __future__ import annotations

import sqlite3

import pydantic
import pytest
from eventsourcing.persistence import IntegrityError, OperationalError

from adapters.rest.errors import classify
from adapters.rest.models import VolumeCreate
from domain.errors import (
    AlreadyExists,
    ConcurrencyConflict,
    InvalidTransition,
    InvalidValue,
    JobNotFound,
    SchedulingFailed,
    VolumeNotFound,
)
from domain.store import StoreUnavailable
from projections.history import HistoryError, PositionOutOfRange


def validation_error() -> pydantic.ValidationError:
    try:
        VolumeCreate.model_validate({"name": "v", "size": "x\ny"})
    except pydantic.ValidationError as exc:
        return exc
    raise AssertionError("validated")


@pytest.mark.parametrize(("exc", "status", "code"), [
    (VolumeNotFound("v"), 404, "NotFound"),
    (JobNotFound("j"), 404, "NotFound"),
    (HistoryError("no events"), 404, "NotFound"),
    (AlreadyExists("volume", "v"), 409, "AlreadyExists"),
    (InvalidTransition("volume", "v", "attached", "delete"), 409, "InvalidTransition"),
    (SchedulingFailed("InsufficientNodes", "need 3"), 409, "SchedulingFailed"),
    (ConcurrencyConflict("volume 'v'", 30), 409, "ConcurrencyConflict"),
    (IntegrityError("duplicate"), 409, "ConcurrencyConflict"),
    (InvalidValue("size", 1, "too small"), 422, "InvalidValue"),
    (PositionOutOfRange("outside"), 422, "InvalidValue"),
    (validation_error(), 422, "InvalidValue"),
    (StoreUnavailable("sqlite:///x", "disk\nfull"), 503, "StoreUnavailable"),
    (OperationalError("database is locked"), 503, "StoreUnavailable"),
    (sqlite3.OperationalError("unable to open"), 503, "StoreUnavailable"),
    (ZeroDivisionError("boom"), 500, "InternalError"),
])
def test_error_table(exc: Exception, status: int, code: str) -> None:
    got_status, got_code, message = classify(exc)
    assert (int(got_status), got_code) == (status, code)
    assert message and "\n" not in message
