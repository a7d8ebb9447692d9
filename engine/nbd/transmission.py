"""NBD transmission phase for one client connection (simple replies).

Called by `engine.nbd.server` after a successful handshake, in that
connection's thread. Per receive it parses EVERY complete request in the
buffer, validates it, hands the batch to the connection's `Replicator`, and
answers the whole batch with ONE sendmsg (reply headers + read payloads as
memoryviews). Batches of aligned writes go through `engine.nbd.write_pipeline`:
when the client has sent more already, the next batch goes out to the replicas
before the last one's acks are collected. Bad input gets an NBD error; a bad
magic or an oversized length disconnects this connection only.
"""

from __future__ import annotations

import errno
import logging
import socket
import time

from engine.io_request import IoRequest, Kind
from engine.nbd.handshake import ProtocolViolation
from engine.nbd.protocol import MAX_BLOCK, REQUEST, REQUEST_MAGIC, SIMPLE_REPLY, SIMPLE_REPLY_MAGIC, Command
from engine.nbd.write_pipeline import WritePipeline
from engine.replicator import SECTOR, WIRE_FUA, Replicator
from engine.spin_receive import AdaptiveSpin
from engine.vectored import send_all
from engine.volume import IoStats, Volume

log = logging.getLogger("pronghorn.engine.nbd")
BUFFER = 8 << 20
COMPACT_BELOW = 1 << 20  # free tail space under which a partial request moves to the front
MAX_BATCH_READ = 32 << 20  # bounds the memory one batch of reads needs
HEADER = REQUEST.size
FUA, NO_HOLE, FAST_ZERO = 1, 2, 16
KINDS = {
    Command.READ: Kind.READ,
    Command.WRITE: Kind.WRITE,
    Command.FLUSH: Kind.FLUSH,
    Command.TRIM: Kind.TRIM,
    Command.WRITE_ZEROES: Kind.ZERO,
}
_WRITE, _READ, _DISC = int(Command.WRITE), int(Command.READ), int(Command.DISC)
SECTOR_MASK = SECTOR - 1
_DONTWAIT = socket.MSG_DONTWAIT
_K_READ, _K_WRITE, _K_FLUSH = Kind.READ, Kind.WRITE, Kind.FLUSH  # enum members looked up once
ALLOWED_FLAGS = {Kind.READ: FUA, Kind.WRITE: FUA, Kind.FLUSH: FUA, Kind.TRIM: FUA, Kind.ZERO: FUA | NO_HOLE | FAST_ZERO}


def serve_transmission(sock: socket.socket, volume: Volume) -> None:
    """Serve requests until the client disconnects or breaks the protocol."""
    stats = IoStats()
    replicator = Replicator(volume, stats)
    pipeline = WritePipeline(sock, volume, replicator, stats)
    volume.stats.append(stats)
    try:
        _loop(sock, volume, replicator, stats, pipeline)
    finally:
        pipeline.abandon()
        replicator.close()
        volume.retire(stats)
        requests = stats.reads + stats.writes + stats.others + stats.errors
        log.info("NBD connection closed after %d requests in %d batches", requests, stats.batches)


