"""``SnapshotChain``: the tree of one volume's snapshots, and where its head sits.

Each snapshot has a parent ("" for the bottom), children, a creation time, whether a
user or the system took it, labels, a removed mark, a size and a checksum. The volume
head (live data) sits on ``head_parent``. Commands -> events: ``take`` (Taken),
``mark_removed`` (MarkedRemoved), ``purged`` (Purged: the replicas' purge outcome),
``revert`` (Reverted), ``measure`` (Measured). Intents a CLI records for the
manager to carry out through the engine: ``request`` (Requested: a snapshot to
take; ``take`` of that name fulfils it), ``fail_request`` (RequestFailed) and
``request_revert`` (RevertRequested; ``revert`` fulfils it; refused while the volume
is in use unless forced: ``domain.frontend_use``) and ``refuse_revert``
(RevertRefused: the manager found clients connected when it came to do it).

Invariants (checked by the commands, relied on by the events): names are unique in
the chain; every parent exists; children lists mirror parents; the head's parent
exists (or is "" when the chain is empty); at most ``MAX_SNAPSHOTS`` snapshots
(removed-but-not-purged ones count: their layers still exist on the replicas).
Used by ``domain.services.Snapshots``; projections fold its events.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain import validation
from domain.errors import AlreadyExists, InvalidTransition, InvalidValue, SnapshotNotFound
from domain.frontend_use import IDLE, FrontendUse, refuse_if_in_use
from domain.ids import chain_id
from domain.values import SnapshotInfo

MAX_SNAPSHOTS = 250
NO_REQUESTS: dict[str, dict[str, str]] = {}  # shared default: events assign new dicts, never mutate it


class SnapshotChain(Aggregate):
    # Class defaults so chains saved before these intents existed still load; events
    # always assign fresh values, never mutate these.
    requests = NO_REQUESTS  # snapshot name -> labels, not yet taken
    revert_request = ""  # snapshot the manager should revert to ("" = none)
    revert_forced = False  # the request overrides the in-use check
    revert_refusal = ""  # why the last revert request was refused ("" = it was not)

    @staticmethod
    def create_id(volume: str) -> UUID:
        return chain_id(volume)

    def __init__(self, volume: str) -> None:
        self.volume = volume
        self.snapshots: dict[str, SnapshotInfo] = {}
        self.head_parent = ""

    def get(self, name: str) -> SnapshotInfo:
        try:
            return self.snapshots[name]
        except KeyError:
            raise SnapshotNotFound(self.volume, name) from None

    def _refuse(self, command: str, name: str, detail: str) -> InvalidTransition:
        return InvalidTransition("snapshot", f"{self.volume}/{name}", detail, command)

    def take(self, name: str, created: datetime | None = None, user_created: bool = True,
             labels: Mapping[str, str] | None = None, size: int = 0, checksum: str = "") -> SnapshotInfo:
        """Add a snapshot between the head and its current parent."""
        name = validation.name("snapshot name", name)
        if name in self.snapshots:
            raise AlreadyExists("snapshot", name, f"in volume {self.volume!r}")
        if len(self.snapshots) >= MAX_SNAPSHOTS:
            raise self._refuse("take", name, f"the chain already holds {MAX_SNAPSHOTS} snapshots (the maximum)")
        if created is None:
            created = datetime.now(UTC)
        elif not isinstance(created, datetime) or created.tzinfo is None:
            raise InvalidValue("created", created, "must be a timezone-aware datetime")
        clean_labels = _labels(labels)
        info = SnapshotInfo(name=name, parent=self.head_parent, created=created, user_created=bool(user_created),
                            labels=clean_labels, size=validation.integer("size", size, 0),
                            checksum=validation.text("checksum", checksum, 128))
        self._taken(info)
        return info

    def request(self, name: str, labels: Mapping[str, str] | None = None) -> None:
        """Ask for a snapshot named ``name`` (the manager takes it through the engine)."""
        name = validation.name("snapshot name", name)
        if name in self.snapshots:
            raise AlreadyExists("snapshot", name, f"in volume {self.volume!r}")
        clean = _labels(labels)
        if self.requests.get(name) == clean:
            return
        if name in self.requests:
            raise AlreadyExists("snapshot request", name, f"in volume {self.volume!r}")
        if len(self.snapshots) + len(self.requests) >= MAX_SNAPSHOTS:
            raise self._refuse("request", name, f"the chain would hold more than {MAX_SNAPSHOTS} snapshots")
        self._requested(name, clean)

    @event("Requested")
    def _requested(self, name: str, labels: dict[str, str]) -> None:
        self.requests = {**self.requests, name: labels}

    def fail_request(self, name: str, reason: str) -> None:
        """The manager could not take a requested snapshot: the request is dropped."""
        reason = validation.text("reason", reason)
        if name in self.requests:
            self._request_failed(name, reason)

    @event("RequestFailed")
    def _request_failed(self, name: str, reason: str) -> None:
        self.requests = {k: v for k, v in self.requests.items() if k != name}

    def request_revert(self, name: str, use: FrontendUse = IDLE, force: bool = False) -> None:
        """Ask the manager to revert the head to ``name`` (frontend stopped meanwhile); refused
        (``VolumeInUse``) while ``use`` says the volume is mounted or has NBD clients, unless ``force``."""
        if self.get(name).removed:
            raise self._refuse("revert to", name, "marked removed")
        if not isinstance(force, bool):
            raise InvalidValue("force", force, "must be true or false")
        refuse_if_in_use(self.volume, f"revert to snapshot {name!r}", use, force)
        if (self.revert_request, self.revert_forced) != (name, force):
            self._revert_requested(name, force)

    @event("RevertRequested")
    def _revert_requested(self, name: str, force: bool = False) -> None:
        self.revert_request = name
        self.revert_forced = force
        self.revert_refusal = ""

    def refuse_revert(self, reason: str) -> None:
        """The manager did not revert (clients were connected): the request is dropped, ``reason`` kept."""
        reason = validation.text("reason", reason)
        if self.revert_request:
            self._revert_refused(self.revert_request, reason)

    @event("RevertRefused")
    def _revert_refused(self, name: str, reason: str) -> None:
        self.revert_request = ""
        self.revert_forced = False
        self.revert_refusal = reason

    @event("Taken")
    def _taken(self, snapshot: SnapshotInfo) -> None:
        if snapshot.name in self.requests:
            self.requests = {k: v for k, v in self.requests.items() if k != snapshot.name}
        if snapshot.parent:
            parent = self.snapshots[snapshot.parent]
            self.snapshots[parent.name] = replace(parent, children=(*parent.children, snapshot.name))
        self.snapshots[snapshot.name] = snapshot
        self.head_parent = snapshot.name

    def mark_removed(self, name: str) -> None:
        if not self.get(name).removed:
            self._marked_removed(name)

    @event("MarkedRemoved")
    def _marked_removed(self, name: str) -> None:
        self.snapshots[name] = replace(self.snapshots[name], removed=True)

    def purged(self, removed: Iterable[str] = (), coalesced: Mapping[str, str] | None = None) -> None:
        """Record what a purge did on the replicas.

        ``coalesced`` {a: b}: removed snapshot ``a`` was merged into its only child ``b``
        (``b`` takes ``a``'s place under ``a``'s parent). ``removed``: removed-marked
        leaves that were deleted. Coalescings apply first, then removals.
        """
        removed_list = list(removed)
        coalesced_map = dict(coalesced or {})
        _purge(self, self.snapshots, removed_list, coalesced_map)  # raises if inconsistent
        if removed_list or coalesced_map:
            self._purged(removed_list, coalesced_map)

    @event("Purged")
    def _purged(self, removed: list[str], coalesced: dict[str, str]) -> None:
        self.snapshots = _purge(self, self.snapshots, removed, coalesced)

    def revert(self, name: str) -> None:
        """Put a new empty head on top of snapshot ``name``."""
        if self.get(name).removed:
            raise self._refuse("revert to", name, "marked removed")
        if self.head_parent != name or self.revert_request:
            self._reverted(name)

    @event("Reverted")
    def _reverted(self, name: str) -> None:
        self.head_parent = name
        self.revert_request = ""
        self.revert_forced = False

    def measure(self, name: str, size: int, checksum: str) -> None:
        """Record a snapshot's data size and checksum as the replicas computed them."""
        old = self.get(name)
        size = validation.integer("size", size, 0)
        checksum = validation.text("checksum", checksum, 128)
        if (old.size, old.checksum) != (size, checksum):
            self._measured(name, size, checksum)

    @event("Measured")
    def _measured(self, name: str, size: int, checksum: str) -> None:
        self.snapshots[name] = replace(self.snapshots[name], size=size, checksum=checksum)


