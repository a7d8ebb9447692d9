"""``pronghorn replica ls VOLUME``: a volume's replicas; other ``replica`` verbs run the process.

    pronghorn replica ls VOLUME [--json]     name, node, mode, address, rebuild, failures
    pronghorn replica serve|info ...         handed to replica.cli (the replica process)

The ``replica`` verb is dispatched here (adapters/cli/main.py) so that the replica
package itself stays free of the control plane (see the import-linter contracts);
``serve``/``info`` import nothing of the event store.
"""

from __future__ import annotations


def main(argv: list[str] | None = None, prog: str = "pronghorn replica") -> int:
    if argv and argv[0] in ("serve", "info"):
        from replica import cli

        return cli.main(argv, prog)
    from adapters.cli import replica_list

    return replica_list.main(argv, prog)
