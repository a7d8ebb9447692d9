"""Growing a chain in two phases: check, expand, and undo of a just-made expand.

The engine grows a volume only after every replica said it can (``check_expand``:
the size is valid and this filesystem takes a file that large, probed with a
sparse file beside the chain), then commits each one (``expand``); if a later
replica fails, the ones already grown are shrunk back (``undo_expand``) while the
engine still holds I/O paused, so nothing was written above the old size. Every
step either happens entirely or leaves the chain as it was. Called by the
control service under the chain's lock.
"""

from __future__ import annotations

import errno
import os
from contextlib import ExitStack

from replica import metadata as md
from replica.chain import SparseFileChain
from replica.errors import CannotHold, FailedPrecondition, InvalidArgument
from replica.sparse import data_extents
from replica.wire import SECTOR

PROBE = ".expand-probe"
TOO_LARGE = (errno.EFBIG, errno.EINVAL, errno.ENOSPC, errno.EOVERFLOW)


def _valid(chain: SparseFileChain, size: int) -> None:
    if size <= 0 or size % SECTOR:
        raise InvalidArgument(f"size {size} is not a positive multiple of {SECTOR}")
    if size < chain.meta.size:
        raise FailedPrecondition(f"cannot shrink from {chain.meta.size} to {size} bytes")


def _truncate(fd: int, size: int, directory: object) -> None:
    try:
        os.ftruncate(fd, size)
    except OSError as exc:
        if exc.errno in TOO_LARGE:
            raise CannotHold(f"the filesystem of {directory} cannot hold a {size}-byte file: "
                             f"{os.strerror(exc.errno)}") from exc
        raise


def check_expand(chain: SparseFileChain, size: int) -> None:
    """Raise unless ``expand(chain, size)`` would succeed; changes nothing."""
    with chain.lock:
        _valid(chain, size)
        if size == chain.meta.size:
            return
        probe = chain.directory / PROBE
        fd = os.open(probe, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            _truncate(fd, size, chain.directory)
        finally:
            os.close(fd)
            probe.unlink(missing_ok=True)


def expand(chain: SparseFileChain, size: int) -> None:
    """Grow the volume (grow-only); new space reads zeros."""
    with chain.lock:
        _valid(chain, size)
        old = chain.meta.size
        if size == old:
            return
        with ExitStack() as undo:
            _truncate(chain.head_fd, size, chain.directory)
            undo.callback(os.ftruncate, chain.head_fd, old)
            os.fsync(chain.head_fd)
            meta = chain.meta.model_copy(deep=True)
            meta.size = size
            md.save_volume_meta(chain.directory, meta)  # commit
            undo.pop_all()
        chain.meta = meta
        chain.map.grow(size // SECTOR)


def undo_expand(chain: SparseFileChain, grown: int, size: int) -> None:
    """Shrink a chain just grown from ``size`` to ``grown`` back to ``size``.

    Refused unless the chain is ``grown`` bytes and holds no data above ``size``
    (no write reached the new space, no snapshot was taken since); a repeat is a no-op.
    """
    with chain.lock:
        if chain.meta.size == size:
            return
        if chain.meta.size != grown or not 0 < size < grown or size % SECTOR:
            raise FailedPrecondition(f"the chain is {chain.meta.size} bytes, not {grown}: "
                                     f"not an expand to undo down to {size}")
        files = [md.snap_file(n) for n in chain.meta.active_chain()]
        if any(os.stat(chain.directory / f).st_size > size for f in files):
            raise FailedPrecondition(f"a snapshot was taken at {grown} bytes: cannot undo the expand")
        if next(iter(data_extents(chain.head_fd, size, grown)), None) is not None:
            raise FailedPrecondition(f"data was written above {size} bytes: cannot undo the expand")
        os.ftruncate(chain.head_fd, size)
        os.fsync(chain.head_fd)
        meta = chain.meta.model_copy(deep=True)
        meta.size = size
        md.save_volume_meta(chain.directory, meta)  # commit
        chain.reopen()  # a map of the old size
