"""Deterministic aggregate ids: every aggregate's UUID is derived from its name.

Called by the aggregates (``create_id``), the application services and anything that
needs to find a volume's aggregates without an index (history views, the CLI).
"""

from __future__ import annotations

from uuid import UUID, uuid5

# Fixed forever: changing it would orphan every stored event.
NAMESPACE = UUID("6f0c5b9e-3d1a-5c8e-9a4b-70726f6e6768")


def _id(kind: str, *parts: str) -> UUID:
    return uuid5(NAMESPACE, "/".join((kind, *parts)))


def volume_id(name: str) -> UUID:
    """Id of the ``Volume`` aggregate named ``name``."""
    return _id("volume", name)


def node_id(name: str) -> UUID:
    """Id of the ``Node`` aggregate named ``name``."""
    return _id("node", name)


def replica_id(volume: str, replica: str) -> UUID:
    """Id of the ``Replica`` aggregate ``replica`` of volume ``volume``."""
    return _id("replica", volume, replica)


def chain_id(volume: str) -> UUID:
    """Id of the ``SnapshotChain`` aggregate of volume ``volume``."""
    return _id("snapshot-chain", volume)


def catalog_id(kind: str) -> UUID:
    """Id of the ``Catalog`` (name index) of aggregates of one kind, e.g. "volumes"."""
    return _id("catalog", kind)


def job_id(name: str) -> UUID:
    """Id of the ``RecurringJob`` aggregate named ``name``."""
    return _id("recurring-job", name)


def manager_id(nodes: str) -> UUID:
    """The manager serving these nodes (their names joined by commas, sorted)."""
    return _id("manager", nodes)
