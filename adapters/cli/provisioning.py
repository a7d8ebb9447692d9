"""Volume creation and deletion as the admin CLI does them, without a running manager.

``volume create`` creates the Volume and finishes its creation (state
``detached``); ``volume delete`` starts the deletion and, there being no
replica processes to stop, finishes it. Called by :mod:`adapters.cli.volumes`
and the demo; every step is a ``domain.services`` command.
"""

from __future__ import annotations

from typing import Any

from domain.application import ControlPlane
from domain.services import Volumes
from domain.volume import Volume


def provision_volume(app: ControlPlane, name: str, size: int, replicas: int, spec: dict[str, Any]) -> Volume:
    volumes = Volumes(app)
    volumes.create(name, size, replicas, **spec)
    return volumes.finish_creating(name)


def delete_volume(app: ControlPlane, name: str) -> Volume:
    return Volumes(app).delete(name)
