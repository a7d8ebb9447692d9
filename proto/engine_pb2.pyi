from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Empty(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ReplicaStatus(_message.Message):
    __slots__ = ("address", "data_address", "mode", "error", "rebuild_bytes_done", "rebuild_bytes_total", "error_at")
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    DATA_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    REBUILD_BYTES_DONE_FIELD_NUMBER: _ClassVar[int]
    REBUILD_BYTES_TOTAL_FIELD_NUMBER: _ClassVar[int]
    ERROR_AT_FIELD_NUMBER: _ClassVar[int]
    address: str
    data_address: str
    mode: str
    error: str
    rebuild_bytes_done: int
    rebuild_bytes_total: int
    error_at: float
    def __init__(self, address: _Optional[str] = ..., data_address: _Optional[str] = ..., mode: _Optional[str] = ..., error: _Optional[str] = ..., rebuild_bytes_done: _Optional[int] = ..., rebuild_bytes_total: _Optional[int] = ..., error_at: _Optional[float] = ...) -> None: ...

class IoCounters(_message.Message):
    __slots__ = ("reads", "writes", "others", "read_bytes", "write_bytes", "errors", "mean_latency_us", "direct_reads", "direct_writes", "overlapped_batches")
    READS_FIELD_NUMBER: _ClassVar[int]
    WRITES_FIELD_NUMBER: _ClassVar[int]
    OTHERS_FIELD_NUMBER: _ClassVar[int]
    READ_BYTES_FIELD_NUMBER: _ClassVar[int]
    WRITE_BYTES_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    MEAN_LATENCY_US_FIELD_NUMBER: _ClassVar[int]
    DIRECT_READS_FIELD_NUMBER: _ClassVar[int]
    DIRECT_WRITES_FIELD_NUMBER: _ClassVar[int]
    OVERLAPPED_BATCHES_FIELD_NUMBER: _ClassVar[int]
    reads: int
    writes: int
    others: int
    read_bytes: int
    write_bytes: int
    errors: int
    mean_latency_us: float
    direct_reads: int
    direct_writes: int
    overlapped_batches: int
    def __init__(self, reads: _Optional[int] = ..., writes: _Optional[int] = ..., others: _Optional[int] = ..., read_bytes: _Optional[int] = ..., write_bytes: _Optional[int] = ..., errors: _Optional[int] = ..., mean_latency_us: _Optional[float] = ..., direct_reads: _Optional[int] = ..., direct_writes: _Optional[int] = ..., overlapped_batches: _Optional[int] = ...) -> None: ...

class EngineStatus(_message.Message):
    __slots__ = ("volume", "size", "state", "revision", "replicas", "io", "frontend", "nbd", "nbd_socket", "rebuilding", "nbd_clients")
    VOLUME_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    REPLICAS_FIELD_NUMBER: _ClassVar[int]
    IO_FIELD_NUMBER: _ClassVar[int]
    FRONTEND_FIELD_NUMBER: _ClassVar[int]
    NBD_FIELD_NUMBER: _ClassVar[int]
    NBD_SOCKET_FIELD_NUMBER: _ClassVar[int]
    REBUILDING_FIELD_NUMBER: _ClassVar[int]
    NBD_CLIENTS_FIELD_NUMBER: _ClassVar[int]
    volume: str
    size: int
    state: str
    revision: int
    replicas: _containers.RepeatedCompositeFieldContainer[ReplicaStatus]
    io: IoCounters
    frontend: bool
    nbd: str
    nbd_socket: str
    rebuilding: bool
    nbd_clients: int
    def __init__(self, volume: _Optional[str] = ..., size: _Optional[int] = ..., state: _Optional[str] = ..., revision: _Optional[int] = ..., replicas: _Optional[_Iterable[_Union[ReplicaStatus, _Mapping]]] = ..., io: _Optional[_Union[IoCounters, _Mapping]] = ..., frontend: _Optional[bool] = ..., nbd: _Optional[str] = ..., nbd_socket: _Optional[str] = ..., rebuilding: _Optional[bool] = ..., nbd_clients: _Optional[int] = ...) -> None: ...

class SnapshotRequest(_message.Message):
    __slots__ = ("name", "labels")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    name: str
    labels: _containers.ScalarMap[str, str]
    def __init__(self, name: _Optional[str] = ..., labels: _Optional[_Mapping[str, str]] = ...) -> None: ...

class SnapshotInfo(_message.Message):
    __slots__ = ("name", "parent", "children", "created", "user_created", "removed", "labels", "size", "allocated")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    PARENT_FIELD_NUMBER: _ClassVar[int]
    CHILDREN_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    USER_CREATED_FIELD_NUMBER: _ClassVar[int]
    REMOVED_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    ALLOCATED_FIELD_NUMBER: _ClassVar[int]
    name: str
    parent: str
    children: _containers.RepeatedScalarFieldContainer[str]
    created: str
    user_created: bool
    removed: bool
    labels: _containers.ScalarMap[str, str]
    size: int
    allocated: int
    def __init__(self, name: _Optional[str] = ..., parent: _Optional[str] = ..., children: _Optional[_Iterable[str]] = ..., created: _Optional[str] = ..., user_created: _Optional[bool] = ..., removed: _Optional[bool] = ..., labels: _Optional[_Mapping[str, str]] = ..., size: _Optional[int] = ..., allocated: _Optional[int] = ...) -> None: ...

class SnapshotList(_message.Message):
    __slots__ = ("snapshots",)
    SNAPSHOTS_FIELD_NUMBER: _ClassVar[int]
    snapshots: _containers.RepeatedCompositeFieldContainer[SnapshotInfo]
    def __init__(self, snapshots: _Optional[_Iterable[_Union[SnapshotInfo, _Mapping]]] = ...) -> None: ...

class SnapshotName(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ExpandRequest(_message.Message):
    __slots__ = ("size",)
    SIZE_FIELD_NUMBER: _ClassVar[int]
    size: int
    def __init__(self, size: _Optional[int] = ...) -> None: ...

class ReplicaAddress(_message.Message):
    __slots__ = ("address",)
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    address: str
    def __init__(self, address: _Optional[str] = ...) -> None: ...

class RebuildResult(_message.Message):
    __slots__ = ("address", "mode", "source", "layers", "bytes_from_network", "bytes_copied_locally", "bytes_already_present")
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    LAYERS_FIELD_NUMBER: _ClassVar[int]
    BYTES_FROM_NETWORK_FIELD_NUMBER: _ClassVar[int]
    BYTES_COPIED_LOCALLY_FIELD_NUMBER: _ClassVar[int]
    BYTES_ALREADY_PRESENT_FIELD_NUMBER: _ClassVar[int]
    address: str
    mode: str
    source: str
    layers: _containers.RepeatedScalarFieldContainer[str]
    bytes_from_network: int
    bytes_copied_locally: int
    bytes_already_present: int
    def __init__(self, address: _Optional[str] = ..., mode: _Optional[str] = ..., source: _Optional[str] = ..., layers: _Optional[_Iterable[str]] = ..., bytes_from_network: _Optional[int] = ..., bytes_copied_locally: _Optional[int] = ..., bytes_already_present: _Optional[int] = ...) -> None: ...
