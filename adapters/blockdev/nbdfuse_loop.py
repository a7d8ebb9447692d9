"""Block devices from nbdfuse + a loop device (where the kernel has no NBD client).

Layout under ``run_dir`` for one attachment: ``nbdfuse-XXXX/`` is the FUSE
mount point (nbdfuse serves the export as the file ``nbd`` in it),
``nbdfuse-XXXX.pid`` and ``nbdfuse-XXXX.log`` sit beside it. nbdfuse runs in
its own session so it outlives the process that attached (a CLI verb); it
exits by itself, with status 0, when its mount point is unmounted.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from adapters.blockdev.block_device import BlockClient, BlockDevice
from adapters.blockdev.errors import AttachFailed, BlockDeviceError, CommandFailed
from adapters.blockdev.host_commands import require, run
from adapters.blockdev.mounts import mount_at, mounts

log = logging.getLogger(__name__)

EXPORT_FILE = "nbd"
DEFAULT_RUN_DIR = Path(tempfile.gettempdir()) / "pronghorn-blockdev"
EXIT_WAIT = 10.0
FUSE_BUSY_WAIT = 10.0  # a detached loop device lets go of the file asynchronously: seconds under load


def attach(uri: str, *, run_dir: str | os.PathLike[str] | None = None, timeout: float = 10.0) -> BlockDevice:
    """Serve ``uri`` as a file with nbdfuse and bind a loop device to it; undone entirely on failure."""
    nbdfuse, _ = require("nbdfuse"), require("losetup")
    base = Path(run_dir) if run_dir is not None else DEFAULT_RUN_DIR
    base.mkdir(parents=True, exist_ok=True)
    fuse_dir = Path(tempfile.mkdtemp(prefix="nbdfuse-", dir=base))
    pid_file, log_file = _sidecars(fuse_dir)
    with contextlib.ExitStack() as undo:
        undo.callback(_remove_leftovers, fuse_dir)
        with open(log_file, "wb") as log_out:
            process = subprocess.Popen(
                [nbdfuse, "-P", str(pid_file), str(fuse_dir), uri],
                stdin=subprocess.DEVNULL, stdout=log_out, stderr=log_out, start_new_session=True,
            )
        device = BlockDevice("", uri, BlockClient.NBDFUSE_LOOP, fuse_dir, process.pid, process)
        undo.callback(_stop_nbdfuse, device)
        _wait_ready(process, pid_file, log_file, uri, timeout)
        try:
            done = run(["losetup", "--find", "--show", "--direct-io=on", str(fuse_dir / EXPORT_FILE)])
        except CommandFailed as exc:
            raise AttachFailed(f"cannot make a loop device for {uri}: {exc}") from exc
        device.path = done.stdout.strip()
        undo.pop_all()
    return device


def release(device: BlockDevice) -> list[tuple[str, BaseException]]:
    """Detach the loop device, unmount the FUSE mount, wait for nbdfuse; the failures, step by step.

    nbdfuse is stopped only once its FUSE mount is gone: killing it under a
    busy loop device would fail the I/O of a still-mounted filesystem (the
    FUSE unmount fails while the loop device holds the file open).
    """
    failures: list[tuple[str, BaseException]] = []
    if device.path and _still_ours(device):
        with contextlib.suppress(OSError):  # best effort: push the loop device's cache to the export
            _fsync_device(device.path)
        try:
            run(["losetup", "--detach", device.path])
        except CommandFailed as exc:
            failures.append((f"losetup --detach {device.path}", exc))
    if device.fuse_dir is None:
        return failures
    try:
        _unmount_fuse(device.fuse_dir)
    except CommandFailed as exc:
        failures.append((f"umount {device.fuse_dir}", exc))
        return failures
    _stop_nbdfuse(device)
    _remove_leftovers(device.fuse_dir)
    return failures


def _still_ours(device: BlockDevice) -> bool:
    """True while the loop device is bound to this attachment's file (not detached, not reused by another)."""
    backing = Path("/sys/block", Path(os.path.realpath(device.path)).name, "loop", "backing_file")
    try:
        bound_to = backing.read_text().strip()
    except OSError:
        return False
    return device.fuse_dir is None or bound_to == str(device.fuse_dir / EXPORT_FILE)


def find(dev_path: str) -> BlockDevice:
    """The BlockDevice of loop device ``dev_path`` whose backing file an nbdfuse mount serves."""
    backing = Path("/sys/block", Path(os.path.realpath(dev_path)).name, "loop", "backing_file")
    try:
        backing_file = Path(backing.read_text().strip())
    except OSError as exc:
        raise BlockDeviceError(f"{dev_path} is not an attached loop device") from exc
    fuse_dir = backing_file.parent
    fuse_mount = mount_at(fuse_dir)
    if backing_file.name != EXPORT_FILE or fuse_mount is None or not fuse_mount.fstype.startswith("fuse"):
        raise BlockDeviceError(f"{dev_path} is backed by {backing_file}, not by an nbdfuse export")
    pid = _read_pid(_sidecars(fuse_dir)[0])
    return BlockDevice(dev_path, _uri_of(pid), BlockClient.NBDFUSE_LOOP, fuse_dir, pid)


