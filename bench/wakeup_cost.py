"""What one sleep-and-wake-up costs on this machine: a 1-byte ping-pong between two processes.

Usage: python bench/wakeup_cost.py [--round-trips 20000] [--json]

Two processes bounce one byte over a unix socketpair, four ways: both blocking in
recv() on different CPUs (every hop wakes a sleeper: an inter-processor interrupt
and, under a hypervisor, a halt exit), blocking on one CPU (a context switch, no
interrupt), both spinning on non-blocking receives on different CPUs (no sleep),
and the kernel's choice of CPUs. Prints the median and 90th-percentile round trip.

A replicated write takes four to five such wake-ups (client to engine, engine to two
replicas, replicas to engine, engine to client) where `nbdkit file` takes two, so it
bounds from below the engine's added queue-depth-1 write latency, whatever the engine
does. Asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import sys
import time

CASES = {  # name -> (CPU of the pinger, CPU of the ponger, spin); None: unpinned
    "blocking, two CPUs": (0, 1, False),
    "blocking, one CPU": (0, 0, False),
    "spinning, two CPUs": (0, 1, True),
    "blocking, unpinned": (None, None, False),
}


def receive(sock: socket.socket, spin: bool) -> bytes:
    if not spin:
        return sock.recv(64)
    while True:
        try:
            return sock.recv(64, socket.MSG_DONTWAIT)
        except BlockingIOError:
            continue


def pin(cpu: int | None) -> None:
    if cpu is not None:
        cpus = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpus[cpu % len(cpus)]})


def round_trips(count: int, ping_cpu: int | None, pong_cpu: int | None, spin: bool) -> list[int]:
    """Nanoseconds of each of ``count`` round trips (the first 5 % are warm-up, dropped)."""
    ours, theirs = socket.socketpair()
    saved = os.sched_getaffinity(0)
    pid = os.fork()
    if pid == 0:  # the ponger: echo until the pinger hangs up
        ours.close()
        pin(pong_cpu)
        while data := receive(theirs, spin):
            theirs.send(data)
        os._exit(0)
    theirs.close()
    times = []
    try:
        pin(ping_cpu)
        clock = time.perf_counter_ns
        for _ in range(count):
            began = clock()
            ours.send(b"x")
            receive(ours, spin)
            times.append(clock() - began)
    finally:
        ours.close()
        os.waitpid(pid, 0)
        os.sched_setaffinity(0, saved)
    return times[count // 20 :]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/wakeup_cost.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--round-trips", type=int, default=20000, help="per case (default 20000)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    if args.round_trips < 100:
        parser.error("--round-trips must be at least 100")
    if len(os.sched_getaffinity(0)) < 2:
        print("bench/wakeup_cost.py: one CPU only: the two-CPU cases are the one-CPU case", file=sys.stderr)
    results = {}
    for name, (ping_cpu, pong_cpu, spin) in CASES.items():
        times = round_trips(args.round_trips, ping_cpu, pong_cpu, spin)
        results[name] = {"median_us": statistics.median(times) / 1000,
                         "p90_us": statistics.quantiles(times, n=10)[8] / 1000}
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print(f"{'case':24s} {'median':>9s} {'p90':>9s}   (round trip, {args.round_trips} each)")
    for name, r in results.items():
        print(f"{name:24s} {r['median_us']:7.1f}us {r['p90_us']:7.1f}us")
    return 0


if __name__ == "__main__":
    sys.exit(main())
