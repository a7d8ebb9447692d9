"""One client request as the NBD frontend hands it to the replicator (engine/replicator.py).

The frontend (engine/nbd/transmission.py) validates each request and builds an
`IoRequest`; the replicator fills in ``error`` (an errno) and, for reads, ``data``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class Kind(IntEnum):
    READ = 0
    WRITE = 1
    TRIM = 2
    ZERO = 3
    FLUSH = 4


@dataclass(slots=True)
class IoRequest:
    """One client request, validated by the frontend; `error`/`data` are the result."""

    kind: Kind
    offset: int = 0
    length: int = 0
    fua: bool = False
    payload: memoryview | None = None
    no_hole: bool = False
    fast_zero: bool = False
    handle: int = 0
    error: int = 0
    data: memoryview | None = None
