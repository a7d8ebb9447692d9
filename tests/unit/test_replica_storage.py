"""Fast in-process tests of the replica's storage pieces: sparse files, location map,
metadata commit and recovery, checksums, the chain's I/O edge cases."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest

from replica import chain_edits, checksums
from replica import metadata as md
from replica.chain import SparseFileChain
from replica.location_map import LocationMap
from replica.sparse import data_extents, punch_hole
from replica.wire import SECTOR, Flag

S = SECTOR


def test_data_extents_and_punch(tmp_path: Path) -> None:
    path = tmp_path / "f"
    with open(path, "wb") as f:
        f.truncate(64 * S)
    fd = os.open(path, os.O_RDWR)
    try:
        os.pwrite(fd, b"x" * 2 * S, 4 * S)
        os.pwrite(fd, b"y" * S, 10 * S)
        assert list(data_extents(fd)) == [(4 * S, 2 * S), (10 * S, S)]
        punch_hole(fd, 4 * S, S)
        assert list(data_extents(fd)) == [(5 * S, S), (10 * S, S)]
        assert os.pread(fd, S, 4 * S) == bytes(S)
        assert list(data_extents(fd, 6 * S, 10 * S)) == []
    finally:
        os.close(fd)


def test_location_map_runs_and_base() -> None:
    lmap = LocationMap(10)
    lmap.set(2, 5, 1)
    lmap.seal_head()
    lmap.set(4, 7, 2)
    assert list(lmap.runs(0, 10)) == [(0, 0, 2), (1, 2, 4), (2, 4, 7), (0, 7, 10)]
    assert list(lmap.runs(3, 4)) == [(1, 3, 4)]
    assert list(lmap.runs(0, 10, lmap.base)) == [(0, 0, 2), (1, 2, 5), (0, 5, 10)]
    lmap.grow(12)
    assert lmap.sectors == 12 and list(lmap.runs(10, 12)) == [(0, 10, 12)]


def test_create_writes_format_files(tmp_path: Path) -> None:
    chain = SparseFileChain.create(tmp_path / "r", 16 * S)
    chain.write(b"a" * S, 0)
    chain.flush()
    chain_edits.snapshot(chain, "first", created="2026-01-01T00:00:00Z", labels={"k": "v"})
    chain.close()
    d = tmp_path / "r"
    names = sorted(p.name for p in d.iterdir())
    assert names == ["revision.counter", "volume-head-001.img", "volume-head-001.img.meta",
                     "volume-snap-first.img", "volume-snap-first.img.meta", "volume.meta"]
    meta = json.loads((d / "volume.meta").read_text())
    assert meta["head"] == "volume-head-001.img" and meta["head_parent"] == "first" and meta["size"] == 16 * S
    assert meta["snapshots"][0] == {"name": "first", "parent": "", "created": "2026-01-01T00:00:00Z",
                                    "user_created": True, "removed": False, "labels": {"k": "v"}, "size": 16 * S}
    assert (d / "revision.counter").read_text() == "1\n"
    assert (d / "volume-head-001.img").stat().st_size == 16 * S


def test_open_removes_leftovers_of_an_interrupted_snapshot(tmp_path: Path) -> None:
    chain = SparseFileChain.create(tmp_path / "r", 16 * S)
    chain.write(b"z" * S, S)
    chain.close()
    d = tmp_path / "r"
    os.link(d / "volume-head-000.img", d / "volume-snap-half.img")  # crashed before the commit
    (d / "volume-head-001.img").write_bytes(b"")
    (d / "volume.meta.tmp").write_bytes(b"{garbage")
    chain = SparseFileChain(d)
    assert sorted(p.name for p in d.iterdir() if p.suffix == ".img") == ["volume-head-000.img"]
    assert not (d / "volume.meta.tmp").exists()
    buf = bytearray(S)
    chain.read_into(memoryview(buf), S)
    assert bytes(buf) == b"z" * S
    chain.close()


def test_pending_rename_is_rolled_forward(tmp_path: Path) -> None:
    chain = SparseFileChain.create(tmp_path / "r", 4 * S)
    chain.write(b"p" * S, 0)
    chain_edits.snapshot(chain, "p")
    chain.write(b"c" * S, S)
    chain_edits.snapshot(chain, "c")
    chain.close()
    d = tmp_path / "r"
    # simulate a coalesce killed after its commit, before its rename: the parent file holds both
    fd = os.open(d / "volume-snap-p.img", os.O_RDWR)
    os.pwrite(fd, b"c" * S, S)
    os.close(fd)
    meta = md.load_volume_meta(d)
    meta.snapshots = [s for s in meta.snapshots if s.name != "p"]
    meta.snapshots[0].parent = ""
    meta.pending = [md.PendingRename(source="volume-snap-p.img", target="volume-snap-c.img")]
    md.save_volume_meta(d, meta)
    chain = SparseFileChain(d)
    assert chain.meta.pending == [] and chain.meta.active_chain() == ["c"]
    buf = bytearray(2 * S)
    chain.read_into(memoryview(buf), 0)
    assert bytes(buf) == b"p" * S + b"c" * S
    chain.close()


def test_io_out_of_range_is_einval_and_changes_nothing(tmp_path: Path) -> None:
    chain = SparseFileChain.create(tmp_path / "r", 4 * S)
    for call in (lambda: chain.write(b"x" * 2 * S, 3 * S), lambda: chain.unmap(3 * S, 2 * S),
                 lambda: chain.read_into(memoryview(bytearray(S)), 4 * S)):
        with pytest.raises(OSError) as info:
            call()
        assert info.value.errno == errno.EINVAL
    assert chain.revision == 0
    assert list(data_extents(chain.head_fd)) == []
    chain.close()


def test_trim_keeps_older_layers_and_zero_hides_them(tmp_path: Path) -> None:
    chain = SparseFileChain.create(tmp_path / "r", 4 * S)
    chain.write(b"o" * 4 * S, 0)
    chain_edits.snapshot(chain, "old")
    chain.write(b"n" * 4 * S, 0)
    chain.unmap(0, S)  # advisory, an older layer holds data: it stays readable
    chain.unmap(S, S, Flag.ZERO)
    buf = bytearray(4 * S)
    chain.read_into(memoryview(buf), 0)
    assert bytes(buf[S : 2 * S]) == bytes(S)
    assert bytes(buf[:S]) in (b"n" * S, b"o" * S, bytes(S))
    assert bytes(buf[2 * S :]) == b"n" * 2 * S
    chain.close()


def test_layer_checksum_depends_on_content_not_write_pattern(tmp_path: Path) -> None:
    data = os.urandom(8 * S)
    digests = []
    for i, pieces in enumerate(([(0, 8)], [(4, 4), (0, 4)], [(i, 1) for i in range(8)])):
        path = tmp_path / f"f{i}"
        with open(path, "wb") as f:
            f.truncate(64 * S)
        fd = os.open(path, os.O_RDWR)
        for first, count in pieces:
            os.pwrite(fd, data[first * S : (first + count) * S], (10 + first) * S)
        digests.append(checksums.layer_sha256(fd))
        os.close(fd)
    assert len(set(digests)) == 1
    other = tmp_path / "g"
    with open(other, "wb") as f:
        f.truncate(64 * S)
    fd = os.open(other, os.O_RDWR)
    os.pwrite(fd, data, 11 * S)  # same bytes elsewhere: a different layer
    assert checksums.layer_sha256(fd) != digests[0]
    os.close(fd)


def test_snapshot_names_are_validated(tmp_path: Path) -> None:
    from replica.errors import AlreadyExists, InvalidArgument

    chain = SparseFileChain.create(tmp_path / "r", 4 * S)
    for bad in ("", "../x", "a b", "x" * 101):
        with pytest.raises(InvalidArgument):
            chain_edits.snapshot(chain, bad)
    chain_edits.snapshot(chain, "ok-1.2_3")
    with pytest.raises(AlreadyExists):
        chain_edits.snapshot(chain, "ok-1.2_3")
    chain.close()


def test_chunk_checksums_list_allocated_chunks_and_fill_the_sidecar(tmp_path: Path) -> None:
    from replica import rebuild_source

    chain = SparseFileChain.create(tmp_path / "r", 1024 * S)
    chain.write(os.urandom(300 * S), 200 * S)
    chain.write(os.urandom(S), 900 * S)
    chain_edits.snapshot(chain, "snap")
    path = tmp_path / "r" / "volume-snap-snap.img"
    reply = rebuild_source.chunk_checksums(chain, "snap", checksums.GRID)
    assert [c.index for c in reply.chunks] == [0, 1, 3]  # sectors 200-499 and 900
    assert all(c.extents and len(c.digest) == 16 for c in reply.chunks)
    stored = checksums.stored_or_computed(path, recompute=False)  # waits for the background job
    assert json.loads(checksums.sidecar(path).read_text())["sha256"] == stored
    assert stored == checksums.stored_or_computed(path, recompute=True)
    chain.close()


def test_zero_length_io_is_a_no_op(tmp_path: Path) -> None:
    chain = SparseFileChain.create(tmp_path / "r", 4 * S)
    chain.read_into(memoryview(bytearray(0)), 4 * S)  # at the very end, too
    chain.read_into(memoryview(bytearray(0)), 5)
    chain.write(b"", 4 * S)
    chain.unmap(4 * S, 0, Flag.ZERO)
    assert chain.revision == 0 and list(data_extents(chain.head_fd)) == []
    chain.close()


def test_opening_and_closing_a_chain_leaks_no_descriptor(tmp_path: Path) -> None:
    """Each open chain holds its location map in a memfd (shared with engines); close releases it."""
    SparseFileChain.create(tmp_path / "r", 16 * S).close()
    before = len(os.listdir("/proc/self/fd"))
    for readonly in (True, False) * 10:
        SparseFileChain(tmp_path / "r", readonly=readonly).close()
    assert len(os.listdir("/proc/self/fd")) == before
