"""The data server's batched send survives partial writes (kernel takes only part of the iov)."""

from __future__ import annotations

from replica.data_server import send_all


class TrickleSocket:
    """Accepts at most ``step`` bytes per sendmsg, like a full socket buffer would."""

    def __init__(self, step: int) -> None:
        self.step = step
        self.received = bytearray()
        self.calls = 0

    def sendmsg(self, buffers: list[bytes | memoryview]) -> int:
        self.calls += 1
        data = b"".join(bytes(b) for b in buffers)[: self.step]
        self.received += data
        return len(data)


def test_send_all_resumes_after_partial_sends() -> None:
    parts: list[bytes | memoryview] = [b"head", memoryview(b"0123456789"), b"", b"tail-part"]
    sock = TrickleSocket(step=3)
    send_all(sock, list(parts))  # type: ignore[arg-type]
    assert bytes(sock.received) == b"head0123456789tail-part"
    assert sock.calls >= 8


def test_send_all_splits_more_parts_than_iov_max() -> None:
    parts: list[bytes | memoryview] = [bytes([i % 256]) for i in range(2500)]
    sock = TrickleSocket(step=10**9)
    send_all(sock, list(parts))  # type: ignore[arg-type]
    assert bytes(sock.received) == bytes(i % 256 for i in range(2500))
    assert sock.calls == 3
