"""IoGate pauses drain in-flight batches; vectored sends resume after partial writes."""

from __future__ import annotations

import socket
import threading

from engine.io_gate import IoGate
from engine.vectored import advance, send_all, send_all_many


def test_pause_waits_for_in_flight_batches_and_blocks_new_ones() -> None:
    gate = IoGate()
    order: list[str] = []
    inside, release = threading.Event(), threading.Event()

    def batch(name: str, hold: bool) -> None:
        with gate:
            order.append(f"{name} in")
            if hold:
                inside.set()
                release.wait(5)
            order.append(f"{name} out")

    first = threading.Thread(target=batch, args=("a", True))
    first.start()
    inside.wait(5)
    paused = threading.Event()

    def control() -> None:
        with gate.paused():
            order.append("paused")
            paused.set()
            second = threading.Thread(target=batch, args=("b", False))
            second.start()
            second.join(0.2)
            assert second.is_alive()  # kept out while paused
            order.append("resume")
        second.join(5)

    ctl = threading.Thread(target=control)
    ctl.start()
    assert not paused.wait(0.2)  # "a" still in flight
    release.set()
    ctl.join(5)
    first.join(5)
    assert order == ["a in", "a out", "paused", "resume", "b in", "b out"]


def test_advance_drops_whole_and_partial_buffers() -> None:
    parts = [b"abc", memoryview(b"defg"), b"h"]
    assert [bytes(p) for p in advance(parts, 0)] == [b"abc", b"defg", b"h"]
    assert [bytes(p) for p in advance(parts, 3)] == [b"defg", b"h"]
    assert [bytes(p) for p in advance(parts, 5)] == [b"fg", b"h"]
    assert advance(parts, 8) == []


def test_send_all_delivers_many_large_parts() -> None:
    a, b = socket.socketpair()
    parts = [bytes([i]) * 100_000 for i in range(40)] + [b"end"]
    received = bytearray()

    def reader() -> None:
        while len(received) < 4_000_003:
            received.extend(b.recv(1 << 20))

    thread = threading.Thread(target=reader)
    thread.start()
    send_all(a, list(parts))
    thread.join(10)
    assert bytes(received) == b"".join(parts)
    a.close()
    b.close()


def test_send_all_many_interleaves_and_reports_a_stuck_reader() -> None:
    pairs = [socket.socketpair() for _ in range(3)]
    payload = [bytes([i]) * 50_000 for i in range(20)]  # 1 MB each: more than a socket buffer
    got = [bytearray(), bytearray()]

    def reader(i: int) -> None:
        while len(got[i]) < 1_000_000:
            got[i].extend(pairs[i][1].recv(1 << 20))

    threads = [threading.Thread(target=reader, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    failed = send_all_many({pairs[i][0]: list(payload) for i in range(3)}, timeout=0.5)  # pair 2 never reads
    for t in threads:
        t.join(10)
    assert bytes(got[0]) == bytes(got[1]) == b"".join(payload)
    assert list(failed) == [pairs[2][0]] and isinstance(failed[pairs[2][0]], TimeoutError)
    for a, b in pairs:
        a.close()
        b.close()


def test_a_batch_waits_until_every_overlapping_pause_ended() -> None:
    gate = IoGate()
    entered = threading.Event()

    def batch() -> None:
        with gate:
            entered.set()

    first = gate.paused()
    first.__enter__()
    with gate.paused():  # a second pause while the first is on: no batch in flight, so no wait
        thread = threading.Thread(target=batch)
        thread.start()
        first.__exit__(None, None, None)
        assert not entered.wait(0.2)  # the second pause still keeps it out
    assert entered.wait(5)
    thread.join(5)
    with gate:  # the gate is open again and counts in and out
        pass
    with gate.paused():
        pass
