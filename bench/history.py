"""History read benchmark: ``replay``, ``events`` and ``volume get`` on one volume in a big store.

Run from the repository root: ``python bench/history.py [--events N] [--volume-events K]``
(defaults 1,000,000 events in the store, 10,000 of them the measured volume's) on
SQLite (a temp file) and PostgreSQL (a throwaway cluster, durable settings, as in
bench/eventstore.py). Per backend:

- fill: volumes of ``--per-volume`` events each, ``--per-txn`` volumes per
  transaction, and the measured volume's events spread over the same transactions
  (its history is interleaved with everyone else's, as in a real log);
- first read: ``pronghorn volume get`` right after the fill catches the read side
  (status view + per-volume history index) up over the whole log;
- then each command ``--rounds`` times as a real ``pronghorn`` process, and
  ``pronghorn --version`` (process start); the figures are medians, and "beyond
  start" is the median minus process start (so it includes importing the domain
  and eventsourcing). The goal: under 100 ms beyond start. "work alone" times the
  command in a process that has imported its modules already (opening the store,
  catching the read side up, reading, rendering);
- for comparison, the full scan of the notification log these commands did before
  (``projections.history.read_history``, in process).

Prints figures and never asserts; ``--json`` prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.eventstore import BACKENDS, new_volume, store_url  # noqa: E402
from domain.application import ControlPlane  # noqa: E402
from domain.store import persistence_env  # noqa: E402
from domain.values import GIB, SECTOR  # noqa: E402
from domain.volume import Volume  # noqa: E402
from projections.history import read_history  # noqa: E402

PRONGHORN = str(Path(sys.executable).parent / "pronghorn")
TARGET = "target"


# The measured volume's commands, in a cycle (one event each; as in bench/eventstore.py).
CYCLE = [
    lambda v: v.start_attach("n1"),
    lambda v: v.finish_attach(f"127.0.0.1:{10000 + v.version % 50000}"),
    lambda v: v.set_condition("Scheduled", v.version % 2 == 0, "", f"round {v.version}"),
    lambda v: v.start_detach(),
    lambda v: v.finish_detach(),
    lambda v: v.expand(v.size + SECTOR),
]


def grow(volume: Volume, count: int) -> None:
    for _ in range(count):
        CYCLE[(volume.version - 2) % len(CYCLE)](volume)


def fill(url: str, args: argparse.Namespace) -> dict[str, Any]:
    """The store: other volumes in batches, the target's events spread over the same transactions."""
    app = ControlPlane(env={**persistence_env(url), "IS_SNAPSHOTTING_ENABLED": "n"})
    others = max(0, (args.events - args.volume_events) // args.per_volume)
    starts = list(range(0, others, args.per_txn)) or [0]
    target = Volume.create(TARGET, GIB, 3)
    target.finish_creating()
    left = args.volume_events - target.version
    started = time.perf_counter()
    try:
        for number, start in enumerate(starts):
            share = -(-left // (len(starts) - number))  # what is left, spread evenly
            grow(target, share)
            left -= share
            app.save(target, *(new_volume(v, args.per_volume) for v in range(start, min(start + args.per_txn, others))))
    finally:
        app.close()
    seconds = time.perf_counter() - started
    stored = others * args.per_volume + target.version
    return {"events": stored, "target_events": target.version, "seconds": round(seconds, 1),
            "events_per_s": round(stored / seconds)}


def run(url: str, *argv: str) -> float:
    """Seconds one ``pronghorn`` process takes (it must succeed)."""
    env = {**os.environ, "PRONGHORN_STORE": url, "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    proc = subprocess.run([PRONGHORN, *argv], env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"pronghorn {' '.join(argv)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return seconds


def median_ms(url: str, rounds: int, *argv: str) -> float:
    return round(1000 * statistics.median(run(url, *argv) for _ in range(rounds)), 1)


# In a fresh process: import what the command will, then time the command alone.
WORK = """
import contextlib, io, sys, time
import adapters.cli.events, adapters.cli.replay, adapters.cli.volumes, eventsourcing.{module}
from adapters.cli.main import main
with contextlib.redirect_stdout(io.StringIO()):
    started = time.perf_counter()
    code = main(sys.argv[1:])
    elapsed = time.perf_counter() - started
print(code, elapsed)
"""


def work_ms(url: str, rounds: int, *argv: str) -> float:
    """Median milliseconds of the command itself, its modules already imported (store open included)."""
    module = "postgres" if url.startswith("postgres") else "sqlite"
    env = {**os.environ, "PRONGHORN_STORE": url, "PYTHONPATH": str(ROOT)}
    times = []
    for _ in range(rounds):
        proc = subprocess.run([sys.executable, "-c", WORK.format(module=module), *argv], env=env,
                              capture_output=True, text=True, check=False)
        code, elapsed = proc.stdout.split()
        if code != "0":
            raise SystemExit(f"pronghorn {' '.join(argv)} failed ({code}): {proc.stderr.strip()}")
        times.append(float(elapsed))
    return round(1000 * statistics.median(times), 1)


def full_scan_ms(url: str) -> float:
    """The full scan of the log the readers did before the index (in process, store already open)."""
    app = ControlPlane(env=persistence_env(url))
    try:
        started = time.perf_counter()
        read_history(app.recorder, app.mapper, TARGET)
        return round(1000 * (time.perf_counter() - started), 1)
    finally:
        app.close()


def run_backend(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    log = (lambda msg: None) if args.quiet else (lambda msg: print(f"[{backend}] {msg}", file=sys.stderr))
    with store_url(backend) as url:
        log(f"fill: {args.events:,} events, {args.volume_events:,} of them {TARGET!r}'s")
        result: dict[str, Any] = {"fill": fill(url, args)}
        log("first read: the read side catches up over the whole log")
        result["first_read_s"] = round(run(url, "volume", "get", TARGET), 1)
        last = str(result["fill"]["target_events"])
        commands = {
            "volume get": ("volume", "get", TARGET),
            "volume get --json": ("volume", "get", TARGET, "--json"),
            f"replay --at {last}": ("replay", TARGET, "--at", last),
            "replay --at half": ("replay", TARGET, "--at", str(int(last) // 2)),
            "events --limit 100": ("events", TARGET, "--limit", "100"),
            "events (all)": ("events", TARGET),
            "events --json (all)": ("events", TARGET, "--json"),
        }
        start_ms = median_ms(url, args.rounds, "--version")
        result["process_start_ms"] = start_ms
        result["commands"] = {}
        for label, argv in commands.items():
            log(label)
            ms = median_ms(url, args.rounds, *argv)
            result["commands"][label] = {"ms": ms, "beyond_start_ms": round(ms - start_ms, 1),
                                         "work_ms": work_ms(url, args.rounds, *argv)}
        log("full scan (before the index)")
        result["full_scan_ms"] = full_scan_ms(url)
    return result


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/history.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="events in the store (default 1000000)")
    parser.add_argument("--volume-events", type=int, default=10_000, help="events of the measured volume")
    parser.add_argument("--per-volume", type=int, default=100, help="events of every other volume")
    parser.add_argument("--per-txn", type=int, default=10, help="other volumes per transaction")
    parser.add_argument("--rounds", type=int, default=5, help="runs of each command (median)")
    parser.add_argument("--backend", choices=BACKENDS, action="append", help="repeatable; default: both")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    args = parser.parse_args(argv)
    for name in ("events", "rounds", "per_txn"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.per_volume < 2 or args.volume_events < 2:
        parser.error("--per-volume and --volume-events must be at least 2")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    results = {backend: run_backend(backend, args) for backend in args.backend or BACKENDS}
    if args.json:
        print(json.dumps({"events": args.events, "volume_events": args.volume_events, "results": results}, indent=2))
        return 0
    for backend, r in results.items():
        f = r["fill"]
        print(f"{backend}: {f['events']:,} events ({f['target_events']:,} of {TARGET!r}), filled at "
              f"{f['events_per_s']:,} events/s; first read (catch-up) {r['first_read_s']} s; "
              f"process start {r['process_start_ms']} ms")
        print(f"  {'command':<24} {'process':>9} {'beyond start':>13} {'work alone':>11}")
        for label, row in r["commands"].items():
            print(f"  {label:<24} {row['ms']:>6.1f} ms {row['beyond_start_ms']:>10.1f} ms {row['work_ms']:>8.1f} ms")
        print(f"  {'full scan (before)':<24} {'':>9} {'':>13} {r['full_scan_ms']:>8.1f} ms  (the log scan alone)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
