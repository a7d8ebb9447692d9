"""The event store's typed errors, and which exceptions mean "the store failed".

``StoreError`` is the base the adapters map (CLI exit 7, HTTP 503): an invalid URL,
a store that cannot be opened, and ``StoreDown``, raised at once by every store call
while a running application's store is known to be unreachable (``domain.store_health``
watches it and says when to retry). ``STORE_FAILURES`` are the exception types a
long-running caller (the manager's loop, its job scheduler, rebuild threads) catches
to wait for the store instead of dying. Imported through ``domain.store``.
"""

from __future__ import annotations

import sqlite3

from eventsourcing.persistence import IntegrityError, PersistenceError


class StoreError(Exception):
    """Base of event store errors; ``str()`` is a one-line message."""


class InvalidStoreURL(StoreError, ValueError):
    """The store URL cannot be understood."""

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        super().__init__(f"invalid store URL {url!r}: {reason}")


class StoreUnavailable(StoreError):
    """The store URL is valid but the store cannot be opened (server down, unwritable file...)."""

    def __init__(self, display: str, reason: str) -> None:
        self.display = display
        self.reason = reason
        super().__init__(f"cannot open event store {display}: {reason}")


class StoreDown(StoreError):
    """The open store stopped answering. A call refused while the store is known to be
    down recorded nothing; the call that found the outage may have (its commit may
    have landed just before the connection went): retry commands, which are no-ops
    when repeated. ``retry_after``: seconds until the store is probed again.
    """

    def __init__(self, display: str, reason: str, down_for: float, retry_after: float) -> None:
        self.display = display
        self.reason = reason
        self.retry_after = retry_after
        super().__init__(f"event store {display} unavailable for {down_for:.0f} s: {reason}")


# What a store call raises when the store (not the command) failed. IntegrityError is a
# refused conflicting write (a concurrency conflict), not a failure of the store.
STORE_FAILURES: tuple[type[BaseException], ...] = (StoreError, PersistenceError, sqlite3.Error)


def is_store_failure(exc: BaseException) -> bool:
    return isinstance(exc, STORE_FAILURES) and not isinstance(exc, IntegrityError)
