"""The replica's binary data server (protocol: replica/wire.py).

One blocking thread per connection. Per receive it parses EVERY complete
request in the buffer, executes them inline on the chain (one lock hold per
batch), and answers the whole batch with ONE ``sendmsg`` of response headers
and read payloads (memoryviews into a preallocated buffer, no copies). Bad
magic or an unknown op closes that connection only. Started by replica/cli.py.
"""

from __future__ import annotations

import array
import errno
import logging
import mmap
import os
import socket
import threading
from pathlib import Path

from replica.chain import SparseFileChain
from replica.map_share import SHARE_INFO, SHARE_INFO_RO, SharedMap
from replica.wire import MAGIC, MAX_IO, REQUEST, RESPONSE, Flag, Op

log = logging.getLogger(__name__)

HEADER = REQUEST.size
HEADER_OUT = RESPONSE.size
ACKS = 4096  # write acks buffered per batch before they are sent
IN_BUFFER = MAX_IO + (1 << 20)
OUT_BUFFER = 2 * MAX_IO
IOV_MAX = 1000
SCM_MAX_FD = 253  # descriptors one SCM_RIGHTS message may carry (Linux)
SEND_BUFFER = 4 << 20  # a batch of 16 x 128k read responses in one sendmsg (capped by net.core.wmem_max)
_READ, _WRITE, _UNMAP, _FLUSH, _PING, _SHARE = (
    int(op) for op in (Op.READ, Op.WRITE, Op.UNMAP, Op.FLUSH, Op.PING, Op.SHARE))
_WRITABLE = int(Flag.WRITABLE)


class ProtocolError(Exception):
    """The peer broke the protocol; its connection is closed."""


def send_all(sock: socket.socket, parts: list[memoryview | bytes]) -> None:
    """One sendmsg for the batch (more only if the kernel takes a partial write)."""
    while parts:
        batch = parts[:IOV_MAX]
        sent = sock.sendmsg(batch)
        total = sum(len(p) for p in batch)
        if sent == total:
            del parts[: len(batch)]
            continue
        i = 0
        while sent >= len(batch[i]):
            sent -= len(batch[i])
            i += 1
        parts[:i + 1] = [memoryview(batch[i])[sent:]]


