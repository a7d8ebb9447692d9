"""Typed errors of the block-device adapter.

Callers (CLI verbs, the CSI node plugin, tests) tell failures apart by type,
never by message text; every message says what failed and with what.
"""

from __future__ import annotations

from collections.abc import Sequence


class BlockDeviceError(Exception):
    """Base of every error raised by adapters.blockdev."""


class ToolMissing(BlockDeviceError):
    def __init__(self, tool: str) -> None:
        super().__init__(f"required program {tool!r} is not installed (see deploy/install-system-deps.sh)")
        self.tool = tool


class CommandFailed(BlockDeviceError):
    def __init__(self, argv: Sequence[str], returncode: int, stderr: str) -> None:
        detail = stderr.strip().splitlines()[-1] if stderr.strip() else "no error output"
        super().__init__(f"{' '.join(argv)} failed (exit {returncode}): {detail}")
        self.argv = list(argv)
        self.returncode = returncode
        self.stderr = stderr


class AttachFailed(BlockDeviceError):
    """The NBD export could not be turned into a block device."""


class FilesystemMismatch(BlockDeviceError):
    """The device already holds data of another kind; it is never reformatted."""

    def __init__(self, device: str, found: str, wanted: str) -> None:
        super().__init__(f"{device} already holds {found}, not {wanted}: refusing to format it")
        self.device = device
        self.found = found
        self.wanted = wanted


class MountFailed(BlockDeviceError):
    pass


class UnmountFailed(BlockDeviceError):
    pass


class DetachFailed(BlockDeviceError):
    """Some tear-down steps failed; the others still ran. ``steps`` names each failure."""

    def __init__(self, device: str, steps: Sequence[tuple[str, BaseException]]) -> None:
        summary = "; ".join(f"{step}: {error}" for step, error in steps)
        super().__init__(f"detaching {device} left work undone: {summary}")
        self.device = device
        self.steps = list(steps)


class DeviceErrorsLogged(BlockDeviceError):
    """The kernel logged errors for the device while it was mounted (it is unmounted now).

    ``lines``: the kernel log's lines, oldest first; the message names the first and the count."""

    def __init__(self, path: str, device: str, lines: Sequence[str]) -> None:
        more = f" (and {len(lines) - 1} more; see dmesg)" if len(lines) > 1 else ""
        super().__init__(f"{path} unmounted, but the kernel logged {len(lines)} error"
                         f"{'s' if len(lines) != 1 else ''} for {device} while it was mounted: {lines[0]}{more}")
        self.path = path
        self.device = device
        self.lines = list(lines)
