"""Receive on a blocking socket after a short non-blocking poll (spin) for data.

Used by the engine's hot receives: the replica links waiting for responses and
the NBD loop waiting for the client's next request. At iodepth 1 the answer
usually comes within tens of microseconds; sleeping in recv() and being woken
costs a context switch in and out (an inter-processor interrupt under a
hypervisor), more than the spin. The spin is bounded by ``SPIN_NS`` and ends
with the ordinary blocking receive, so timeouts (SO_RCVTIMEO) and disconnects
behave exactly as without it. ``PRONGHORN_SPIN_US`` overrides the bound
(0 turns spinning off).
"""

from __future__ import annotations

import os
import socket
import time

SPIN_NS = int(float(os.environ.get("PRONGHORN_SPIN_US", "0")) * 1000)
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
