"""Rebuild transfer pieces in memory/tmp files: StreamDigests (chunk digests of streamed pieces),
SidecarTap, the chunk stream and DirectWriter (O_DIRECT writes behind the receive, buffered fallback)."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from replica import checksums
from replica.direct_writer import DirectWriter
from replica.errors import Corrupt

K = 4096


def layer_file(tmp_path: Path, runs: list[tuple[int, int]], size: int) -> tuple[int, dict[int, bytes]]:
    fd = os.open(tmp_path / "layer", os.O_RDWR | os.O_CREAT, 0o644)
    os.ftruncate(fd, size)
    data = {offset: os.urandom(length) for offset, length in runs}
    for offset, payload in data.items():
        os.pwrite(fd, payload, offset)
    return fd, data


def stream_pieces(fd: int) -> list[tuple[int, int]]:
    """What a rebuild source sends: allocated runs clipped to the checksum grid."""
    return list(checksums.clipped_runs(fd, 0, os.fstat(fd).st_size, checksums.GRID))


def test_stream_digests_end_each_chunk_with_its_chunk_digest(tmp_path: Path) -> None:
    grid = checksums.GRID
    fd, _ = layer_file(tmp_path, [(0, 5 * K), (12 * K, 10 * K), (grid - K, 2 * K), (3 * grid, K)], 4 * grid)
    try:
        pieces = stream_pieces(fd)
        assert (grid - K, K) in pieces and (grid, K) in pieces  # a run across the grid is cut there
        digests = checksums.StreamDigests()
        every = [digests.update(offset, os.pread(fd, length, offset)) for offset, length in pieces]
        assert digests.digests == {i: checksums.chunk_digest(fd, i, grid) for i in (0, 1, 3)}
        assert len(set(every)) == len(every)  # each piece's digest covers it (and those before it)
        assert checksums.layer_checksum(sorted(digests.digests.items())) == checksums.layer_sha256(fd)
    finally:
        os.close(fd)


def test_stream_digests_refuse_a_piece_across_the_grid_or_out_of_order() -> None:
    grid = checksums.GRID
    with pytest.raises(Corrupt):
        checksums.StreamDigests().update(grid - K, bytes(2 * K))
    digests = checksums.StreamDigests()
    digests.update(grid, bytes(K))
    with pytest.raises(Corrupt):
        digests.update(0, bytes(K))


def test_layer_checksum_is_made_of_chunk_digests(tmp_path: Path) -> None:
    fd, _ = layer_file(tmp_path, [(0, K), (3 << 20, 2 * K)], 4 << 20)
    try:
        digests = {i: checksums.chunk_digest(fd, i, checksums.GRID) for i in checksums.chunk_runs(fd, checksums.GRID)}
        assert sorted(digests) == [0, 3]
        assert checksums.layer_sha256(fd) == checksums.layer_checksum(sorted(digests.items()))
        assert checksums.layer_checksum([(0, digests[0])]) != checksums.layer_checksum(sorted(digests.items()))
    finally:
        os.close(fd)


def test_direct_writer_writes_aligned_and_unaligned_pieces(tmp_path: Path) -> None:
    path = tmp_path / "target"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    os.ftruncate(fd, 64 * K)
    writer = DirectWriter(path, fd, 8 * K)
    pieces = {0: os.urandom(8 * K), 16 * K: os.urandom(100), 20 * K + 512: os.urandom(K), 32 * K: os.urandom(12 * K)}
    try:
        for offset, payload in pieces.items():  # aligned, short, unaligned, larger than the buffer
            writer.write(payload, offset)
    finally:
        writer.close()
    try:
        for offset, payload in pieces.items():
            assert os.pread(fd, len(payload), offset) == payload
    finally:
        os.close(fd)


def test_direct_writer_writes_only_committed_pieces_and_reports_write_errors(tmp_path: Path) -> None:
    path = tmp_path / "target"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    os.ftruncate(fd, 64 * K)
    writer = DirectWriter(path, fd, 8 * K, depth=2)
    try:
        writer.reserve(0, 4 * K)[:] = b"a" * 4 * K
        writer.commit()
        writer.reserve(4 * K, 4 * K)[:] = b"b" * 4 * K  # received but never verified: not written
        writer.reserve(4 * K, 2 * K)[:] = b"c" * 2 * K  # the same place again, verified this time
        writer.commit()
        for n in range(3):  # more batches than buffers: each waits for a free one
            writer.reserve((16 + 8 * n) * K, 8 * K)[:] = bytes([n + 1]) * 8 * K
            writer.commit()
    finally:
        writer.close()
    try:
        assert os.pread(fd, 8 * K, 0) == b"a" * 4 * K + b"c" * 2 * K + bytes(2 * K)
        assert os.pread(fd, 24 * K, 16 * K) == b"".join(bytes([n + 1]) * 8 * K for n in range(3))
        assert writer.written == 30 * K
    finally:
        os.close(fd)
    readonly = os.open(path, os.O_RDONLY)
    try:
        broken = DirectWriter(tmp_path / "missing", readonly, 8 * K)  # no O_DIRECT fd, and fd is read-only
        broken.write(bytes(K), 0)
        with pytest.raises(OSError):
            broken.close()
    finally:
        os.close(readonly)


def test_sidecar_tap_stores_the_layer_checksum_of_a_complete_stream_only(tmp_path: Path) -> None:
    fd, _ = layer_file(tmp_path, [(0, 3 * K), (2 << 20, 5 * K)], 4 << 20)
    path = tmp_path / "layer"
    try:
        pieces = stream_pieces(fd)

        def tap_of(sent: list[tuple[int, int]]) -> None:
            tap, digests = checksums.SidecarTap(path, fd), checksums.StreamDigests()
            for offset, length in sent:
                tap.feed(offset, length, digests.update(offset, os.pread(fd, length, offset)))
            tap.done()

        tap_of(pieces[:1])  # the second run never came
        assert not checksums.sidecar(path).exists()
        tap_of([(0, K), (K, 2 * K), *pieces[1:]])  # not the layer's runs: digests would differ
        assert not checksums.sidecar(path).exists()
        tap_of(pieces)
        assert checksums.stored_or_computed(path, recompute=False) == checksums.layer_sha256(fd)
    finally:
        os.close(fd)


def test_chunk_stream_delivers_the_runs_with_digests_to_the_token_holder_only(tmp_path: Path) -> None:
    from replica import rebuild_stream
    from replica.errors import Unavailable

    fd, data = layer_file(tmp_path, [(0, 3 * K), (40 * K, 9 * K), (checksums.GRID - K, 2 * K)], 2 << 20)
    pieces = stream_pieces(fd)
    os.close(fd)
    buffer = memoryview(bytearray(checksums.GRID))

    def offer() -> tuple[int, bytes]:
        return rebuild_stream.offer("127.0.0.1", os.open(tmp_path / "layer", os.O_RDONLY), iter(pieces))

    port, token = offer()
    digests = checksums.StreamDigests()
    got = [(offset, bytes(view), digest) for offset, view, digest in
           rebuild_stream.receive("127.0.0.1", port, token, lambda offset, length: buffer[:length])]
    assert [(offset, len(view)) for offset, view, _ in got] == pieces
    assert got[0][1] == data[0] and got[1][1] == data[40 * K]
    assert got[2][1] + got[3][1] == data[checksums.GRID - K]
    assert all(digests.update(offset, view) == digest for offset, view, digest in got)
    port, token = offer()
    with pytest.raises(Unavailable):  # a wrong token gets the connection closed, nothing sent
        list(rebuild_stream.receive("127.0.0.1", port, bytes(len(token)), lambda offset, length: buffer[:length]))
    port, token = offer()

    def full_disk(offset: int, length: int) -> memoryview:
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError) as raised:  # the target's own failure is not blamed on the network
        list(rebuild_stream.receive("127.0.0.1", port, token, full_disk))
    assert raised.value.errno == errno.ENOSPC and not isinstance(raised.value, Unavailable)
