"""``answers_data``: whether a replica process serves its data port, probed with one read.

The probe speaks the fixed wire protocol (replica/wire.py) on a plain socket with a
timeout on every step, connect included, so that it can run in a thread that has
joined a node's network namespace (``manager.netns``) and never blocks a reconcile
pass for long. Any answer counts, an error status included: the process is not
stuck. Used by ``manager.supervisor`` to tell a hung replica from one cut off by
the network.
"""

from __future__ import annotations

import socket

from replica.wire import MAGIC, REQUEST, RESPONSE, SECTOR, Op

PROBE_TIMEOUT_S = 1.0


def answers_data(address: str, timeout: float = PROBE_TIMEOUT_S) -> bool:
    """Whether the data port at ``HOST:PORT`` answers a one-sector read within ``timeout`` per step."""
    host, _, port = address.removeprefix("tcp://").rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout) as sock:
            sock.sendall(REQUEST.pack(MAGIC, Op.READ, 0, SECTOR, 1, 0))
            wanted, got = RESPONSE.size, b""
            while len(got) < wanted:  # the whole answer, so that closing is a clean end for the replica
                chunk = sock.recv(wanted - len(got))
                if not chunk:
                    return False
                got += chunk
                if len(got) == RESPONSE.size:
                    _, status, length, _ = RESPONSE.unpack(got)
                    wanted += length if status == 0 else 0
    except (OSError, ValueError):
        return False
    return True
