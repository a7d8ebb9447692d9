"""Fan-out of one NBD connection's request batches to the volume's replicas.

Called by `engine.nbd.transmission` once per received batch. Every batch goes
to each replica as ONE vectored send (writes to every RW and WO replica; reads go
to one RW replica for READ_RUN batches, then the next), responses are collected per replica by seq.
Reads are served from a RW replica's own files instead when it is on this machine
(engine/local_replica.py), after the batch's writes, and batches of aligned writes
go into its head directly while the other replicas receive them by socket. A
write is acknowledged only when every RW/WO replica acknowledged it or turned
ERR, and at least one replica still RW acknowledged it. Reads on a failed
replica are retried on another RW replica. Unaligned writes are turned into
aligned ones here (read-modify-write under the volume's RMW lock) so replicas
only ever receive sector-aligned writes. While a WO replica is being rebuilt,
WRITE_ZEROES goes out as explicit zero writes and TRIM (advisory) is dropped,
so the rebuilt head never holds holes the installed layers could show through.
"""

from __future__ import annotations

import errno

from engine.io_request import IoRequest, Kind
from engine.local_replica import LocalReplica
from engine.replica_link import LinkFailure, ReplicaLink, expected_acks
from engine.replicas import Mode, Replica
from engine.vectored import send_all_many
from engine.volume import IoStats, Volume
from replica.wire import MAGIC, MAX_IO, REQUEST, SECTOR, Flag, Op

READ_RUN = 256  # consecutive read batches sent to one RW replica before rotating
SPLIT_ROUNDS = 64 * 1024  # reads and writes both above this: separate rounds (no send/recv deadlock)
ZEROES = memoryview(bytes(1 << 20))
WIRE_FUA = int(Flag.FUA)  # a WRITE's flags on the replica wire when the client asked for FUA
_OP_WRITE = int(Op.WRITE)
_RW = Mode.RW  # enum members are looked up once, not per request (~0.1 us each)


class WritesInFlight:
    """A batch of aligned writes sent (and written directly) whose acknowledgements are not yet collected."""

    __slots__ = ("count", "base", "writers", "broken", "direct")

    def __init__(self, count: int, base: int, writers: list, broken: dict, direct: Replica | None = None) -> None:
        self.count, self.base, self.writers, self.broken = count, base, writers, broken
        self.direct = direct  # the same-machine replica whose head the engine wrote the batch into


