"""Who acted and what caused it, stamped on every event saved while it is known.

Adapters and the manager say who is acting (``acting("cli:alice")``, ``"rest:127.0.0.1"``,
``"job:nightly"``, ``"manager:node1"``) and, when they react to something recorded, what
(``cause=event_cause(position)``); a command without a cause is caused by its actor
(``"command:cli:alice"``). ``CausationMapper`` writes both into each stored event's state
as ``actor`` and ``cause``: every aggregate's events carry them without one more parameter
per ``@event`` method, and the events' methods never see them (eventsourcing passes a
decorated method only the attributes its signature names). Events stored earlier, or
saved with nobody acting (tests, tools), have neither: read them with ``actor_of`` /
``cause_of``.

The acting party is a context variable, so each thread and each request has its own;
threads start with none (a thread that acts for the manager sets it itself).
Used by ``domain.application.ControlPlane`` (the mapper), adapters (CLI, REST), the
manager and ``projections.explanation``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.domain import Snapshot
from eventsourcing.persistence import Mapper, StoredEvent

COMMAND = "command:"
EVENT = "event:"
MANAGER = "manager:"


@dataclass(frozen=True)
class Acting:
    actor: str = ""  # "cli:<user>", "rest:<client>", "job:<name>", "manager:<node>"
    cause: str = ""  # "command:<actor>" or "event:<global position>"


_ACTING: ContextVar[Acting] = ContextVar("pronghorn_acting", default=Acting())  # noqa: B039 - frozen
_LAST_SAVED: ContextVar[int] = ContextVar("pronghorn_last_saved", default=0)


def current() -> Acting:
    return _ACTING.get()


@contextmanager
def acting(actor: str | None = None, cause: str | None = None) -> Iterator[Acting]:
    """Within the block, saved events name ``actor`` (default: the enclosing one) and ``cause``
    (default: the command of the actor named here, else the enclosing cause)."""
    outer = _ACTING.get()
    if cause is None:
        cause = f"{COMMAND}{actor}" if actor else outer.cause
    now = Acting(actor or outer.actor, cause)
    token = _ACTING.set(now)
    try:
        yield now
    finally:
        _ACTING.reset(token)


def event_cause(notification_id: int) -> str:
    """The cause of a reaction to the event stored at this global position."""
    return f"{EVENT}{int(notification_id)}"


def caused_by_event(cause: str) -> int | None:
    """The global position a cause names, or None (a command, or nothing)."""
    if cause.startswith(EVENT) and cause[len(EVENT):].isdigit():
        return int(cause[len(EVENT):])
    return None


def saved(notification_ids: list[int]) -> None:
    """Called by the application after each save (``ControlPlane._notify``)."""
    if notification_ids:
        _LAST_SAVED.set(min(notification_ids))


def last_saved() -> int:
    """The global position of the first event of the newest save in this thread (context): the
    event of the aggregate the command was about (saved first); 0 if none."""
    return _LAST_SAVED.get()


def actor_of(event: Any) -> str:
    return str(getattr(event, "actor", "") or "")


def cause_of(event: Any) -> str:
    return str(getattr(event, "cause", "") or "")


class CausationMapper(Mapper[UUID]):
    """The standard mapper, plus ``actor`` and ``cause`` in each event's stored state."""

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        now = _ACTING.get()
        if now.actor and not isinstance(domain_event, Snapshot):
            state = vars(domain_event)  # the live event gets them too: it is the one just saved
            state.setdefault("actor", now.actor)
            state.setdefault("cause", now.cause)
        return super().to_stored_event(domain_event)
