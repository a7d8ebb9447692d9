"""Client side of a replica: data (binary protocol) and control (gRPC).

The one import the engine, tools and tests need:
``from replica.client import DataClient, ControlClient``.
"""

from __future__ import annotations

from replica.control_client import (
    ChunkChecksum,
    ControlClient,
    PurgeResult,
    ReplicaInfo,
    SnapshotInfo,
    SyncProgress,
)
from replica.data_client import DataClient, DataError, DataProtocolError, Response

__all__ = [
    "ChunkChecksum",
    "ControlClient",
    "DataClient",
    "DataError",
    "DataProtocolError",
    "PurgeResult",
    "ReplicaInfo",
    "Response",
    "SnapshotInfo",
    "SyncProgress",
]
