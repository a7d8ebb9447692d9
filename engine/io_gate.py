"""A gate that NBD batches pass through and control operations close.

Each replicator batch holds the gate open (``with gate:``); ``paused()``
waits for in-flight batches to drain and keeps new ones out, so a snapshot,
expand or membership change sees no I/O in flight. ``pauses`` counts them, so a
connection can drop what it holds from before one (engine/replicator.py: shares
of replica files that a snapshot or purge may have replaced).

The common case (nobody pausing) costs one plain lock hold on entry and one
on exit: a batch waits on the condition only while a pause is on, and the
last batch out notifies only when a pauser waits for it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class IoGate:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._active = 0
        self._closed = 0
        self.pauses = 0  # pauses begun so far: batches compare it to notice chain edits

    def __enter__(self) -> None:
        with self._lock:
            while self._closed:
                self._cond.wait()
            self._active += 1

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._active -= 1
            if not self._active and self._closed:
                self._cond.notify_all()  # a pauser waits for the last batch out

    @property
    def closing(self) -> bool:
        """A pause waits (or runs): a holder should stop beginning new work and leave."""
        return bool(self._closed)

    @contextmanager
    def paused(self) -> Iterator[None]:
        with self._lock:
            self._closed += 1
            self.pauses += 1
            while self._active:
                self._cond.wait()
        try:
            yield
        finally:
            with self._lock:
                self._closed -= 1
                self._cond.notify_all()
