"""``pronghorn api``: serve the REST API standalone on a store, until SIGINT/SIGTERM.

    pronghorn api [--store URL] [--listen HOST:PORT] [--api-token-file F]     (default 127.0.0.1:9500)

Prints one ready line on stdout (``pronghorn api listening on http://HOST:PORT``)
once the socket is bound, so scripts and tests can wait for it. Without a manager
running, commands the manager carries out (attach, snapshot requests, delete)
stay recorded as intent. An address outside loopback needs ``--api-token-file``
(``adapters.rest.access``). Called by the dispatcher (adapters.cli.main); ``manager.cli``
shares its options.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from types import FrameType

from adapters.cli.command import add_store_option, make_parser, opened_store, run
from adapters.cli.errors import CommandError, ExitCode
from adapters.rest.access import AccessError, check_exposure, read_token_file
from adapters.rest.server import DEFAULT_HOST, DEFAULT_PORT, start_api

EPILOG = ("Exit codes: 0 stopped by SIGINT/SIGTERM, 2 bad arguments (an address outside loopback without "
          "--api-token-file), 7 store unavailable, 1 address in use.")
TOKEN_HELP = ("file holding a bearer token (16+ characters, mode 600): every request must send "
              "'Authorization: Bearer TOKEN'; required to listen anywhere but loopback (127.0.0.0/8, ::1)")


def listen_address(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise argparse.ArgumentTypeError(f"invalid address {text!r} (expected HOST:PORT, e.g. 127.0.0.1:9500)")
    return host, int(port)


def build_parser(prog: str) -> argparse.ArgumentParser:
    parser = make_parser(prog, "Serve the REST API (HTTP JSON; OpenAPI 3.1 at /openapi.json).")
    parser.epilog = EPILOG
    parser.add_argument("--listen", type=listen_address, default=(DEFAULT_HOST, DEFAULT_PORT), metavar="HOST:PORT",
                        help=f"address to listen on (default {DEFAULT_HOST}:{DEFAULT_PORT}; port 0 = any free port)")
    parser.add_argument("--api-token-file", metavar="FILE", help=TOKEN_HELP)
    add_store_option(parser)
    return parser


def api_token(listen: tuple[str, int] | None, token_file: str | None) -> bytes | None:
    """The token of ``--api-token-file`` (None without one), checked against where the API listens."""
    try:
        token = read_token_file(token_file) if token_file else None
        if listen is not None:
            check_exposure(listen[0], token)
    except AccessError as exc:
        raise CommandError(str(exc), ExitCode.USAGE) from None
    return token


def main(argv: list[str] | None = None, prog: str = "pronghorn api") -> int:
    args = build_parser(prog).parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s",
                        stream=sys.stderr)
    host, port = args.listen
    return run(prog, lambda: _serve(host, port, args.store, api_token(args.listen, args.api_token_file)))


def _serve(host: str, port: int, store: str | None, token: bytes | None) -> int:
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    with opened_store(store) as app:
        try:
            handle = start_api(app, host, port, token=token)
        except OSError as exc:
            raise CommandError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
        print(f"pronghorn api listening on {handle.url}", flush=True)
        try:
            stop.wait()
        finally:
            handle.stop()
    return ExitCode.OK
