from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Empty(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

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

class ReplicaInfo(_message.Message):
    __slots__ = ("size", "sector_size", "revision_counter", "data_address", "data_socket", "head", "chain", "snapshots", "rebuilding")
    SIZE_FIELD_NUMBER: _ClassVar[int]
    SECTOR_SIZE_FIELD_NUMBER: _ClassVar[int]
    REVISION_COUNTER_FIELD_NUMBER: _ClassVar[int]
    DATA_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    DATA_SOCKET_FIELD_NUMBER: _ClassVar[int]
    HEAD_FIELD_NUMBER: _ClassVar[int]
    CHAIN_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOTS_FIELD_NUMBER: _ClassVar[int]
    REBUILDING_FIELD_NUMBER: _ClassVar[int]
    size: int
    sector_size: int
    revision_counter: int
    data_address: str
    data_socket: str
    head: str
    chain: _containers.RepeatedScalarFieldContainer[str]
    snapshots: _containers.RepeatedCompositeFieldContainer[SnapshotInfo]
    rebuilding: bool
    def __init__(self, size: _Optional[int] = ..., sector_size: _Optional[int] = ..., revision_counter: _Optional[int] = ..., data_address: _Optional[str] = ..., data_socket: _Optional[str] = ..., head: _Optional[str] = ..., chain: _Optional[_Iterable[str]] = ..., snapshots: _Optional[_Iterable[_Union[SnapshotInfo, _Mapping]]] = ..., rebuilding: _Optional[bool] = ...) -> None: ...

class SnapshotRequest(_message.Message):
    __slots__ = ("name", "created", "user_created", "labels")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    USER_CREATED_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    name: str
    created: str
    user_created: bool
    labels: _containers.ScalarMap[str, str]
    def __init__(self, name: _Optional[str] = ..., created: _Optional[str] = ..., user_created: _Optional[bool] = ..., labels: _Optional[_Mapping[str, str]] = ...) -> None: ...

class SnapshotList(_message.Message):
    __slots__ = ("snapshots", "chain")
    SNAPSHOTS_FIELD_NUMBER: _ClassVar[int]
    CHAIN_FIELD_NUMBER: _ClassVar[int]
    snapshots: _containers.RepeatedCompositeFieldContainer[SnapshotInfo]
    chain: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, snapshots: _Optional[_Iterable[_Union[SnapshotInfo, _Mapping]]] = ..., chain: _Optional[_Iterable[str]] = ...) -> None: ...

class SnapshotName(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class RevertRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class PurgeReply(_message.Message):
    __slots__ = ("deleted", "coalesced", "pruned")
    DELETED_FIELD_NUMBER: _ClassVar[int]
    COALESCED_FIELD_NUMBER: _ClassVar[int]
    PRUNED_FIELD_NUMBER: _ClassVar[int]
    deleted: _containers.RepeatedScalarFieldContainer[str]
    coalesced: _containers.RepeatedScalarFieldContainer[str]
    pruned: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, deleted: _Optional[_Iterable[str]] = ..., coalesced: _Optional[_Iterable[str]] = ..., pruned: _Optional[_Iterable[str]] = ...) -> None: ...

class ExpandRequest(_message.Message):
    __slots__ = ("size",)
    SIZE_FIELD_NUMBER: _ClassVar[int]
    size: int
    def __init__(self, size: _Optional[int] = ...) -> None: ...

class UndoExpandRequest(_message.Message):
    __slots__ = ("grown", "size")
    GROWN_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    grown: int
    size: int
    def __init__(self, grown: _Optional[int] = ..., size: _Optional[int] = ...) -> None: ...

class ChecksumRequest(_message.Message):
    __slots__ = ("layer", "recompute")
    LAYER_FIELD_NUMBER: _ClassVar[int]
    RECOMPUTE_FIELD_NUMBER: _ClassVar[int]
    layer: str
    recompute: bool
    def __init__(self, layer: _Optional[str] = ..., recompute: _Optional[bool] = ...) -> None: ...

class ChecksumReply(_message.Message):
    __slots__ = ("layer", "sha256")
    LAYER_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    layer: str
    sha256: str
    def __init__(self, layer: _Optional[str] = ..., sha256: _Optional[str] = ...) -> None: ...

class RevisionCounter(_message.Message):
    __slots__ = ("value",)
    VALUE_FIELD_NUMBER: _ClassVar[int]
    value: int
    def __init__(self, value: _Optional[int] = ...) -> None: ...