def _loop(sock: socket.socket, volume: Volume, replicator: Replicator, stats: IoStats, pipeline: WritePipeline) -> None:
    buf = bytearray(BUFFER)
    view = memoryview(buf)
    start = end = 0
    unpack = REQUEST.unpack_from
    spin = AdaptiveSpin()
    while True:
        batch: list[tuple] = []  # Parsed: (offset, length, wire flags, payload, handle, command, flags)
        aligned = True  # every request so far is an in-range sector-aligned WRITE (the fast path)
        size = volume.size
        need = HEADER
        disconnect = False
        read_bytes = write_bytes = 0
        while end - start >= HEADER and read_bytes < MAX_BATCH_READ:
            magic, flags, command, handle, offset, length = unpack(buf, start)
            if magic != REQUEST_MAGIC:
                raise ProtocolViolation(f"bad request magic {magic:#x}")
            if command == _WRITE:
                if length > MAX_BLOCK:
                    raise ProtocolViolation(f"request length {length} over {MAX_BLOCK}")
                stop = start + HEADER + length
                if stop > end:
                    need = HEADER + length
                    break
                payload = view[start + HEADER : stop]
                start = stop
                if aligned and (flags & ~FUA or (offset | length) & SECTOR_MASK or not length or offset + length > size):
                    aligned = False
                write_bytes += length
                batch.append((offset, length, WIRE_FUA if flags & FUA else 0, payload, handle, command, flags))
                continue
            start += HEADER
            aligned = False
            if command == _READ:
                if length > MAX_BLOCK:
                    raise ProtocolViolation(f"request length {length} over {MAX_BLOCK}")
                read_bytes += length
            elif command == _DISC:
                disconnect = True
                break
            batch.append((offset, length, 0, None, handle, command, flags))
        if batch:
            if aligned:
                pipeline.begin(batch, write_bytes)  # answered once the next batch is sent, or below
            else:
                pipeline.end()
                _serve_batch(sock, volume, replicator, stats, [_request(size, *r) for r in batch])
        if disconnect:
            pipeline.end()
            return
        if read_bytes >= MAX_BATCH_READ:
            continue  # more complete requests may wait in the buffer: serve them before receiving
        if start == end:
            start = end = 0
        if need > len(buf):  # one request larger than the buffer: a bigger one for this connection
            bigger = bytearray(need + BUFFER)
            bigger[: end - start] = view[start:end]
            buf, view = bigger, memoryview(bigger)
            end -= start
            start = 0
        elif start and (len(buf) - start < need or len(buf) - end < COMPACT_BELOW):
            view[: end - start] = view[start:end]  # move the partial request to the front
            end -= start
            start = 0
        if pipeline.open:  # requests the client has sent already go out before the acks are collected
            try:
                n = sock.recv_into(view[end:], 0, _DONTWAIT)
            except BlockingIOError:
                n = -1
            if n > 0:
                end += n
                continue
            if not n:
                pipeline.end()
                return
        pipeline.end()
        n = spin.receive_into(sock, view[end:])
        if not n:
            return
        end += n


def _request(
    size: int, offset: int, length: int, _wire: int, payload: memoryview | None, handle: int, command: int, flags: int
) -> IoRequest:
    kind = KINDS.get(command)  # type: ignore[call-overload]
    if kind is None:
        return IoRequest(Kind.FLUSH, handle=handle, error=errno.EINVAL)
    req = IoRequest(kind, offset, length, bool(flags & FUA), payload, bool(flags & NO_HOLE), bool(flags & FAST_ZERO))
    req.handle = handle
    if flags & ~ALLOWED_FLAGS[kind]:
        req.error = errno.EINVAL
    elif kind is not Kind.FLUSH and offset + length > size:
        req.error = errno.ENOSPC if kind in (Kind.WRITE, Kind.ZERO) else errno.EINVAL
    return req


def _serve_batch(
    sock: socket.socket, volume: Volume, replicator: Replicator, stats: IoStats, batch: list[IoRequest]
) -> None:
    began = time.monotonic_ns()
    stats.batches += 1
    todo = [r for r in batch if not r.error and (r.length or r.kind is _K_FLUSH)]
    if todo:
        with volume.gate:
            replicator.execute(todo)
    pack = SIMPLE_REPLY.pack
    parts: list = []
    errors = reads = read_bytes = writes = write_bytes = 0
    for req in batch:
        parts.append(pack(SIMPLE_REPLY_MAGIC, req.error, req.handle))
        kind = req.kind
        if req.error:
            errors += 1
        elif kind is _K_READ:
            parts.append(req.data if req.data is not None else bytes(req.length))
            reads += 1
            read_bytes += req.length
        elif kind is _K_WRITE:
            writes += 1
            write_bytes += req.length
    stats.errors += errors
    stats.reads += reads
    stats.read_bytes += read_bytes
    stats.writes += writes
    stats.write_bytes += write_bytes
    stats.others += len(batch) - errors - reads - writes
    send_all(sock, parts)
    stats.latency_ns += (time.monotonic_ns() - began) * len(batch)
