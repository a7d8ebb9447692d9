"""``pronghorn volume expand NAME --size S [--wait [--timeout S]]``: grow a volume, and
with ``--wait`` its engine and the filesystems mounted from it on this host.

The expand itself is ``Volumes.expand`` (each replica disk checked as create
checks it: exit 6 when it does not fit). The manager grows the engine, which
grows every replica or none; ``--wait`` polls the volume's ``Resized`` condition
until it says ``Expanded`` (or ``ExpandRefused``: exit 6 with the engine's
reason), then grows each filesystem mounted from the volume's export here through
``pronghorn volume mount`` (``adapters.blockdev.growth``) and prints one line per
mount point; one that cannot follow exits 5 saying why and what to do. A
detached volume grows when next attached: nothing to wait for. Reached through
``adapters.cli.volumes``.
"""

from __future__ import annotations

from adapters.blockdev.growth import Growth, grow_mounts
from adapters.cli.errors import CommandError, ExitCode
from adapters.cli.sizes import format_size
from adapters.cli.waiting import wait_until
from domain.services import Volumes
from domain.values import ConditionType, ResizeReason, VolumeState


def expand(volumes: Volumes, name: str, size: int, wait: float | None) -> list[Growth]:
    """Expand; with ``wait`` seconds, wait for the engine and grow the local mounts (their outcomes)."""
    volume = volumes.expand(name, size)
    if wait is None or volume.state != VolumeState.ATTACHED:
        return []

    def grown() -> bool:
        resized = volumes.get(name).conditions.get(ConditionType.RESIZED)
        if resized is not None and resized.reason == ResizeReason.REFUSED:
            raise CommandError(f"volume {name!r} not grown: {resized.message}", ExitCode.SCHEDULING)
        return resized is None or resized.reason == ResizeReason.EXPANDED

    wait_until(grown, wait, lambda: f"volume {name!r} still growing after {wait:g}s "
                                    "(is the manager running? 'pronghorn up')")
    volume = volumes.get(name)
    growths = grow_mounts(volume.endpoint, volume.size) if volume.endpoint else []
    stuck = [g for g in growths if not g.grown]
    if stuck:
        raise CommandError("; ".join(f"volume {name!r} grew to {format_size(volume.size)} but the filesystem "
                                     f"at {g.mount_point} did not: {g.reason}" for g in stuck),
                           ExitCode.INVALID_STATE)
    return growths


def describe(growth: Growth) -> str:
    return f"{growth.mount_point}: {growth.fstype} grown to fill {format_size(growth.device_size)}"
