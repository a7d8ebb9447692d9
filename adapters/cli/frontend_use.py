"""Who uses a volume's frontend now: this host's ``volume mount`` records and the engine's word.

``frontend_use(volume)`` gathers the facts ``domain.frontend_use`` decides on before
a revert: the mounts of the volume's endpoint recorded on this host by ``pronghorn
volume mount`` (``adapters.blockdev.mount_records``) and the NBD clients its engine
reports (``EngineStatus.nbd_clients``, asked at the control address recorded when
the volume was attached). An engine that does not answer counts as unknown (None):
the manager checks again just before it reverts. Used by ``pronghorn snapshot revert``
and, through the manager, by the REST API.
"""

from __future__ import annotations

from adapters.blockdev.mount_records import mounts_of
from domain.frontend_use import FrontendUse, Mounted
from domain.volume import Volume
from engine.client import EngineClient
from engine.errors import EngineError

STATUS_TIMEOUT_S = 5.0


def mounted_here(volume: Volume) -> tuple[Mounted, ...]:
    """The volume's filesystems mounted on this host through ``pronghorn volume mount``."""
    if not volume.endpoint:
        return ()
    return tuple(Mounted(r.path, r.client) for r in mounts_of(volume.endpoint))


def engine_clients(volume: Volume) -> int | None:
    """NBD clients connected to the volume's engine (None: not attached, or not answering)."""
    if not volume.engine_control:
        return None
    try:
        with EngineClient(volume.engine_control, timeout=STATUS_TIMEOUT_S) as client:
            return int(client.status().nbd_clients)
    except EngineError:
        return None


def frontend_use(volume: Volume) -> FrontendUse:
    return FrontendUse(mounted_here(volume), engine_clients(volume))
