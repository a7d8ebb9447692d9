"""Rebuild transfer pieces in memory/tmp files: ChunkHasher (chunk digests of streamed pieces)
and DirectWriter (O_DIRECT writes with a buffered fallback)."""

from __future__ import annotations

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


@pytest.mark.parametrize("piece", [K, 3 * K, 64 * K, 1 << 20])
def test_chunk_hasher_matches_digests_read_from_the_file(tmp_path: Path, piece: int) -> None:
    chunk = 16 * K
    fd, data = layer_file(tmp_path, [(0, 5 * K), (12 * K, 10 * K), (40 * K, K)], 64 * K)
    try:
        runs = checksums.chunk_runs(fd, chunk)
        hasher = checksums.ChunkHasher(runs.items())
        for offset, payload in data.items():  # pieces of any size, spanning runs and chunks
            for pos in range(0, len(payload), piece):
                hasher.feed(offset + pos, payload[pos:pos + piece])
        assert hasher.finish() == {i: checksums.chunk_digest(fd, i, chunk) for i in runs}
    finally:
        os.close(fd)


def test_chunk_hasher_refuses_misplaced_or_missing_data(tmp_path: Path) -> None:
    runs = {0: [(0, 2 * K)], 1: [(4 * K, K)]}
    with pytest.raises(Corrupt):
        checksums.ChunkHasher(runs.items()).feed(K, bytes(K))  # not where a run starts
    hasher = checksums.ChunkHasher(runs.items())
    hasher.feed(0, bytes(2 * K))
    with pytest.raises(Corrupt):
        hasher.finish()  # the second chunk never came
    hasher = checksums.ChunkHasher(runs.items())
    hasher.feed(0, bytes(K))
    with pytest.raises(Corrupt):
        hasher.feed(4 * K, bytes(K))  # skips the rest of the first run


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


def test_sidecar_tap_stores_the_layer_checksum_of_a_complete_stream_only(tmp_path: Path) -> None:
    fd, data = layer_file(tmp_path, [(0, 3 * K), (2 << 20, 5 * K)], 4 << 20)
    path = tmp_path / "layer"
    try:
        partial = checksums.SidecarTap(path, fd)
        partial.feed(0, memoryview(data[0]))
        partial.done()  # the second run never came
        assert not checksums.sidecar(path).exists()
        tap = checksums.SidecarTap(path, fd)
        for offset, payload in data.items():
            tap.feed(offset, memoryview(payload)[:K])
            tap.feed(offset + K, memoryview(payload)[K:])
        tap.done()
        assert checksums.stored_or_computed(path, recompute=False) == checksums.layer_sha256(fd)
    finally:
        os.close(fd)


def test_chunk_stream_delivers_the_runs_with_digests_to_the_token_holder_only(tmp_path: Path) -> None:
    from replica import rebuild_stream
    from replica.errors import Unavailable

    fd, data = layer_file(tmp_path, [(0, 3 * K), (40 * K, 9 * K)], 64 * K)
    os.close(fd)
    buffer = memoryview(bytearray(4 * K))

    def offer() -> tuple[int, bytes]:
        runs = iter([(0, 3 * K), (40 * K, 4 * K), (44 * K, 4 * K), (48 * K, K)])  # pieces <= the buffer
        return rebuild_stream.offer("127.0.0.1", os.open(tmp_path / "layer", os.O_RDONLY), runs, 4 * K)

    port, token = offer()
    got = {offset: (bytes(view), digest) for offset, view, digest in
           rebuild_stream.receive("127.0.0.1", port, token, buffer)}
    assert b"".join(got[o][0] for o in (40 * K, 44 * K, 48 * K)) == data[40 * K] and got[0][0] == data[0]
    assert all(checksums.fast_digest(piece) == digest for piece, digest in got.values())
    port, token = offer()
    with pytest.raises(Unavailable):  # a wrong token gets the connection closed, nothing sent
        list(rebuild_stream.receive("127.0.0.1", port, bytes(len(token)), buffer))
