"""bench/: paired per-round ratios, tree@env variants, CPU sets of the placements."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from bench.ab_trees import Variant
from bench.cpu_placement import Placement, cpu_sets
from bench.fio_jobs import JOBS, JobResult
from bench.fio_schedule import summarize


def result(iops: float, lat: float) -> JobResult:
    return JobResult(JOBS[0].name, iops, iops / 256, lat, 0, {"p": 10.0}, 2.0, 0.0)


def test_ratios_are_paired_by_round_not_medians_of_medians() -> None:
    # The reference swings 4x between rounds; the target follows it at 0.5x every round.
    results = {
        (JOBS[0].name, "ref"): [result(1000, 100), result(4000, 25), result(2000, 50)],
        (JOBS[0].name, "t"): [result(500, 150), result(2000, 40), result(1000, 90)],
    }
    ref, target = summarize(results, JOBS[:1], "ref")
    assert (ref.ratio, ref.ratio_min, ref.ratio_max) == (1.0, 1.0, 1.0)
    assert (target.ratio, target.ratio_min, target.ratio_max) == (0.5, 0.5, 0.5)
    assert target.lat_overhead_us == 40  # median of 50, 15, 40
    assert target.iops == 1000


def test_variant_carries_its_environment() -> None:
    variant = Variant.parse(".@PRONGHORN_SPIN_US=30,X=1")
    assert variant.tree == Path(".") and variant.env == {"PRONGHORN_SPIN_US": "30", "X": "1"}
    assert Variant.parse("/tmp/a").env == {}
    with pytest.raises(argparse.ArgumentTypeError):
        Variant.parse(".@NOVALUE")


def test_placements_pin_fio_and_servers_apart_or_together() -> None:
    assert cpu_sets(Placement.NONE) == (None, None)
    fio, servers = cpu_sets(Placement.SHARED)
    assert fio == servers and fio is not None and len(fio) == 1
    fio, servers = cpu_sets(Placement.SPLIT)
    if fio is not None:  # more than one CPU
        assert servers is not None and not fio & servers
