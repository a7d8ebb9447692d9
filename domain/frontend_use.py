"""``FrontendUse``: who uses a volume's frontend now, and the rule that protects them.

An operation that rewrites data under the frontend (a snapshot revert) must not run
while a filesystem is mounted on the volume or NBD clients are connected to its
engine: the kernel would keep serving cached blocks of data that changed beneath
it, then log I/O and filesystem errors. The facts are gathered at the edges (the
CLI and REST read this host's mount records and the engine's status; the manager
reads the engine's status just before it acts); the decision is made here, by
``refuse_if_in_use``, for every caller alike. ``force`` overrides it.
"""

from __future__ import annotations

from dataclasses import dataclass

from domain.errors import VolumeInUse


@dataclass(frozen=True)
class Mounted:
    """A filesystem of the volume mounted on this host through ``pronghorn volume mount``."""

    path: str
    client: str  # how the block device talks NBD: "nbdfuse", "kernel nbd"


@dataclass(frozen=True)
class FrontendUse:
    mounts: tuple[Mounted, ...] = ()
    nbd_clients: int | None = None  # connections the engine reports (None: not asked, or not answering)

    @property
    def busy(self) -> bool:
        return bool(self.mounts) or bool(self.nbd_clients)

    def describe(self) -> str:
        """E.g. "mounted at /mnt/vol1 through nbdfuse, 1 NBD client"."""
        parts = [f"mounted at {m.path} through {m.client}" for m in self.mounts]
        if self.nbd_clients:
            parts.append(f"{self.nbd_clients} NBD client{'s' if self.nbd_clients != 1 else ''}")
        return ", ".join(parts) or "not in use"


IDLE = FrontendUse()


def refuse_if_in_use(volume: str, command: str, use: FrontendUse, force: bool = False) -> None:
    """Raise ``VolumeInUse`` (saying how to proceed) if ``use`` is busy and not ``force``d."""
    if force or not use.busy:
        return
    if use.mounts:
        steps = " and ".join(f"pronghorn volume umount {m.path}" for m in use.mounts)
        advice = f"unmount it first ({steps}) or pass --force"
    else:
        advice = "disconnect the NBD clients first or pass --force"
    raise VolumeInUse(volume, command, use.describe(), advice)
