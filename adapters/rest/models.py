"""Pydantic models of the REST API's bodies: requests parsed from JSON, documents returned.

Requests forbid unknown fields; sizes accept bytes (int) or text such as "1Gi"
(``adapters.cli.sizes``); numbers are whole JSON integers, never ``true`` / ``1.0`` /
``"3"`` (``StrictInt``). Ranges and names are checked by the domain itself
(``InvalidValue`` -> 422), so the rules live in one place. Response models describe
the documents the CLI already prints (``volume get --json`` etc.); the OpenAPI
document (``adapters.rest.openapi``) is generated from these classes, and the tests
validate every response against it.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictInt, WithJsonSchema

from adapters.cli.sizes import SizeError, parse_size
from domain.errors import InvalidValue
from domain.jobs import JobTask
from domain.values import DataLocality, Frontend, RebuildState, ReplicaMode, Robustness, VolumeState


def _size(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return parse_size(value)
        except SizeError as exc:
            raise ValueError(str(exc)) from None
    return value


def flag(name: str, text: str) -> bool:
    """A boolean query parameter: ``true`` or ``false``; anything else is InvalidValue (422)."""
    if text not in ("true", "false"):
        raise InvalidValue(f"query parameter {name}", text, "expected true or false")
    return text == "true"


Size = Annotated[StrictInt, BeforeValidator(_size), WithJsonSchema(
    {"anyOf": [{"type": "integer"}, {"type": "string"}], "description": "bytes, or text such as 1Gi / 512Mi"})]
Labels = dict[str, str]


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class VolumeCreate(Request):
    name: str
    size: Size
    number_of_replicas: StrictInt = 3
    data_locality: DataLocality = DataLocality.DISABLED
    frontend: Frontend = Frontend.NBD
    stale_replica_timeout: StrictInt | None = None
    node_selector: list[str] = []
    disk_selector: list[str] = []


class VolumeExpand(Request):
    size: Size


class VolumeAttach(Request):
    node: str


class DiskSpec(Request):
    path: str
    capacity: Size
    reserved: Size = 0
    tags: list[str] = []


class NodeCreate(Request):
    name: str
    address: str
    zone: str = ""
    tags: list[str] = []
    disks: list[DiskSpec] = []


class SnapshotCreate(Request):
    name: str
    labels: Labels = {}


class SnapshotRevert(Request):
    force: bool = Field(False, description="revert even while the volume is mounted or has NBD clients")


class JobCreate(Request):
    name: str
    task: JobTask = JobTask.SNAPSHOT
    cron: str = Field(description='5-field cron expression (UTC), e.g. "*/5 * * * *"')
    retain: StrictInt
    volumes: list[str] = []
    labels: Labels = {}


class JobUpdate(Request):
    cron: str | None = None
    retain: StrictInt | None = None
    volumes: list[str] | None = None
    labels: Labels | None = None


# -- documents returned ------------------------------------------------------------


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorBody(BaseModel):
    error: ErrorDetail


class VolumeSummary(BaseModel):
    name: str
    size: int
    number_of_replicas: int
    state: VolumeState
    robustness: Robustness
    data_locality: DataLocality
    frontend: Frontend
    version: int


class ReplicaStatusDoc(BaseModel):
    name: str
    id: str
    node: str
    mode: ReplicaMode
    address: str
    disk: str
    data_dir: str
    failures: int
    last_failure: str
    last_failure_at: str
    rebuild: RebuildState
    rebuild_source: str
    rebuild_done: int
    rebuild_total: int
    rebuild_bytes_done: int = Field(0, description="bytes of the rebuild in place (as rebuild_done)")
    rebuild_bytes_total: int = Field(0, description="bytes the rebuild copies (as rebuild_total; 0: not known)")


class SnapshotStatusDoc(BaseModel):
    name: str
    parent: str
    children: list[str]
    created: str
    user_created: bool
    removed: bool
    size: int
    checksum: str
    labels: Labels


class ConditionDoc(BaseModel):
    type: str
    status: bool
    reason: str
    message: str
    since: str


class VolumeStatusDoc(BaseModel):
    """The document ``pronghorn volume get --json`` prints."""

    name: str
    size: int
    number_of_replicas: int
    state: VolumeState
    robustness: Robustness
    standby: bool
    data_locality: DataLocality
    frontend: Frontend
    node: str
    endpoint: str
    replicas: list[ReplicaStatusDoc]
    snapshots: list[SnapshotStatusDoc]
    head_parent: str
    conditions: list[ConditionDoc]
    version: int
    events: int
    position: int
    updated_at: str


class FailureDoc(BaseModel):
    reason: str
    at: str


class ReplicaDoc(BaseModel):
    volume: str
    name: str
    node: str
    disk: str
    data_dir: str
    address: str
    mode: ReplicaMode
    rebuild: RebuildState
    rebuild_source: str
    rebuild_done: int
    rebuild_total: int
    failures: list[FailureDoc]
    version: int


class SnapshotDoc(BaseModel):
    name: str
    state: str = Field(description="requested (not taken yet), taken, or removed (marked; purged later)")
    parent: str
    children: list[str]
    created: str | None
    user_created: bool
    labels: Labels
    size: int
    checksum: str


class SnapshotChainDoc(BaseModel):
    volume: str
    head_parent: str
    revert_request: str = Field(description='snapshot a revert was requested to, not done yet ("" = none)')
    revert_refusal: str = Field("", description='why the manager refused the last revert request ("" = it did not)')
    snapshots: list[SnapshotDoc]


class DiskDoc(BaseModel):
    path: str
    capacity: int
    reserved: int
    scheduled: int
    tags: list[str]
    schedulable: bool
    confirmed: bool  # checked on the node by its manager: takes replicas only then
    problem: str


class NodeDoc(BaseModel):
    name: str
    address: str
    zone: str
    tags: list[str]
    schedulable: bool
    ready: bool  # its manager runs and heartbeats
    ready_reason: str
    ready_message: str
    disks: list[DiskDoc]
    unknown_directories: list[str] = Field([], description="paths under a disk's replicas/ that no removed "
                                           "replica owns: the manager leaves them alone (reported once)")
    version: int


class JobDoc(BaseModel):
    name: str
    task: JobTask
    cron: str
    retain: StrictInt
    volumes: list[str]
    labels: Labels
    last_fired: str | None
    next_fire: str
    fires: int
    version: int


class Deleted(BaseModel):
    name: str
    deleted: bool


class HistoryEntryDoc(BaseModel):
    position: int | None = Field(None, description="per-volume position (absent in the cluster-wide stream)")
    global_position: int = Field(description="the event's place in the store's notification log")
    aggregate: str
    aggregate_name: str
    aggregate_id: str
    version: int
    timestamp: str
    type: str
    data: dict[str, Any]


class StatusAtDoc(BaseModel):
    volume: str
    at: int = Field(description="position in the volume's history the status is folded up to")
    status: VolumeStatusDoc