def send_share(conn: socket.socket, chain: SparseFileChain, seq: int, flags: int = 0) -> tuple[SharedMap, int] | None:
    """Answer SHARE: the location map's memfd and the layer fds (caller holds the chain lock).

    The engine gets read-only descriptors of the same files; with Flag.WRITABLE granted
    (replica/wire.py), the memfd and the head read-write, and a write slot, returned
    with its map: the caller gives it back when this connection is done with it."""
    if conn.family != socket.AF_UNIX or len(chain.fds) > SCM_MAX_FD:  # the map's memfd + each layer's
        send_all(conn, [RESPONSE.pack(MAGIC, errno.ENOTSUP, 0, seq)])  # the engine reads through us
        return None
    memfd, layer_fds, sectors = chain.share()
    held = chain.claim_write_slot() if flags & _WRITABLE else None
    slot = held[1] if held else 0
    if flags & _WRITABLE:
        info = SHARE_INFO.pack(len(layer_fds), sectors, slot)
    else:  # the original answer, which engines that never ask for writes expect
        info = SHARE_INFO_RO.pack(len(layer_fds), sectors)
    writable = {memfd, layer_fds[-1]} if slot else set()
    opened: list[int] = []
    try:
        for fd in (memfd, *layer_fds):
            mode = os.O_RDWR if fd in writable else os.O_RDONLY
            opened.append(os.open(f"/proc/self/fd/{fd}", mode | os.O_CLOEXEC))
        parts = [RESPONSE.pack(MAGIC, 0, len(info), seq), info]
        sent = conn.sendmsg(parts, [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", opened))])
    finally:
        for fd in opened:
            os.close(fd)
    if sent < len(parts[0]) + len(info):
        send_all(conn, [(parts[0] + info)[sent:]])
    return held


def serve_connection(conn: socket.socket, chain: SparseFileChain) -> None:
    held: list[tuple[SharedMap, int]] = []  # the write slot this connection's engine holds
    try:
        _serve(conn, chain, held)
    finally:
        if held:
            chain.give_back_write_slot(*held[0])


def _serve(conn: socket.socket, chain: SparseFileChain, held: list[tuple[SharedMap, int]]) -> None:
    inbuf = mmap.mmap(-1, IN_BUFFER)  # anonymous maps: pages are touched only when used
    inview = memoryview(inbuf)
    outview = memoryview(mmap.mmap(-1, OUT_BUFFER))
    acks = bytearray(ACKS * HEADER_OUT)  # headers of payload-less responses, sent as one buffer per batch
    ackview = memoryview(acks)
    start = end = 0
    pack, pack_into, unpack = RESPONSE.pack, RESPONSE.pack_into, REQUEST.unpack_from
    write = chain.write
    while True:
        if end == IN_BUFFER or (start and IN_BUFFER - start < HEADER + MAX_IO):
            inbuf[: end - start] = inbuf[start:end]  # compact: keep the partial request
            end -= start
            start = 0
        got = conn.recv_into(inview[end:])
        if got == 0:
            return
        end += got
        parts: list[memoryview | bytes] = []
        outpos = acked = 0
        with chain.lock:
            while end - start >= HEADER:
                magic, op, flags, length, seq, offset = unpack(inbuf, start)
                if magic != MAGIC:
                    raise ProtocolError(f"bad magic {magic:#x}")
                if acked == ACKS:  # the ack buffer is full: its headers go out first
                    send_all(conn, [*parts, ackview])
                    parts, outpos, acked = [], 0, 0
                if op == _WRITE:
                    if length > MAX_IO:
                        raise ProtocolError(f"WRITE of {length} bytes exceeds {MAX_IO}")
                    stop = start + HEADER + length
                    if stop > end:
                        break
                    try:
                        write(inview[start + HEADER : stop], offset, flags)
                        pack_into(acks, acked * HEADER_OUT, MAGIC, 0, 0, seq)
                    except OSError as exc:
                        pack_into(acks, acked * HEADER_OUT, MAGIC, exc.errno or errno.EIO, 0, seq)
                    acked += 1
                    start = stop
                    continue
                start += HEADER
                if op == _READ:
                    if length > MAX_IO:
                        parts.append(pack(MAGIC, errno.EINVAL, 0, seq))
                        continue
                    if outpos + length > OUT_BUFFER:
                        send_all(conn, parts)
                        parts, outpos = [], 0
                    dst = outview[outpos : outpos + length]
                    try:
                        chain.read_into(dst, offset)
                    except OSError as exc:
                        parts.append(pack(MAGIC, exc.errno or errno.EIO, 0, seq))
                        continue
                    outpos += length
                    parts.append(pack(MAGIC, 0, length, seq))
                    parts.append(dst)
                    continue
                if op == _SHARE:
                    if acked:
                        parts.append(ackview[: acked * HEADER_OUT])
                    send_all(conn, parts)  # earlier responses first: the fds travel with this one
                    parts, outpos, acked = [], 0, 0
                    if held:  # the engine dropped its previous share before asking again
                        chain.give_back_write_slot(*held.pop())
                    granted = send_share(conn, chain, seq, flags)
                    if granted:
                        held.append(granted)
                    continue
                status = 0
                try:
                    if op == _UNMAP:
                        chain.unmap(offset, length, flags)
                    elif op == _FLUSH:
                        chain.flush()
                    elif op != _PING:
                        raise ProtocolError(f"unknown op {op}")
                except OSError as exc:
                    status = exc.errno or errno.EIO
                parts.append(pack(MAGIC, status, 0, seq))
        if start == end:
            start = end = 0
        if acked:
            parts.append(ackview[: acked * HEADER_OUT])
        if parts:
            send_all(conn, parts)


class DataServer:
    """Accepts data connections on TCP and/or a unix socket; one thread each."""

    def __init__(self, chain: SparseFileChain, tcp: tuple[str, int] | None, unix_path: Path | None) -> None:
        self.chain = chain
        self.listeners: list[socket.socket] = []
        self.connections: set[socket.socket] = set()
        self._guard = threading.Lock()
        if tcp is not None:
            sock = socket.create_server(tcp, reuse_port=False)
            self.listeners.append(sock)
        if unix_path is not None:
            if unix_path.exists():
                unix_path.unlink()
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.bind(os.fspath(unix_path))
            sock.listen(64)
            self.listeners.append(sock)
        self.unix_path = unix_path

    @property
    def tcp_address(self) -> str | None:
        for sock in self.listeners:
            if sock.family != socket.AF_UNIX:
                host, port = sock.getsockname()[:2]
                return f"{host}:{port}"
        return None

    def start(self) -> None:
        for sock in self.listeners:
            threading.Thread(target=self._accept, args=(sock,), daemon=True, name="data-accept").start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return  # listener closed
            if conn.family != socket.AF_UNIX:
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            else:
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
            with self._guard:
                self.connections.add(conn)
            threading.Thread(target=self._run, args=(conn,), daemon=True, name="data-conn").start()

    def _run(self, conn: socket.socket) -> None:
        try:
            serve_connection(conn, self.chain)
        except ProtocolError as exc:
            log.warning("closing data connection: %s", exc)
        except OSError as exc:
            log.info("data connection ended: %s", exc)
        finally:
            with self._guard:
                self.connections.discard(conn)
            conn.close()

    def stop(self) -> None:
        for sock in self.listeners:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
        with self._guard:
            conns = list(self.connections)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self.unix_path is not None and self.unix_path.exists():
            self.unix_path.unlink()
