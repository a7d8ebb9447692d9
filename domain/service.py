"""``Service``: the get -> command -> save cycle shared by the application services.

Every command runs as a function that loads the aggregates it needs, calls their
command methods and saves them together (one transaction). When another writer
saved a newer version of one of those aggregates first, the store refuses with
``IntegrityError``; the whole function then runs again on freshly loaded aggregates
(so the command is re-validated against the new state, never silently dropped)
until it succeeds, raises a domain error, or ``attempts`` runs out
(``ConcurrencyConflict``). Base class of the services in ``domain.services``.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError

from domain.application import ControlPlane
from domain.catalog import Catalog
from domain.errors import ConcurrencyConflict, NotFound

A = TypeVar("A", bound=Aggregate)
T = TypeVar("T")

DEFAULT_ATTEMPTS = 30


class Service:
    def __init__(self, app: ControlPlane, *, attempts: int = DEFAULT_ATTEMPTS) -> None:
        self.app = app
        self.attempts = attempts

    def _load(self, cls: type[A], aggregate_id: UUID, missing: Callable[[], NotFound]) -> A:
        try:
            aggregate: Aggregate = self.app.repository.get(aggregate_id)
        except AggregateNotFoundError:
            raise missing() from None
        assert isinstance(aggregate, cls), f"{aggregate_id} is a {type(aggregate).__name__}"
        return aggregate

    def _exists(self, aggregate_id: UUID) -> bool:
        return bool(list(self.app.events.get(aggregate_id, limit=1)))

    def _catalog(self, kind: str) -> Catalog:
        try:
            catalog: Aggregate = self.app.repository.get(Catalog.create_id(kind))
        except AggregateNotFoundError:
            return Catalog(kind=kind)
        assert isinstance(catalog, Catalog)
        return catalog

    def _change(self, what: str, load: Callable[[], A], change: Callable[[A], object]) -> A:
        """Load one aggregate, apply ``change`` to it and save it, retrying conflicts."""
        def command() -> A:
            aggregate = load()
            change(aggregate)
            self.app.save(aggregate)
            return aggregate

        return self._retry(what, command)

    def _retry(self, what: str, command: Callable[[], T]) -> T:
        """Run ``command`` (which loads, commands and saves) until it saves without conflict."""
        for attempt in range(self.attempts):
            try:
                return command()
            except IntegrityError:
                # Someone else saved first: back off a little (jittered, growing) and redo.
                time.sleep(random.uniform(0, 0.0005 * 2 ** min(attempt, 8)))
        raise ConcurrencyConflict(what, self.attempts)
