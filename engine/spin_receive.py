"""Receive on a blocking socket after a short non-blocking poll (spin) for data.

Used by the engine's hot receives: the NBD loop waiting for the client's next
request, and a replica link when it is the only one the engine waits for (reads;
engine/replicator.py). At iodepth 1 the answer usually comes within tens of
microseconds; sleeping in recv() and being woken costs a context switch in and
out (an inter-processor interrupt under a hypervisor). The spin is bounded and
ends with the ordinary blocking receive, so timeouts (SO_RCVTIMEO) and
disconnects behave exactly as without it.

OFF by default (``PRONGHORN_SPIN_US`` sets the bound in microseconds): on the
2-core bench machine a 50 us spin cut qd1 read latency 249 -> 213 us at load ~4
but cost CPU per I/O, and with 5 other busy processes it lost outright; A/B it
on the target machine with ``bench/ab_trees.py .@PRONGHORN_SPIN_US=0 .@PRONGHORN_SPIN_US=30``.
"""

from __future__ import annotations

import os
import socket
import time

SPIN_NS = int(float(os.environ.get("PRONGHORN_SPIN_US", "0") or 0) * 1000)
_DONTWAIT = socket.MSG_DONTWAIT


def receive_into(sock: socket.socket, view: memoryview, spin_ns: int = SPIN_NS) -> int:
    """``sock.recv_into(view)``, trying non-blocking receives for up to ``spin_ns`` first."""
    if spin_ns:
        recv_into, clock = sock.recv_into, time.monotonic_ns
        deadline = clock() + spin_ns
        while True:
            try:
                return recv_into(view, 0, _DONTWAIT)
            except BlockingIOError:
                if clock() > deadline:
                    break
    return sock.recv_into(view)
