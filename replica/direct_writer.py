"""DirectWriter: writes a rebuild target's received data with O_DIRECT.

Buffered writes of a whole layer into fresh page-cache pages cost more CPU
(and wall time, under memory churn) than the rest of a rebuild; the data is
fsynced at the end anyway. O_DIRECT needs aligned memory, offsets and lengths:
pieces are copied into one reusable page-aligned buffer, and a piece that is
not 4 KiB-aligned (or a filesystem without O_DIRECT) goes through the normal
fd. Used by replica/rebuild_target.py for the ReadChunks stream.
"""

from __future__ import annotations

import errno
import mmap
import os
from pathlib import Path

ALIGN = 4096


class DirectWriter:
    def __init__(self, path: Path, fd: int, buffer_size: int) -> None:
        self.fd = fd  # the buffered fd of the same file, for unaligned pieces
        try:
            self.direct = os.open(path, os.O_WRONLY | os.O_DIRECT)
        except OSError:
            self.direct = -1
        self._map = mmap.mmap(-1, buffer_size)
        self._view = memoryview(self._map)

    @property
    def buffer(self) -> memoryview:
        """The aligned buffer: data received into it is written by ``write_buffer``, without a copy."""
        return self._view

    def write(self, data: bytes | memoryview, offset: int) -> None:
        if len(data) > len(self._view):
            _write_all(self.fd, memoryview(data), offset)
            return
        self._view[: len(data)] = data
        self.write_buffer(len(data), offset)

    def write_buffer(self, n: int, offset: int) -> None:
        """Write the first ``n`` bytes of ``buffer`` at ``offset``."""
        view = self._view[:n]
        if self.direct < 0 or offset % ALIGN or n % ALIGN:
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

    def close(self) -> None:
        if self.direct >= 0:
            os.close(self.direct)
            self.direct = -1
        self._view.release()
        try:
            self._map.close()
        except BufferError:  # a caller still holds a view of a received piece: freed with it
            pass


def _write_all(fd: int, view: memoryview, offset: int) -> None:
    while len(view):
        done = os.pwrite(fd, view, offset)
        view, offset = view[done:], offset + done
