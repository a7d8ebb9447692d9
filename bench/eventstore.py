"""Event store benchmark: append, load/replay and projection catch-up rates.

Run from the repository root: ``python bench/eventstore.py [--volumes N] [--events M]``
(defaults 10,000 volumes x 100 events = 1,000,000 events) on SQLite (a temp file)
and PostgreSQL (a throwaway cluster started like the test fixture, with durable
settings). Measures, per backend:

- append, one command per transaction: ``--single`` service commands (get -> command
  -> save, like the CLI and the manager issue them);
- append, batched: the first ``--sample-volumes`` volumes, each volume's ``--events``
  events saved in one transaction by the ControlPlane as configured (aggregate
  snapshots included);
- fill: the remaining volumes, ``--fill-per-txn`` volumes per transaction, snapshotting
  off (the fastest way in through the application; its rate is reported too);
- load: ``repository.get`` of ``--sample`` batched volumes (snapshots used), and full
  replay of the same volumes from all their events (no snapshots);
- catch-up: the volume status projection from position 0 over the whole log into a
  fresh view in the same store (the goal: 1,000,000 events in under 60 s).

Prints events/s, wall seconds and this process's CPU seconds (the machine may be
shared: CPU seconds show what the work itself costs; PostgreSQL's own CPU is not in
them). ``--json`` prints one JSON object. Not a test: it asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from domain.application import ControlPlane  # noqa: E402
from domain.services import Volumes  # noqa: E402
from domain.store import open_control_plane, persistence_env  # noqa: E402
from domain.values import GIB, SECTOR  # noqa: E402
from domain.volume import Volume  # noqa: E402
from projections.status_views import open_status_view  # noqa: E402
from projections.volume_status_projection import VolumeStatusProjection  # noqa: E402
from tests.fixtures.pgcluster import running_cluster  # noqa: E402

BACKENDS = ("sqlite", "postgresql")


def volume_commands(volume: Volume, count: int) -> None:
    """Give a new volume ``count`` more events: attach/detach cycles, conditions, growth."""
    cycle: list[Callable[[int], None]] = [
        lambda i: volume.start_attach("n1"),
        lambda i: volume.finish_attach(f"127.0.0.1:{10000 + i % 50000}"),
        lambda i: volume.set_condition("Scheduled", i % 2 == 0, "", f"round {i}"),
        lambda i: volume.start_detach(),
        lambda i: volume.finish_detach(),
        lambda i: volume.expand(volume.size + SECTOR),
    ]
    volume.finish_creating()
    for i in range(count - 1):
        cycle[i % len(cycle)](i)


def rate(count: int, seconds: float) -> float:
    return round(count / seconds, 1) if seconds > 0 else float("inf")


@contextmanager
def timed(result: dict[str, Any], count_key: str) -> Iterator[dict[str, Any]]:
    """Fill ``result`` with wall/CPU seconds and events/s of the block (count in ``result[count_key]``)."""
    wall, cpu = time.perf_counter(), time.process_time()
    yield result
    result["seconds"] = round(time.perf_counter() - wall, 2)
    result["cpu_seconds"] = round(time.process_time() - cpu, 2)
    result["events_per_s"] = rate(result[count_key], result["seconds"])


def new_volume(v: int, events: int) -> Volume:
    volume = Volume.create(f"vol-{v:06d}", GIB, 3)
    volume_commands(volume, events - 1)
    return volume


def bench_single(app: ControlPlane, commands: int) -> dict[str, Any]:
    volumes = Volumes(app)
    for v in range(10):
        volumes.create(f"single-{v}", GIB, 3)
    with timed({"commands": commands}, "commands") as result:
        for i in range(commands):
            volumes.set_condition(f"single-{i % 10}", "Scheduled", i % 2 == 0, "", f"command {i}")
    return result


def bench_batched(app: ControlPlane, volumes: range, events: int) -> dict[str, Any]:
    with timed({"events": len(volumes) * events, "per_transaction": events}, "events") as result:
        for v in volumes:
            app.save(new_volume(v, events))
    return result


def fill(url: str, volumes: range, events: int, per_txn: int) -> dict[str, Any]:
    env = {**persistence_env(url), "IS_SNAPSHOTTING_ENABLED": "n"}
    app = ControlPlane(env=env)
    try:
        with timed({"events": len(volumes) * events, "per_transaction": events * per_txn}, "events") as result:
            for start in range(volumes.start, volumes.stop, per_txn):
                app.save(*(new_volume(v, events) for v in range(start, min(start + per_txn, volumes.stop))))
    finally:
        app.close()
    return result


def bench_load(app: ControlPlane, sample: int) -> dict[str, Any]:
    names = [f"vol-{v:06d}" for v in range(sample)]
    service = Volumes(app)
    with timed({"volumes": len(names)}, "volumes") as load:
        for name in names:
            service.get(name)
    with timed({"events": 0}, "events") as replay:
        for name in names:
            aggregate = None
            for domain_event in app.events.get(Volume.create_id(name)):
                aggregate = domain_event.mutate(aggregate)
                replay["events"] += 1
    return {"load_with_snapshots": {**load, "volumes_per_s": load.pop("events_per_s")}, "replay_all_events": replay}


def bench_catch_up(app: ControlPlane, url: str, batch: int) -> dict[str, Any]:
    view = open_status_view(url)
    try:
        projection = VolumeStatusProjection(app, view, batch_size=batch)
        with timed({"notifications": 0, "batch": batch}, "notifications") as result:
            result["notifications"] = projection.catch_up()
        result["volumes_in_view"] = len(view.load_all())
    finally:
        view.close()
    return result


@contextmanager
def store_url(backend: str) -> Iterator[str]:
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="pronghorn-bench-") as tmp:
            yield f"sqlite://{tmp}/events.sqlite"
    else:
        with running_cluster(fast=False) as cluster:
            yield cluster.url(cluster.create_database("bench"))


def run_backend(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    log = (lambda msg: None) if args.quiet else (lambda msg: print(f"[{backend}] {msg}", file=sys.stderr))
    with store_url(backend) as url:
        app = open_control_plane(url)
        try:
            log(f"append: {args.single} commands, one per transaction")
            result: dict[str, Any] = {"append_single": bench_single(app, args.single)}
            sampled = range(min(args.sample_volumes, args.volumes))
            log(f"append: {len(sampled)} volumes x {args.events} events, one volume per transaction")
            result["append_batched"] = bench_batched(app, sampled, args.events)
            rest = range(sampled.stop, args.volumes)
            log(f"fill: {len(rest)} more volumes, {args.fill_per_txn} volumes per transaction, no snapshots")
            result["fill"] = fill(url, rest, args.events, args.fill_per_txn)
            log(f"load and replay {min(args.sample, len(sampled))} volumes")
            result["load"] = bench_load(app, min(args.sample, len(sampled)))
            log("projection catch-up from position 0")
            result["catch_up"] = bench_catch_up(app, url, args.batch)
        finally:
            app.close()
    return result


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/eventstore.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--volumes", type=int, default=10_000, help="volumes to create (default 10000)")
    parser.add_argument("--events", type=int, default=100, help="events per volume (default 100, at least 2)")
    parser.add_argument("--single", type=int, default=2000, help="commands appended one per transaction")
    parser.add_argument("--sample-volumes", type=int, default=1000,
                        help="volumes appended one per transaction with snapshots (default 1000)")
    parser.add_argument("--fill-per-txn", type=int, default=10, help="volumes per transaction when filling")
    parser.add_argument("--sample", type=int, default=500, help="volumes loaded and replayed")
    parser.add_argument("--batch", type=int, default=2000, help="notifications per projection transaction")
    parser.add_argument("--backend", choices=BACKENDS, action="append", help="repeatable; default: both")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    args = parser.parse_args(argv)
    for name in ("volumes", "single", "sample", "batch", "sample_volumes", "fill_per_txn"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.events < 2:
        parser.error("--events must be at least 2")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    results = {backend: run_backend(backend, args) for backend in args.backend or BACKENDS}
    report = {"volumes": args.volumes, "events_per_volume": args.events, "results": results}
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"{args.volumes} volumes x {args.events} events = {args.volumes * args.events:,} events")
    for backend, r in results.items():
        print(f"{backend}:")
        rows = [
            ("append, 1 command/txn", r["append_single"]),
            (f"append, {args.events} events/txn", r["append_batched"]),
            (f"fill, {r['fill']['per_transaction']} events/txn, no snapshots", r["fill"]),
            ("replay, all events", r["load"]["replay_all_events"]),
            ("projection catch-up", r["catch_up"]),
        ]
        for label, row in rows:
            print(f"  {label:<38} {row['events_per_s']:>10,.0f} events/s  {row['seconds']:>7.2f} s wall"
                  f"  {row['cpu_seconds']:>7.2f} s cpu")
        load = r["load"]["load_with_snapshots"]
        print(f"  {'load via snapshots':<38} {load['volumes_per_s']:>10,.0f} volumes/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