def reap_orphans(run_dir: str | os.PathLike[str] | None = None) -> list[Path]:
    """Unmount nbdfuse mounts under ``run_dir`` that no loop device uses (left by a caller killed mid-attach).

    Returns the mount points released. Safe to run at any time: a mount whose
    file backs a loop device is in use and is left alone.
    """
    base = os.path.realpath(run_dir if run_dir is not None else DEFAULT_RUN_DIR)
    backing = set()
    for entry in Path("/sys/block").glob("loop*/loop/backing_file"):
        with contextlib.suppress(OSError):
            backing.add(entry.read_text().strip())
    released = []
    for mounted in mounts():
        fuse_dir = Path(mounted.mount_point)
        if str(fuse_dir.parent) != base or not fuse_dir.name.startswith("nbdfuse-"):
            continue
        if str(fuse_dir / EXPORT_FILE) in backing:
            continue
        pid = _read_pid(_sidecars(fuse_dir)[0])
        _stop_nbdfuse(BlockDevice("", _uri_of(pid), BlockClient.NBDFUSE_LOOP, fuse_dir, pid))
        _remove_leftovers(fuse_dir)
        released.append(fuse_dir)
    return released


def _unmount_fuse(fuse_dir: Path) -> None:
    """Unmount the FUSE mount, retrying briefly: a loop device just detached may still hold the file."""
    deadline = time.monotonic() + FUSE_BUSY_WAIT
    while mount_at(fuse_dir) is not None:
        try:
            run(["umount", str(fuse_dir)])
        except CommandFailed:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _sidecars(fuse_dir: Path) -> tuple[Path, Path]:
    return fuse_dir.with_name(fuse_dir.name + ".pid"), fuse_dir.with_name(fuse_dir.name + ".log")


def _wait_ready(process: subprocess.Popen[bytes], pid_file: Path, log_file: Path, uri: str, timeout: float) -> None:
    """nbdfuse writes its pid file once it has connected and serves the file."""
    deadline = time.monotonic() + timeout
    while not (pid_file.exists() and pid_file.stat().st_size > 0):
        if process.poll() is not None:
            detail = log_file.read_text(errors="replace").strip() or "no output"
            raise AttachFailed(f"nbdfuse could not serve {uri} (exit {process.returncode}): {detail}")
        if time.monotonic() > deadline:
            raise AttachFailed(f"nbdfuse did not serve {uri} within {timeout:g} s")
        time.sleep(0.01)


def _fsync_device(dev_path: str) -> None:
    fd = os.open(dev_path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _stop_nbdfuse(device: BlockDevice) -> None:
    """Unmount the FUSE mount if still there, then wait for nbdfuse to exit (kill it if it will not)."""
    if device.fuse_dir is not None:
        with contextlib.suppress(CommandFailed):
            _unmount_fuse(device.fuse_dir)
    if device.nbdfuse_pid is None:
        return
    if not _wait_exit(device, EXIT_WAIT):
        log.warning("nbdfuse pid %d did not exit after its unmount; killing it", device.nbdfuse_pid)
        with contextlib.suppress(ProcessLookupError):
            os.kill(device.nbdfuse_pid, signal.SIGKILL)
        _wait_exit(device, EXIT_WAIT)


def _wait_exit(device: BlockDevice, timeout: float) -> bool:
    pid = device.nbdfuse_pid
    assert pid is not None
    if device.process is not None:
        try:
            status = device.process.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        if status != 0:
            log.warning("nbdfuse for %s exited with status %d", device.uri, status)
        return True
    deadline = time.monotonic() + timeout
    while _alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (reaping it if it is our own exited child)."""
    with contextlib.suppress(ChildProcessError):
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def _read_pid(pid_file: Path) -> int | None:
    try:
        return int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None


def _uri_of(pid: int | None) -> str:
    """The URI nbdfuse ``pid`` serves (its last argument), or "" when unknown."""
    if pid is None:
        return ""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\0").split(b"\0")[-1].decode()
    except OSError:
        return ""


def _remove_leftovers(fuse_dir: Path) -> None:
    """Remove the (unmounted, empty) mount point and its sidecar files."""
    if mount_at(fuse_dir) is not None:
        return
    with contextlib.suppress(OSError):
        fuse_dir.rmdir()
    for sidecar in _sidecars(fuse_dir):
        with contextlib.suppress(OSError):
            sidecar.unlink()
