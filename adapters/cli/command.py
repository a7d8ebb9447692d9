"""What every CLI verb module shares: its argument parser, ``--store``, and the run wrapper.

Verb modules (nodes, volumes, events, replay, demo) build a :class:`CommandParser`,
add ``--store`` with :func:`add_store_option`, and run their handler through
:func:`run`, which turns every failure into ONE line on stderr and a named exit
code (see :mod:`adapters.cli.errors`) — never a traceback, unless
``PRONGHORN_DEBUG=1`` asks for one.
"""

from __future__ import annotations

import argparse
import os
import pwd
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, NoReturn

from adapters.cli.errors import ExitCode, classify
from domain.causation import acting

if TYPE_CHECKING:
    from domain.application import ControlPlane

STORE_HELP = (
    "event store URL: sqlite:///ABS/PATH.sqlite, postgresql://USER[:PW]@HOST:PORT/DB or memory: "
    "(default: $PRONGHORN_STORE, else $PRONGHORN_HOME/events.sqlite)"
)


class CommandParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line on stderr and exit code USAGE."""

    def error(self, message: str) -> NoReturn:
        self.exit(ExitCode.USAGE, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def make_parser(prog: str, description: str) -> CommandParser:
    return CommandParser(prog=prog, description=description)


def add_verbs(parser: argparse.ArgumentParser) -> argparse._SubParsersAction[CommandParser]:
    """Sub-verbs (``volume create``...); one is required."""
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", parser_class=CommandParser)
    verbs.required = True
    return verbs


def add_store_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", metavar="URL", default=None, help=STORE_HELP)


def add_json_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON (for machines) instead of a table")


@contextmanager
def opened_store(url: str | None) -> Iterator[ControlPlane]:
    """The control plane on the store named by ``url`` (or the default), closed afterwards."""
    from domain.store import open_control_plane

    app = open_control_plane(url)
    try:
        yield app
    finally:
        app.close()


def _user() -> str:
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return str(os.getuid())


def run(prog: str, action: Callable[[], int | None]) -> int:
    """Run ``action``; map any exception to one stderr line and its exit code."""
    try:
        with acting(f"cli:{_user()}"):  # events a verb records name who ran it
            return int(action() or ExitCode.OK)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return ExitCode.INTERRUPTED
    except BrokenPipeError:
        # Output piped into e.g. `head`: not an error worth a message.
        sys.stderr.close()
        return ExitCode.OK
    except Exception as exc:  # noqa: BLE001 - this is the one place that catches all
        code, message = classify(exc)
        print(f"{prog}: {message}", file=sys.stderr)
        if os.environ.get("PRONGHORN_DEBUG"):
            traceback.print_exc()
        return code
