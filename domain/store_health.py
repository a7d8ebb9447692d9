"""``StoreHealth``: whether a running application's event store answers, and when it is back.

``domain.store_guard`` puts one in front of every store connection of an application
opened by ``domain.store.open_control_plane`` (``app.health``). A store call that fails
(connection refused or cut, pool timeout, SQLite locked past its timeout) reports it
with ``failed(exc)``: the store is probed once (a fresh connection, a bounded
timeout). If the probe answers, the failure was a passing one (a stale connection)
and the caller goes on as before; if not, the store is marked down and ``StoreDown``
raised. While down, ``check()`` raises ``StoreDown`` at once, so no caller (REST
request, reconcile pass, job run) waits on the store's timeouts, and one background
thread probes with back-off (``FIRST_RETRY_S`` doubling up to ``MAX_RETRY_S``). When a
probe answers, ``on_return`` runs (the PostgreSQL guard replaces its connection pool,
whose own reconnect attempts may be backed off for a minute) and the store is marked up.
One warning is logged when the store goes away, one when it is back, none per retry.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from domain.store_errors import StoreDown

log = logging.getLogger("pronghorn.store")
log.addHandler(logging.NullHandler())  # a CLI verb configures no logging: its error stays one line on stderr

FIRST_RETRY_S = 0.25
MAX_RETRY_S = 4.0

Probe = Callable[[], str]  # "" when the store answers, else why not (one line)


class StoreHealth:
    def __init__(self, display: str, probe: Probe | None = None,
                 on_return: Callable[[], None] | None = None) -> None:
        self.display = display
        self.probe = probe  # None: a store that cannot go away (in memory)
        self.on_return = on_return
        self.down = False
        self.reason = ""
        self.since = 0.0  # monotonic time the store was marked down
        self.retry_in = 0.0  # seconds from one probe to the next
        self.next_probe = 0.0  # monotonic time of the next probe
        self._probing = threading.Lock()  # one probe at a time: others wait for its verdict
        self._closed = threading.Event()
        self._watcher: threading.Thread | None = None

    def check(self) -> None:
        """Raise ``StoreDown`` at once while the store is known to be down."""
        if self.down:
            raise self._error()

    def failed(self, exc: BaseException) -> None:
        """A store call failed with ``exc``: raise ``StoreDown`` if the store does not answer
        a probe; return if it does (the caller handles ``exc`` as before)."""
        if self.probe is None:
            return
        with self._probing:
            if not self.down:
                reason = self.probe()
                if not reason:
                    return
                self._mark_down(reason, exc)
        raise self._error() from exc

    def close(self) -> None:
        self._closed.set()
        if self._watcher is not None and self._watcher is not threading.current_thread():
            self._watcher.join(timeout=5)

    def _error(self) -> StoreDown:
        retry_after = max(self.next_probe - time.monotonic(), 0.0) if self.down else 0.0
        return StoreDown(self.display, self.reason, time.monotonic() - self.since, retry_after)

    def _mark_down(self, reason: str, exc: BaseException) -> None:
        self.reason, self.since, self.retry_in = reason, time.monotonic(), FIRST_RETRY_S
        self.next_probe = self.since + self.retry_in
        self.down = True
        log.warning("event store %s unavailable: %s (%s); retrying in the background", self.display, reason,
                    " ".join(str(exc).split())[:200] or type(exc).__name__)
        self._watcher = threading.Thread(target=self._watch, name="pronghorn-store-watch", daemon=True)
        self._watcher.start()

    def _watch(self) -> None:
        assert self.probe is not None
        while not self._closed.wait(max(self.next_probe - time.monotonic(), 0.0)):
            reason = self.probe()
            if not reason and self.on_return is not None:
                try:
                    self.on_return()
                except Exception as exc:  # noqa: BLE001 - keep watching; the next probe retries
                    reason = " ".join(f"{type(exc).__name__}: {exc}".split())[:200]
            if not reason:
                self.down = False
                log.warning("event store %s is back after %.0f s", self.display, time.monotonic() - self.since)
                return
            self.reason = reason
            self.retry_in = min(self.retry_in * 2, MAX_RETRY_S)
            self.next_probe = time.monotonic() + self.retry_in
