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


def test_adaptive_spin_pauses_when_waits_outlast_the_window_and_tries_again_later() -> None:
    from engine.spin_receive import BACKOFF, AdaptiveSpin

    a, b = socket.socketpair()
    with a, b:
        spin = AdaptiveSpin(limit_ns=1000)  # 1 us: a reply sent 5 ms later always misses it
        buf = memoryview(bytearray(8))
        for _ in range(3):  # start credit 8, a miss costs 4: the third miss pauses
            timer = threading.Timer(0.005, b.sendall, args=(b"x",))
            timer.start()
            assert spin.receive_into(a, buf) == 1
            timer.join()
        assert spin.misses == 3 and spin.paused == BACKOFF
        for _ in range(BACKOFF):  # paused: plain blocking receives, not counted
            b.sendall(b"y")
            assert spin.receive_into(a, buf) == 1
        assert spin.misses == 3 and spin.hits == 0 and spin.paused == 0
        b.sendall(b"z")  # spinning again: data already there is a hit
        assert spin.receive_into(a, buf) == 1 and spin.hits == 1


def test_adaptive_spin_keeps_spinning_while_it_pays_and_zero_turns_it_off() -> None:
    from engine.spin_receive import AdaptiveSpin

    a, b = socket.socketpair()
    with a, b:
        spin = AdaptiveSpin(limit_ns=50_000_000)
        buf = memoryview(bytearray(8))
        for _ in range(20):
            b.sendall(b"x")
            assert spin.receive_into(a, buf) == 1
        assert spin.hits == 20 and spin.misses == 0 and spin.paused == 0
        off = AdaptiveSpin(limit_ns=0)
        b.sendall(b"y")
        assert off.receive_into(a, buf) == 1 and off.hits == off.misses == 0