class Replicator:
    def __init__(self, volume: Volume, stats: IoStats | None = None) -> None:
        self.volume = volume
        self.stats = stats if stats is not None else IoStats()  # the connection's: direct reads/writes
        self.links: dict[Replica, ReplicaLink] = {}
        self.version = -1
        self.pauses = 0
        self.writers: list[tuple[Replica, ReplicaLink]] = []
        self.readers: list[tuple[Replica, ReplicaLink]] = []
        self.rebuilding = False  # a WO replica is in the set: no hole punching (see execute)
        self.seq = 1
        self.turn = 0
        self.read_buffer = memoryview(bytearray(4 << 20))

    def close(self) -> None:
        for link in self.links.values():
            link.close()
        self.links.clear()

    # -- membership -------------------------------------------------------
    def refresh(self) -> None:
        if self.volume.gate.pauses != self.pauses:  # a chain edit may have replaced layer files:
            self.pauses = self.volume.gate.pauses  # do not keep deleted ones open (their space)
            for link in self.links.values():  # until this connection's next read
                link.drop_local()
        replica_set = self.volume.replicas
        if replica_set.version == self.version:
            return
        version, members = replica_set.members()
        for replica in list(self.links):
            if replica not in members or replica.mode is Mode.ERR:
                self.links.pop(replica).close()
        for replica in members:
            if replica.mode is not Mode.ERR and replica not in self.links:
                try:
                    self.links[replica] = link = ReplicaLink(replica.data, self.volume.timeout)
                    link.shares = link.shares and self.volume.local_io
                except LinkFailure as exc:
                    replica_set.mark_err(replica, str(exc))
        self.writers = [(r, link) for r, link in self.links.items() if r.mode in (Mode.RW, Mode.WO)]
        self.readers = [(r, link) for r, link in self.links.items() if r.mode is Mode.RW]
        self.rebuilding = any(r.mode is Mode.WO for r, _ in self.writers)
        self.version = version

    def _fail(self, replica: Replica, exc: LinkFailure) -> None:
        self.volume.replicas.mark_err(replica, str(exc))
        link = self.links.pop(replica, None)
        if link is not None:
            link.close()

    # -- batches ----------------------------------------------------------
    def execute(self, requests: list[IoRequest]) -> None:
        self.refresh()
        writes: list[tuple[int, int, int, int, memoryview | None, IoRequest]] = []
        reads: list[tuple[int, int, memoryview, IoRequest]] = []
        rmw: list[IoRequest] = []
        used = 0
        for req in requests:
            kind, offset, length = req.kind, req.offset, req.length
            fua = Flag.FUA if req.fua else 0
            if kind is Kind.READ:
                if used + length <= len(self.read_buffer):
                    dest = self.read_buffer[used : used + length]
                    used += length
                else:
                    dest = memoryview(bytearray(length))
                req.data = dest
                reads.append((offset, length, dest, req))
            elif kind is Kind.WRITE:
                if offset % SECTOR or length % SECTOR:
                    rmw.append(req)
                else:
                    writes.append((Op.WRITE, fua, offset, length, req.payload, req))
            elif kind is Kind.FLUSH:
                writes.append((Op.FLUSH, 0, 0, 0, None, req))
            elif kind is Kind.TRIM:
                if self.rebuilding:
                    continue  # advisory; a WO head would punch where the layers installed later have data
                start, end = -(-offset // SECTOR) * SECTOR, (offset + length) // SECTOR * SECTOR
                for off, size in _pieces(start, end, MAX_IO):
                    writes.append((Op.UNMAP, fua, off, size, None, req))
            elif (req.no_hole or self.rebuilding) and req.fast_zero:
                req.error = errno.ENOTSUP  # writing zeroes is no faster than a WRITE
            else:
                start, end = -(-offset // SECTOR) * SECTOR, (offset + length) // SECTOR * SECTOR
                if start < end:
                    # A WO replica gets explicit zeroes: a hole punched in its head now would let
                    # the snapshot layers installed under it later show through.
                    if req.no_hole or self.rebuilding:
                        for off, size in _pieces(start, end, len(ZEROES)):
                            writes.append((Op.WRITE, fua, off, size, ZEROES[:size], req))
                    else:
                        for off, size in _pieces(start, end, MAX_IO):
                            writes.append((Op.UNMAP, fua | Flag.ZERO, off, size, None, req))
                if offset % SECTOR or (offset + length) % SECTOR:
                    rmw.append(req)
        local = self._local() if reads else None
        if local is not None:
            link = local[1]
            if writes:  # first, as a replica would: a read after a write in one batch sees it
                self._run(writes, [])
            if link.local is None or not link.local.serve(reads):
                link.drop_local()
                self._run([], reads)
            else:
                self.stats.direct_reads += len(reads)
        elif writes and reads and sum(r[1] for r in reads) > SPLIT_ROUNDS and (
            sum(w[3] for w in writes if w[0] is Op.WRITE) > SPLIT_ROUNDS
        ):
            self._run(writes, [])
            self._run([], reads)
        elif writes or reads:
            self._run(writes, reads)
        if rmw:
            with self.volume.rmw_lock:
                for req in rmw:
                    if not req.error:
                        self._read_modify_write(req)

    def _local(self, only: Replica | None = None) -> tuple[Replica, ReplicaLink, LocalReplica] | None:
        """A RW replica on this machine whose files this engine reads (and writes) directly, if any
        (``only``: that replica or none), with its link and files."""
        for replica, link in self.readers:
            if link.shares and (only is None or replica is only):
                try:
                    files = link.local_replica()
                    if files is not None:
                        return replica, link, files
                except LinkFailure as exc:
                    self._fail(replica, exc)
        return None

    def _local_writer(self, writes: list[tuple], only: Replica | None = None) -> tuple[Replica, ReplicaLink, LocalReplica] | None:
        """The RW replica whose head this batch of aligned writes goes to directly, if any:
        one with a writable share that is current and whose process is alive (``only``: that
        replica or none). A batch with a FUA write goes by socket (the replica makes it durable
        before it answers)."""
        for w in writes:
            if w[2]:
                return None
        local = self._local(only)
        if local is None:
            return None
        replica, link, files = local
        if not files.writable:
            return None
        if not files.usable():  # a share from before a chain edit, or a dead replica: by socket,
            link.drop_local()  # which marks a dead one ERR; the next batch fetches a fresh share
            return None
        return replica, link, files

    def _run(self, writes: list, reads: list) -> None:
        """Rounds until the writes are settled and every read served or no RW replica left."""
        ok, failed = self._round(writes, reads)
        if not ok:
            for w in writes:
                w[5].error = errno.EIO
        while failed:
            self.refresh()
            if not self.readers:
                for r in failed:
                    r[3].error = errno.EIO
                return
            _, failed = self._round([], failed)

    def begin_writes(self, writes: list[tuple], nbytes: int, after: WritesInFlight | None = None) -> WritesInFlight:
        """Send a batch of in-range sector-aligned WRITEs only, each ``(offset, length, wire flags,
        payload, ...)``, ``nbytes`` payload bytes in all (the common case, without request objects),
        to every RW/WO replica: into a same-machine one's head directly, to the others by socket;
        `end_writes` collects their acks. The payloads are not needed afterwards. Batches begun
        one after another are applied in that order by every replica. ``after``: the batch still
        in flight, if any: only the replica the engine wrote that one into directly may take this
        one directly too; every other replica's process could still be applying the batch before,
        and a SHARE's answer on its link would queue behind that batch's acks."""
        self.refresh()
        pack = REQUEST.pack
        base = self.seq
        self.seq = base + len(writes)
        parts: list = []
        append = parts.append
        for seq, w in enumerate(writes, base):
            append(pack(MAGIC, _OP_WRITE, w[2], w[1], seq, w[0]))
            append(w[3])
        total = nbytes + len(writes) * REQUEST.size
        if after is None:
            local = self._local_writer(writes) if self.readers else None
        elif after.direct is not None and not self.volume.gate.closing:
            # Only that replica's link is idle: any other carries the batch in flight. (While a pause
            # waits, no share is fetched: it would outlive the pause's chain edit on an idle connection.)
            local = self._local_writer(writes, after.direct)
        else:
            local = None
        if local is None:
            writers = self.writers
            return WritesInFlight(len(writes), base, writers, self._send_writes(writers, parts, total))
        replica, link, files = local
        others = [w for w in self.writers if w[1] is not link]
        broken = self._send_writes(others, parts, total)  # they work while we write
        if not files.write(writes):
            self._fail(replica, LinkFailure("direct write to the head failed, or raced a chain change"))
            return WritesInFlight(len(writes), base, others, broken)
        self.stats.direct_writes += len(writes)
        return WritesInFlight(len(writes), base, others, broken, replica)

    def end_writes(self, batch: WritesInFlight) -> bool:
        """Collect a begun batch's acks: True when every RW/WO replica settled it and a RW one
        has it; False means EIO for all its writes."""
        ok = self._settle(batch.count, batch.base, batch.writers, batch.broken)
        direct = batch.direct  # (another connection may have put it in ERR since)
        return ok or direct is not None and direct.mode is _RW

    def _settle(self, count: int, base: int, writers: list, broken: dict[ReplicaLink, LinkFailure]) -> bool:
        """Collect the acks of a round of ``count`` non-read requests already sent to ``writers``
        (``broken``: the links that failed); True if a RW replica acknowledged them all."""
        dests = [None] * count
        spin = len(writers) == 1  # as in _round: spin only while one replica works for us
        acks = expected_acks(base, count)  # built once, compared against each writer's answer
        ok = False
        for replica, link in writers:
            if link not in broken:
                try:
                    link.collect(count, base, dests, spin, acks)
                except LinkFailure as exc:
                    broken[link] = exc
            if link in broken:
                self._fail(replica, broken[link])
            elif replica.mode is _RW:
                ok = True
        return ok

    def _send_writes(self, writers: list, parts: list, total: int | None = None) -> dict[ReplicaLink, LinkFailure]:
        """Send a batch to ``writers``; a replica whose send failed turns ERR now, not when the batch
        is collected: a batch begun before that must not wait out its timeout again."""
        broken = self._send({link: parts for _, link in writers}, total)
        if broken:
            for replica, link in writers:
                if link in broken:
                    self._fail(replica, broken[link])
        return broken

    def _send(self, parts_of: dict[ReplicaLink, list], total: int | None = None) -> dict[ReplicaLink, LinkFailure]:
        """Send each link its parts (``total`` bytes each, if known); return the links that failed."""
        broken: dict[ReplicaLink, LinkFailure] = {}
        if len(parts_of) == 1:
            for link, parts in parts_of.items():
                try:
                    link.send(parts)
                except LinkFailure as exc:
                    broken[link] = exc
        elif parts_of:  # interleaved, so the replicas drain large batches in parallel
            by_sock = {link.sock: link for link in parts_of}
            unsent = send_all_many({link.sock: parts for link, parts in parts_of.items()}, self.volume.timeout, total)
            for sock, error in unsent.items():
                broken[by_sock[sock]] = LinkFailure(f"send: {error.__class__.__name__}")
        return broken

    def _round(self, writes: list, reads: list) -> tuple[bool, list]:
        """Send writes to every writer and reads to one reader; return (writes ok, reads to retry)."""
        self.refresh()
        pack = REQUEST.pack
        base = self.seq
        nw = len(writes)
        self.seq += nw + len(reads)
        dests: list = [None] * nw
        dests += [r[2] for r in reads]
        plan: dict[ReplicaLink, list] = {}  # link -> [replica, parts, count, reads, is_writer]
        if writes:
            parts = []
            for j, (op, flags, offset, length, payload, _) in enumerate(writes):
                parts.append(pack(MAGIC, op, flags, length, base + j, offset))
                if payload is not None:
                    parts.append(payload)
            if not reads:
                writers = self.writers
                return self._settle(nw, base, writers, self._send_writes(writers, parts)), []
            for replica, link in self.writers:
                plan[link] = [replica, parts, nw, [], True]  # shared: the senders never mutate it
        failed: list = []
        if reads:
            if self.readers:
                # Sticky for a run of batches, then the next RW replica: each read still wakes a
                # process, but the same warm one (per-batch rotation cost ~3x the CPU per read).
                replica, link = self.readers[(self.turn // READ_RUN) % len(self.readers)]
                self.turn += 1
                entry = plan.setdefault(link, [replica, [], 0, [], False])
                entry[1] = entry[1] + [pack(MAGIC, Op.READ, 0, r[1], base + nw + i, r[0]) for i, r in enumerate(reads)]
                entry[2] += len(reads)
                entry[3] = reads
            else:
                failed = list(reads)
        broken = self._send({link: entry[1] for link, entry in plan.items()})
        ok = not writes
        # Spin only while ONE replica works for us (reads): with 3 writers a fixed 50 us spin took the
        # CPU the replicas need (qd1 write +90 us), and the adaptive spin bought nothing (+167 -> +157 us).
        spin = len(plan) == 1
        for link, entry in plan.items():
            if link not in broken:
                try:
                    link.collect(entry[2], base, dests, spin)
                except LinkFailure as exc:
                    broken[link] = exc
            if link in broken:
                self._fail(entry[0], broken[link])
                failed += entry[3]
            elif entry[4] and entry[0].mode is Mode.RW:
                ok = True
        return ok, failed

    def _read_modify_write(self, req: IoRequest) -> None:
        """Write the sectors an unaligned WRITE (or WRITE_ZEROES edge) touches, whole."""
        offset, end = req.offset, req.offset + req.length
        first, last = offset // SECTOR * SECTOR, -(-end // SECTOR) * SECTOR
        if req.kind is Kind.WRITE:
            segments = [(first, last)]
        else:
            head = (first, first + SECTOR) if offset % SECTOR else None
            tail = (last - SECTOR, last) if end % SECTOR else None
            if head and tail and head[1] >= tail[0]:
                segments = [(first, last)]
            else:
                segments = [s for s in (head, tail) if s]
        fua = Flag.FUA if req.fua else 0
        for seg_start, seg_end in segments:
            buf = memoryview(bytearray(seg_end - seg_start))
            reads = []
            if seg_start < offset:
                reads.append((seg_start, SECTOR, buf[:SECTOR], req))
            if seg_end > end and (seg_end - SECTOR > seg_start or not reads):
                reads.append((seg_end - SECTOR, SECTOR, buf[-SECTOR:], req))
            self._run([], reads)
            if req.error:
                return
            lo, hi = max(seg_start, offset), min(seg_end, end)
            if req.payload is not None:
                buf[lo - seg_start : hi - seg_start] = req.payload[lo - offset : hi - offset]
            else:
                buf[lo - seg_start : hi - seg_start] = bytes(hi - lo)
            writes = [
                (Op.WRITE, fua, off, size, buf[off - seg_start : off - seg_start + size], req)
                for off, size in _pieces(seg_start, seg_end, MAX_IO)
            ]
            self._run(writes, [])
            if req.error:
                return


def _pieces(start: int, end: int, step: int) -> list[tuple[int, int]]:
    return [(off, min(step, end - off)) for off in range(start, end, step)]
