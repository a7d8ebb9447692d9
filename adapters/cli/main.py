"""Entry point of the ``pronghorn`` executable.

Dispatches the first word to the module that owns that verb group, importing
it lazily so that ``pronghorn replica serve`` does not load the event store and
``pronghorn volume ls`` does not load gRPC. Each verb module exposes
``main(argv: list[str], prog: str) -> int``.
"""

from __future__ import annotations

import importlib
import sys

# verb -> (module, one-line description). Keep sorted by workflow, not name.
VERBS: dict[str, tuple[str, str]] = {
    "node": ("adapters.cli.nodes", "register and list storage nodes"),
    "volume": ("adapters.cli.volumes", "create, list, inspect, expand and delete volumes"),
    "snapshot": ("adapters.cli.snapshots", "request, list, remove and revert a volume's snapshots"),
    "events": ("adapters.cli.events", "a volume's event history; export/import it"),
    "replay": ("adapters.cli.replay", "a volume's state at a past version or time, or a diff"),
    "job": ("adapters.cli.jobs", "recurring snapshot jobs: create, list, inspect, delete"),
    "api": ("adapters.rest.cli", "serve the REST API (HTTP JSON, OpenAPI at /openapi.json)"),
    "replica": ("adapters.cli.replicas", "list a volume's replicas; run a replica process"),
    "engine": ("engine.cli", "run a volume's engine (NBD frontend) or talk to one"),
    "up": ("manager.cli", "run a local cluster (nodes, manager, event store) in one process"),
    "manager": ("manager.cli", "run one node's manager against a shared event store"),
    "down": ("manager.cli", "stop a local cluster's engine and replica processes"),
    "demo": ("adapters.cli.demo", "a first look: nodes, a volume, its history and a replay"),
}

EXIT_OK = 0
EXIT_USAGE = 2


def _usage() -> str:
    lines = ["usage: pronghorn VERB [ARGS...]", "", "Replicated block storage, event-sourced.", "", "verbs:"]
    width = max((len(v) for v in VERBS), default=0)
    lines += [f"  {verb.ljust(width)}  {desc}" for verb, (_, desc) in VERBS.items()]
    lines += ["", "Run 'pronghorn VERB --help' for a verb's options."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(_usage())
        return EXIT_OK
    if args[0] == "--version":
        from importlib.metadata import PackageNotFoundError, version

        try:
            print(f"pronghorn {version('pronghorn')}")
        except PackageNotFoundError:  # run from a source tree that is not installed
            print("pronghorn (not installed)")
        return EXIT_OK
    verb, rest = args[0], args[1:]
    if verb not in VERBS:
        print(f"pronghorn: unknown verb {verb!r} (see 'pronghorn --help')", file=sys.stderr)
        return EXIT_USAGE
    try:
        module = importlib.import_module(VERBS[verb][0])
    except ModuleNotFoundError as exc:
        if exc.name != VERBS[verb][0]:
            raise
        print(f"pronghorn: verb {verb!r} is not built in this version", file=sys.stderr)
        return EXIT_USAGE
    result: int = module.main(rest, prog=f"pronghorn {verb}")
    return result


if __name__ == "__main__":
    sys.exit(main())
