"""DirectWriter: writes a rebuild target's received data with O_DIRECT, behind the receive.

Buffered writes of a whole layer into fresh page-cache pages cost more CPU
(and wall time, under memory churn) than the rest of a rebuild; the data is
fsynced at the end anyway. O_DIRECT needs aligned memory, offsets and lengths,
and a synchronous O_DIRECT write leaves the socket idle: so the receiver gets a
place in one of a few page-aligned batch buffers for each piece (``reserve``),
receives and verifies it there, ``commit``s it, and contiguous pieces are
written together by a background thread while the next batch is received.
A batch that is not 4 KiB-aligned (or a filesystem without O_DIRECT) goes
through the normal fd. Only committed pieces are ever written; ``close``
waits for the writes and raises the first error. Used by replica/rebuild_pull.py.
"""

from __future__ import annotations

import errno
import mmap
import os
import queue
import threading
from pathlib import Path

ALIGN = 4096
BATCH = 8 << 20  # bytes per write (4 interleaved pairs vs 4 MiB: less target CPU and wall time in each)
DEPTH = 4  # batch buffers: one being received, the rest written or waiting (32 MiB in all)


class DirectWriter:
    def __init__(self, path: Path, fd: int, batch: int = BATCH, depth: int = DEPTH) -> None:
        self.fd = fd  # the buffered fd of the same file, for unaligned batches
        try:
            self.direct = os.open(path, os.O_WRONLY | os.O_DIRECT)
        except OSError:
            self.direct = -1
        self.batch = batch
        memory = mmap.mmap(-1, batch * depth)  # page-aligned, as O_DIRECT needs
        self._free: queue.SimpleQueue[memoryview] = queue.SimpleQueue()
        for i in range(depth):
            self._free.put(memoryview(memory)[i * batch:(i + 1) * batch])
        self._todo: queue.SimpleQueue[tuple[memoryview, int, int] | None] = queue.SimpleQueue()
        self._error: Exception | None = None
        self.written = 0  # bytes written so far (behind what was committed)
        self._thread = threading.Thread(target=self._run, daemon=True, name="rebuild-writer")
        self._thread.start()
        self._buffer: memoryview | None = None
        self._start = self._fill = self._reserved = 0

    def reserve(self, offset: int, length: int) -> memoryview:
        """Where to put the piece at ``offset``; it is written once ``commit`` says it is good."""
        if length > self.batch:
            raise ValueError(f"piece of {length} bytes exceeds the {self.batch}-byte batch")
        if self._error is not None:
            raise self._error
        if self._buffer is not None and (offset != self._start + self._fill or self._fill + length > self.batch):
            self._submit()
        if self._buffer is None:
            self._buffer, self._start, self._fill = self._free.get(), offset, 0
        self._reserved = length
        return self._buffer[self._fill:self._fill + length]

    def commit(self) -> None:
        """The piece last reserved is complete and verified."""
        self._fill += self._reserved
        self._reserved = 0

    def write(self, data: bytes | memoryview, offset: int) -> None:
        """Copy ``data`` in and commit it (any length)."""
        view = memoryview(data)
        for pos in range(0, len(view), self.batch):
            piece = view[pos:pos + self.batch]
            self.reserve(offset + pos, len(piece))[:] = piece
            self.commit()

    def _submit(self) -> None:
        if self._buffer is not None and self._fill:
            self._todo.put((self._buffer, self._start, self._fill))
        elif self._buffer is not None:
            self._free.put(self._buffer)
        self._buffer = None

    def _run(self) -> None:
        while (job := self._todo.get()) is not None:
            buffer, offset, n = job
            try:
                if self._error is None:
                    self._write(buffer[:n], offset)
                    self.written += n
            except Exception as exc:  # kept for the receiver; the loop goes on so no buffer is lost
                self._error = exc
            self._free.put(buffer)

    def _write(self, view: memoryview, offset: int) -> None:
        if self.direct < 0 or offset % ALIGN or len(view) % ALIGN:
            _write_all(self.fd, view, offset)
            return
        try:
            _write_all(self.direct, view, offset)
        except OSError as exc:
            if exc.errno != errno.EINVAL:
                raise
            os.close(self.direct)  # the filesystem refuses O_DIRECT after all
            self.direct = -1
            _write_all(self.fd, view, offset)

    def close(self, flush: bool = True) -> None:
        """Write the committed pieces (unless ``flush`` is False), wait, and raise the first error."""
        if flush:
            self._submit()
        self._buffer = None
        self._todo.put(None)
        self._thread.join()
        if self.direct >= 0:
            os.close(self.direct)
            self.direct = -1
        if self._error is not None:
            raise self._error


def _write_all(fd: int, view: memoryview, offset: int) -> None:
    while len(view):
        done = os.pwrite(fd, view, offset)
        view, offset = view[done:], offset + done
