"""receive_into: a bounded non-blocking poll, then the ordinary blocking receive."""

from __future__ import annotations

import socket
import struct
import threading

from engine.spin_receive import receive_into


def test_data_already_there_is_returned_by_the_poll() -> None:
    a, b = socket.socketpair()
    with a, b:
        b.sendall(b"hello")
        buf = bytearray(16)
        assert receive_into(a, memoryview(buf), spin_ns=1_000_000) == 5
        assert bytes(buf[:5]) == b"hello"


def test_data_arriving_after_the_spin_is_received_by_blocking() -> None:
    a, b = socket.socketpair()
    with a, b:
        timer = threading.Timer(0.05, b.sendall, args=(b"late",))
        timer.start()
        buf = bytearray(16)
        assert receive_into(a, memoryview(buf), spin_ns=1000) == 4  # the 1 us spin ends long before
        assert bytes(buf[:4]) == b"late"
        timer.join()


def test_a_closed_peer_reads_as_zero_with_or_without_spin() -> None:
    for spin in (0, 1_000_000):
        a, b = socket.socketpair()
        with a:
            b.close()
            assert receive_into(a, memoryview(bytearray(8)), spin_ns=spin) == 0


def test_the_socket_stays_blocking_with_its_kernel_timeout() -> None:
    a, b = socket.socketpair()
    with a, b:
        a.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", 0, 200_000))  # as engine/replica_link.py
        try:
            receive_into(a, memoryview(bytearray(8)), spin_ns=1000)
        except BlockingIOError:  # SO_RCVTIMEO (0.2 s) expired: EAGAIN from the blocking receive
            pass
        else:
            raise AssertionError("no data was sent: the receive must time out")
        assert a.getblocking()
