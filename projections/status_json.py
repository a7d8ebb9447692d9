"""``VolumeStatus`` <-> JSON-ready dicts, for the view tables and ``--json`` output.

The dict keeps the dataclass field names (snake_case); enums become their string
values, tuples become lists, snapshot labels an object. ``status_from_dict`` is the
exact inverse, so a status survives a round trip through a view store unchanged.
Used by ``projections.status_views`` and by adapters that print statuses.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from domain.values import DataLocality, Frontend, RebuildState, ReplicaMode, Robustness, VolumeState
from projections.status_parts import ConditionStatus, ReplicaStatus, SnapshotStatus
from projections.volume_status import VolumeStatus


def status_to_dict(status: VolumeStatus) -> dict[str, Any]:
    data = dict(vars(status))
    data["state"] = str(status.state)
    data["robustness"] = str(status.robustness)
    data["data_locality"] = str(status.data_locality)
    data["frontend"] = str(status.frontend)
    data["updated_at"] = status.updated_at.isoformat() if status.updated_at else ""
    data["replicas"] = [
        {**vars(r), "mode": str(r.mode), "rebuild": str(r.rebuild)} for r in status.replicas
    ]
    data["snapshots"] = [
        {**vars(s), "children": list(s.children), "labels": dict(s.labels)} for s in status.snapshots
    ]
    data["conditions"] = [dict(vars(c)) for c in status.conditions]
    return data


def status_from_dict(data: dict[str, Any]) -> VolumeStatus:
    fields = dict(data)
    fields["state"] = VolumeState(data["state"])
    fields["robustness"] = Robustness(data["robustness"])
    # Absent from statuses stored before these fields existed: the defaults then.
    fields["data_locality"] = DataLocality(data.get("data_locality", DataLocality.DISABLED))
    fields["frontend"] = Frontend(data.get("frontend", Frontend.NBD))
    fields["updated_at"] = datetime.fromisoformat(data["updated_at"]) if data["updated_at"] else None
    fields["replicas"] = tuple(
        ReplicaStatus(**{**r, "mode": ReplicaMode(r["mode"]), "rebuild": RebuildState(r["rebuild"])})
        for r in data["replicas"]
    )
    fields["snapshots"] = tuple(
        SnapshotStatus(**{**s, "children": tuple(s["children"]), "labels": tuple(sorted(s["labels"].items()))})
        for s in data["snapshots"]
    )
    fields["conditions"] = tuple(ConditionStatus(**c) for c in data["conditions"])
    return VolumeStatus(**fields)


def status_to_json(status: VolumeStatus) -> str:
    return json.dumps(status_to_dict(status), separators=(",", ":"), sort_keys=True)


def status_from_json(text: str) -> VolumeStatus:
    return status_from_dict(json.loads(text))