def _labels(labels: Mapping[str, str] | None) -> dict[str, str]:
    return {validation.text("label key", k, 63): validation.text("label value", v, 255)
            for k, v in (labels or {}).items()}


def _purge(chain: SnapshotChain, snapshots: dict[str, SnapshotInfo], removed: list[str],
           coalesced: dict[str, str]) -> dict[str, SnapshotInfo]:
    """The snapshot map after a purge; raises if the outcome does not fit the chain."""
    snaps = dict(snapshots)

    def relink(parent: str, old: str, new: list[str]) -> None:
        if parent:
            p = snaps[parent]
            children = [c for child in p.children for c in (new if child == old else [child])]
            snaps[parent] = replace(p, children=tuple(children))

    for gone, into in coalesced.items():
        a, b = _known(chain, snaps, gone), _known(chain, snaps, into)
        if not a.removed or a.children != (b.name,) or chain.head_parent == a.name:
            raise chain._refuse("coalesce", a.name, f"not a removed snapshot whose only child is {b.name!r}")
        relink(a.parent, a.name, [b.name])
        snaps[b.name] = replace(snaps[b.name], parent=a.parent)
        del snaps[a.name]
    for gone in removed:
        a = _known(chain, snaps, gone)
        if not a.removed or a.children or chain.head_parent == a.name:
            raise chain._refuse("purge", a.name, "not a removed leaf below no head")
        relink(a.parent, a.name, [])
        del snaps[a.name]
    return snaps


def _known(chain: SnapshotChain, snaps: dict[str, SnapshotInfo], name: str) -> SnapshotInfo:
    try:
        return snaps[name]
    except KeyError:
        raise SnapshotNotFound(chain.volume, name) from None
