"""Any nesting of domain values survives the store's transcoder with its exact types."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.transcoding import DomainTranscoder
from domain.values import Condition, Disk, Failure, ReplicaMember, ReplicaMode, VolumeState

TEXT = st.text(max_size=8)
TIMES = st.datetimes(timezones=st.just(UTC), min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)).map(lambda d: d.replace(fold=0))
LEAVES = (
    st.none() | st.booleans() | st.integers() | TEXT
    | st.sampled_from(list(VolumeState)) | st.sampled_from(list(ReplicaMode))
    | st.builds(Disk, TEXT, st.integers(0), st.integers(0), st.lists(TEXT, max_size=2).map(tuple), st.booleans())
    | st.builds(Condition, TEXT, st.booleans(), TEXT, TEXT)
    | st.builds(Failure, TEXT, TIMES)
    | st.builds(ReplicaMember, TEXT, TEXT, st.sampled_from(list(ReplicaMode)))
)
VALUES = st.recursive(
    LEAVES,
    lambda inner: st.lists(inner, max_size=3) | st.lists(inner, max_size=3).map(tuple)
    | st.dictionaries(st.sampled_from(["_type_", "_data_", "a", "b"]) | TEXT, inner, max_size=3),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(VALUES)
def test_round_trip_keeps_values_and_types(value: object) -> None:
    transcoder = DomainTranscoder()
    decoded = transcoder.decode(transcoder.encode({"v": value}))["v"]
    assert repr(decoded) == repr(value)
