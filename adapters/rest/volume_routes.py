"""REST handlers for volumes and what hangs off them: replicas, snapshots (events: ``event_routes``).

Each handler makes one application call (``domain.services``) and renders the
result; a volume is rendered as the same status document ``pronghorn volume get
--json`` prints, read from the persisted status view (``adapters.cli.volumes.current_status``). Commands the
manager carries out (attach, detach, delete, snapshot, revert) are recorded as
intent and answered 202 Accepted.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from adapters.cli.volumes import current_status, list_summaries
from adapters.rest import models as m
from adapters.rest.routes import Call, Route
from domain.application import ControlPlane
from domain.frontend_use import IDLE
from domain.replica import Replica
from domain.services import Replicas, Snapshots, Volumes
from domain.snapshots import SnapshotChain
from projections.plain import plain


def status(app: ControlPlane, name: str) -> dict[str, Any]:
    return current_status(app, name)


def list_volumes(call: Call) -> Any:
    return list_summaries(call.app)


def create_volume(call: Call) -> Any:
    body: m.VolumeCreate = call.body
    spec = body.model_dump(exclude={"name", "size", "number_of_replicas"}, exclude_none=True)
    Volumes(call.app).provision(body.name, body.size, body.number_of_replicas, **spec)
    return status(call.app, body.name)


def get_volume(call: Call) -> Any:
    return status(call.app, call.params["name"])


def delete_volume(call: Call) -> Any:
    Volumes(call.app).delete(call.params["name"])
    return status(call.app, call.params["name"])


def expand_volume(call: Call) -> Any:
    Volumes(call.app).expand(call.params["name"], call.body.size)
    return status(call.app, call.params["name"])


def attach_volume(call: Call) -> Any:
    Volumes(call.app).start_attach(call.params["name"], call.body.node)
    return status(call.app, call.params["name"])


def detach_volume(call: Call) -> Any:
    if m.flag("force", call.query.get("force", "false")):
        Volumes(call.app).force_detach(call.params["name"])
    else:
        Volumes(call.app).start_detach(call.params["name"])
    return status(call.app, call.params["name"])


def replica_document(replica: Replica) -> dict[str, Any]:
    fields = ("volume", "name", "node", "disk", "data_dir", "address", "mode", "rebuild", "rebuild_source",
              "rebuild_done", "rebuild_total", "failures", "version")
    return {key: plain(getattr(replica, key)) for key in fields}


def list_replicas(call: Call) -> Any:
    return [replica_document(r) for r in Replicas(call.app).list_for(call.params["name"])]


def chain_document(chain: SnapshotChain) -> dict[str, Any]:
    snapshots: list[dict[str, Any]] = [
        {"name": s.name, "state": "removed" if s.removed else "taken", "parent": s.parent,
         "children": list(s.children), "created": s.created.isoformat(), "user_created": s.user_created,
         "labels": dict(s.labels), "size": s.size, "checksum": s.checksum}
        for s in chain.snapshots.values()
    ]
    snapshots += [
        {"name": name, "state": "requested", "parent": "", "children": [], "created": None,
         "user_created": True, "labels": dict(labels), "size": 0, "checksum": ""}
        for name, labels in chain.requests.items()
    ]
    return {"volume": chain.volume, "head_parent": chain.head_parent, "revert_request": chain.revert_request,
            "revert_refusal": chain.revert_refusal, "snapshots": snapshots}


def list_snapshots(call: Call) -> Any:
    return chain_document(Snapshots(call.app).chain(call.params["name"]))


def create_snapshot(call: Call) -> Any:
    body: m.SnapshotCreate = call.body
    return chain_document(Snapshots(call.app).request(call.params["name"], body.name, body.labels))


def delete_snapshot(call: Call) -> Any:
    return chain_document(Snapshots(call.app).mark_removed(call.params["name"], call.params["snapshot"]))


def revert_snapshot(call: Call) -> Any:
    body: m.SnapshotRevert = call.body
    volume = Volumes(call.app).get(call.params["name"])
    use = IDLE if body.force else call.frontend_use(volume)
    return chain_document(Snapshots(call.app).request_revert(volume.name, call.params["snapshot"], use, body.force))


V = "/v1/volumes"
ACCEPTED = HTTPStatus.ACCEPTED
FORCE_HELP = ("true: record the volume detached now, without its node's manager (a node gone for good; "
              "the WaitingForNode condition says which node it waits on)")
ROUTES = [
    Route("GET", V, list_volumes, "List volumes (not deleted)", list[m.VolumeSummary]),
    Route("POST", V, create_volume, "Create a volume and place its replicas", m.VolumeStatusDoc,
          HTTPStatus.CREATED, m.VolumeCreate),
    Route("GET", V + "/{name}", get_volume, "A volume's status", m.VolumeStatusDoc),
    Route("DELETE", V + "/{name}", delete_volume, "Start deleting a volume (the manager finishes)",
          m.VolumeStatusDoc, ACCEPTED),
    Route("POST", V + "/{name}/expand", expand_volume, "Grow a volume", m.VolumeStatusDoc, body=m.VolumeExpand),
    Route("POST", V + "/{name}/attach", attach_volume, "Ask for the volume to be attached on a node",
          m.VolumeStatusDoc, ACCEPTED, m.VolumeAttach),
    Route("POST", V + "/{name}/detach", detach_volume, "Ask for the volume to be detached", m.VolumeStatusDoc,
          ACCEPTED, query={"force": FORCE_HELP}),
    Route("GET", V + "/{name}/replicas", list_replicas, "A volume's replicas", list[m.ReplicaDoc]),
    Route("GET", V + "/{name}/snapshots", list_snapshots, "A volume's snapshots and pending requests",
          m.SnapshotChainDoc),
    Route("POST", V + "/{name}/snapshots", create_snapshot, "Request a snapshot (the manager takes it)",
          m.SnapshotChainDoc, ACCEPTED, m.SnapshotCreate),
    Route("DELETE", V + "/{name}/snapshots/{snapshot}", delete_snapshot,
          "Mark a snapshot removed (the manager purges it)", m.SnapshotChainDoc),
    Route("POST", V + "/{name}/snapshots/{snapshot}/revert", revert_snapshot,
          "Request a revert to a snapshot (the manager stops the frontend, reverts, restarts); 409 while "
          "the volume is mounted or has NBD clients, unless {\"force\": true}",
          m.SnapshotChainDoc, ACCEPTED, m.SnapshotRevert, body_required=False),
]
