"""``Catalog``: the index of live aggregate names of one kind ("volumes", "nodes").

Listing by name must work on every persistence module and stay right after deletes,
so the services keep this small aggregate beside the ones it lists and save both in
one transaction. Its id is ``catalog_id(kind)``. Used only by ``domain.services``.
"""

from __future__ import annotations

from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.ids import catalog_id


class Catalog(Aggregate):
    @staticmethod
    def create_id(kind: str) -> UUID:
        return catalog_id(kind)

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.names: dict[str, bool] = {}

    def sorted_names(self) -> list[str]:
        return sorted(self.names)

    def __contains__(self, name: str) -> bool:
        return name in self.names

    def add(self, name: str) -> None:
        if name not in self.names:
            self._added(name)

    def drop(self, name: str) -> None:
        if name in self.names:
            self._dropped(name)

    @event("Added")
    def _added(self, name: str) -> None:
        self.names[name] = True

    @event("Dropped")
    def _dropped(self, name: str) -> None:
        del self.names[name]
