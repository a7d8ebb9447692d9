"""Where a node's processes listen: free port ranges and unix socket paths.

Used by manager/supervisor.py when it starts replicas and engines.
"""

from __future__ import annotations

import hashlib
import os
import random
import socket
from pathlib import Path

from manager.netns import NetworkNamespace

UNIX_PATH_MAX = 107  # bytes of a unix socket path (sun_path holds 108 with the NUL)


def free_ports(host: str, count: int, netns: NetworkNamespace | None = None) -> int | None:
    """A port P with P..P+count-1 free on ``host`` (in ``netns``), outside the ephemeral range;
    None if 100 tries found none."""
    if netns is not None:
        return netns.run(lambda: free_ports(host, count))
    rng = random.Random()
    for _ in range(100):
        port = rng.randrange(20000, 32000 - count)
        try:
            for candidate in range(port, port + count):
                with socket.socket() as probe:
                    probe.bind((host, candidate))
        except OSError:
            continue
        return port
    return None


def replica_data_socket(sockets: Path, volume: str, replica: str) -> Path | None:
    """The unix data socket path of a replica: readable if it fits, else a 12-hex-digit name,
    else None (a unix socket address holds at most UNIX_PATH_MAX bytes)."""
    short = hashlib.sha1(f"{volume}/{replica}".encode()).hexdigest()[:12]
    for name in (f"{volume}.{replica}.data", f"{short}.data"):
        path = sockets / name
        if len(os.fsencode(path)) <= UNIX_PATH_MAX:
            return path
    return None
