"""``--wait`` and ``--timeout S``: polling the store until the manager has done what a verb asked.

Verbs that record an intent the manager carries out (``volume attach|detach|delete``,
``snapshot create|revert``) add the options with :func:`add_wait_options` and poll with
:func:`wait_until`, which gives up with exit code 8 (``ExitCode.TIMEOUT``) and a line
saying what is still missing.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable

from adapters.cli.errors import CommandError, ExitCode

DEFAULT_TIMEOUT_S = 120.0
MAX_TIMEOUT_S = 7 * 24 * 3600.0
POLL_S = 0.2


def timeout_argument(text: str) -> float:
    """``--timeout S``: seconds, more than 0 and at most a week (no nan, no inf)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value <= MAX_TIMEOUT_S:
        raise argparse.ArgumentTypeError(f"invalid timeout {text!r} (seconds, more than 0 and at most "
                                         f"{MAX_TIMEOUT_S:.0f})")
    return value


def add_wait_options(parser: argparse.ArgumentParser, what: str) -> None:
    """``--wait`` (until ``what`` is done) and ``--timeout S`` (then exit 8, TIMEOUT)."""
    parser.add_argument("--wait", action="store_true", help=f"wait until {what}")
    parser.add_argument("--timeout", type=timeout_argument, default=DEFAULT_TIMEOUT_S, metavar="S",
                        help=f"seconds --wait waits before exit code 8 (default {DEFAULT_TIMEOUT_S:.0f})")


def wait_until(done: Callable[[], bool], timeout: float, late: Callable[[], str]) -> None:
    """Poll ``done()`` until true; after ``timeout`` seconds raise ``late()`` as a TIMEOUT error.
    ``done`` may raise to stop waiting (a failure the manager recorded)."""
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() >= deadline:
            raise CommandError(late(), ExitCode.TIMEOUT)
        time.sleep(POLL_S)
