"""`pronghorn engine` argument handling: usage errors are one line and exit 2, never a traceback."""

from __future__ import annotations

import socket

import pytest

from engine.cli import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, main, parse_size


@pytest.mark.parametrize("argv", [
    [],
    ["nope"],
    ["serve", "--volume", "v", "--size", "12345", "--replica", "127.0.0.1:1"],  # not a multiple of 4096
    ["serve", "--volume", "v", "--size", "1G", "--replica", "no-port"],
    ["serve", "--volume", "v", "--size", "1G"],  # no replica
    ["status"],  # no --engine
    ["expand", "--engine", "127.0.0.1:1", "huge"],
])
def test_usage_errors(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "Traceback" not in err and "error" in err


def test_help_for_every_verb(capsys: pytest.CaptureFixture[str]) -> None:
    verbs = ["serve", "status", "snapshot", "snapshots", "revert", "rm-snapshot", "expand", "add-replica",
             "rm-replica", "frontend-start", "frontend-stop"]
    for verb in verbs:
        assert main([verb, "--help"]) == EXIT_OK
        assert "usage:" in capsys.readouterr().out


def test_sizes() -> None:
    assert parse_size("64M") == 64 << 20
    assert parse_size("1GiB") == 1 << 30
    assert parse_size("8192") == 8192


def test_unreachable_engine_is_a_one_line_failure(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert main(["status", "--engine", f"127.0.0.1:{port}"]) == EXIT_FAILURE
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1


def test_engine_refuses_unreachable_replicas(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    argv = ["serve", "--volume", "v", "--size", "1M", "--replica", f"tcp://127.0.0.1:{port}",
            "--replica-timeout", "1", "--log-level", "ERROR"]
    assert main(argv) == EXIT_FAILURE
    err = capsys.readouterr().err
    assert "no consistent replica" in err and f"127.0.0.1:{port}" in err