class ChunkChecksumsRequest(_message.Message):
    __slots__ = ("layer", "chunk_size", "extents_only")
    LAYER_FIELD_NUMBER: _ClassVar[int]
    CHUNK_SIZE_FIELD_NUMBER: _ClassVar[int]
    EXTENTS_ONLY_FIELD_NUMBER: _ClassVar[int]
    layer: str
    chunk_size: int
    extents_only: bool
    def __init__(self, layer: _Optional[str] = ..., chunk_size: _Optional[int] = ..., extents_only: _Optional[bool] = ...) -> None: ...

class ChunkChecksum(_message.Message):
    __slots__ = ("index", "extents", "digest")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    EXTENTS_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    index: int
    extents: _containers.RepeatedScalarFieldContainer[int]
    digest: bytes
    def __init__(self, index: _Optional[int] = ..., extents: _Optional[_Iterable[int]] = ..., digest: _Optional[bytes] = ...) -> None: ...

class ChunkChecksumsReply(_message.Message):
    __slots__ = ("layer", "layer_size", "chunk_size", "chunks")
    LAYER_FIELD_NUMBER: _ClassVar[int]
    LAYER_SIZE_FIELD_NUMBER: _ClassVar[int]
    CHUNK_SIZE_FIELD_NUMBER: _ClassVar[int]
    CHUNKS_FIELD_NUMBER: _ClassVar[int]
    layer: str
    layer_size: int
    chunk_size: int
    chunks: _containers.RepeatedCompositeFieldContainer[ChunkChecksum]
    def __init__(self, layer: _Optional[str] = ..., layer_size: _Optional[int] = ..., chunk_size: _Optional[int] = ..., chunks: _Optional[_Iterable[_Union[ChunkChecksum, _Mapping]]] = ...) -> None: ...

class ReadChunksRequest(_message.Message):
    __slots__ = ("layer", "chunk_size", "indices")
    LAYER_FIELD_NUMBER: _ClassVar[int]
    CHUNK_SIZE_FIELD_NUMBER: _ClassVar[int]
    INDICES_FIELD_NUMBER: _ClassVar[int]
    layer: str
    chunk_size: int
    indices: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, layer: _Optional[str] = ..., chunk_size: _Optional[int] = ..., indices: _Optional[_Iterable[int]] = ...) -> None: ...

class ChunkData(_message.Message):
    __slots__ = ("offset", "data", "digest", "index")
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    offset: int
    data: bytes
    digest: bytes
    index: int
    def __init__(self, offset: _Optional[int] = ..., data: _Optional[bytes] = ..., digest: _Optional[bytes] = ..., index: _Optional[int] = ...) -> None: ...

class ChunkStream(_message.Message):
    __slots__ = ("port", "token")
    PORT_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    port: int
    token: bytes
    def __init__(self, port: _Optional[int] = ..., token: _Optional[bytes] = ...) -> None: ...

class SyncFromRequest(_message.Message):
    __slots__ = ("source", "layers", "chunk_size")
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    LAYERS_FIELD_NUMBER: _ClassVar[int]
    CHUNK_SIZE_FIELD_NUMBER: _ClassVar[int]
    source: str
    layers: _containers.RepeatedCompositeFieldContainer[SnapshotInfo]
    chunk_size: int
    def __init__(self, source: _Optional[str] = ..., layers: _Optional[_Iterable[_Union[SnapshotInfo, _Mapping]]] = ..., chunk_size: _Optional[int] = ...) -> None: ...

class SyncProgress(_message.Message):
    __slots__ = ("layer", "bytes_from_network", "bytes_copied_locally", "bytes_already_present", "layers_done", "layers_total", "done")
    LAYER_FIELD_NUMBER: _ClassVar[int]
    BYTES_FROM_NETWORK_FIELD_NUMBER: _ClassVar[int]
    BYTES_COPIED_LOCALLY_FIELD_NUMBER: _ClassVar[int]
    BYTES_ALREADY_PRESENT_FIELD_NUMBER: _ClassVar[int]
    LAYERS_DONE_FIELD_NUMBER: _ClassVar[int]
    LAYERS_TOTAL_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    layer: str
    bytes_from_network: int
    bytes_copied_locally: int
    bytes_already_present: int
    layers_done: int
    layers_total: int
    done: bool
    def __init__(self, layer: _Optional[str] = ..., bytes_from_network: _Optional[int] = ..., bytes_copied_locally: _Optional[int] = ..., bytes_already_present: _Optional[int] = ..., layers_done: _Optional[int] = ..., layers_total: _Optional[int] = ..., done: _Optional[bool] = ...) -> None: ...
