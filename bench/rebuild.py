"""Rebuild throughput: `engine add-replica` of an empty replica against `cp --sparse=always`.

Usage: python bench/rebuild.py [--data 1G] [--json]

An engine on one replica gets ``--data`` bytes written through NBD (fio,
sequential 1 MiB writes of fresh random buffers). Then (a) the source
replica's files are copied with ``cp --sparse=always`` (then ``sync``ed,
shown separately), and (b) an empty replica is added to the engine and
rebuilt. Prints seconds, MiB/s of written data and the rebuild's throughput as a
ratio of each cp's (goal: >= 0.5 against plain cp).
Asserts nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make the repository importable, here and in child processes
    sys.path.insert(0, str(ROOT))
os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))])

from bench.fio_jobs import cpu_seconds  # noqa: E402
from bench.targets import parse_size  # noqa: E402
from tests.conftest import PRONGHORN  # noqa: E402
from tests.fixtures.engines import start_engine  # noqa: E402
from tests.fixtures.fio import run_fio  # noqa: E402
from tests.fixtures.replicas import start_replica  # noqa: E402

EXIT_OK, EXIT_FAILED = 0, 1
MiB = 1 << 20


def engine_cli(control: str, verb: str, *args: str) -> dict[str, Any]:
    done = subprocess.run([PRONGHORN, "engine", verb, "--engine", control, "--json", *args],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"engine {verb} failed: {done.stderr.strip()}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def allocated_bytes(directory: Path) -> int:
    return sum(f.stat().st_blocks * 512 for f in directory.glob("*.img"))


def copy_with_cp(source: Path, target: Path) -> tuple[float, float]:
    """Seconds to cp --sparse=always every layer file, and to sync them too."""
    target.mkdir()
    files = sorted(source.glob("*.img"))
    started = time.perf_counter()
    subprocess.run(["cp", "--sparse=always", *map(str, files), str(target)], check=True)
    copied = time.perf_counter() - started
    subprocess.run(["sync", "-f", str(target)], check=True)
    return copied, time.perf_counter() - started


def measure(data: int, workdir: Path) -> dict[str, Any]:
    with contextlib.ExitStack() as stack:
        source = start_replica(workdir, data, "source", data_socket=True)
        stack.callback(source.cleanup)
        engine = start_engine("rebuild", data, [source.control], workdir)
        stack.callback(engine.cleanup)
        print(f"writing {data // MiB} MiB through {engine.uri}", file=sys.stderr)
        run_fio(["--name=fill", "--ioengine=nbd", f"--uri={engine.uri}", "--rw=write", "--bs=1M", "--iodepth=8",
                 f"--size={data}", "--refill_buffers=1"], workdir / "fill.json")
        engine_cli(engine.control, "snapshot", "bench-base")  # the data sits in a snapshot layer, as after use
        written = allocated_bytes(source.directory)
        cp_s, cp_sync_s = copy_with_cp(source.directory, workdir / "cp-copy")
        target = start_replica(workdir, data, "target", data_socket=True)
        stack.callback(target.cleanup)
        print("rebuilding an empty replica", file=sys.stderr)
        pids = {"source": source.pid, "target": target.pid, "engine": engine.pid}
        cpu_before = {role: cpu_seconds(pid) for role, pid in pids.items()}
        started = time.perf_counter()
        result = engine_cli(engine.control, "add-replica", target.control)
        rebuild_s = time.perf_counter() - started
        cpu = {role: cpu_seconds(pid) - cpu_before[role] for role, pid in pids.items()}
        modes = {r["address"]: r["mode"] for r in engine_cli(engine.control, "status")["replicas"]}
    return {
        "data_bytes": written,
        "cp_seconds": cp_s,
        "cp_sync_seconds": cp_sync_s,
        "rebuild_seconds": rebuild_s,
        "cp_mib_s": written / MiB / cp_s,
        "cp_sync_mib_s": written / MiB / cp_sync_s,
        "rebuild_mib_s": written / MiB / rebuild_s,
        "ratio_to_cp": cp_s / rebuild_s,
        "ratio_to_cp_sync": cp_sync_s / rebuild_s,
        "target_mode": modes.get(target.control, "missing"),
        "rebuild_cpu_seconds": cpu,
        "rebuild_result": result,
    }


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="1G", help="bytes written before the rebuild (default 1G)")
    parser.add_argument("--workdir", type=Path, help="where replica directories go (default: a temp dir)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    try:
        data = parse_size(args.data)
    except ValueError as exc:
        parser.error(str(exc))
    with tempfile.TemporaryDirectory(prefix="pronghorn-rebuild-", dir=args.workdir) as tmp:
        try:
            m = measure(data, Path(tmp))
        except (RuntimeError, OSError, subprocess.CalledProcessError) as exc:
            print(f"{prog or 'rebuild'}: {exc}", file=sys.stderr)
            return EXIT_FAILED
    if args.json:
        print(json.dumps(m, indent=2))
        return EXIT_OK
    print(f"data written: {m['data_bytes'] / MiB:.0f} MiB (allocated in the source replica)")
    print(f"{'method':<24} {'seconds':>8} {'MiB/s':>8} {'rebuild/this':>13}")
    print(f"{'engine add-replica':<24} {m['rebuild_seconds']:>8.2f} {m['rebuild_mib_s']:>8.1f} {1.0:>13.2f}")
    print(f"{'cp --sparse=always':<24} {m['cp_seconds']:>8.2f} {m['cp_mib_s']:>8.1f} {m['ratio_to_cp']:>13.2f}")
    print(f"{'cp --sparse=always+sync':<24} {m['cp_sync_seconds']:>8.2f} {m['cp_sync_mib_s']:>8.1f} "
          f"{m['ratio_to_cp_sync']:>13.2f}")
    print(f"target mode after rebuild: {m['target_mode']}; CPU seconds during the rebuild: "
          + ", ".join(f"{role} {seconds:.2f}" for role, seconds in m["rebuild_cpu_seconds"].items()))
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main(prog="bench/rebuild.py"))
