"""The ``pronghorn replica`` argument handling (no servers started)."""

from __future__ import annotations

import argparse

import pytest

from replica import cli, cli_args


@pytest.mark.parametrize("text,size", [("4096", 4096), ("64M", 64 << 20), ("1GiB", 1 << 30), ("2g", 2 << 30)])
def test_parse_size(text: str, size: int) -> None:
    assert cli_args.parse_size(text) == size


@pytest.mark.parametrize("text", ["0", "100", "1x", "-4096", ""])
def test_parse_size_rejects(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        cli_args.parse_size(text)


def test_parse_address() -> None:
    assert cli_args.parse_address("127.0.0.1:0") == ("127.0.0.1", 0)
    assert cli_args.parse_address(":9000") == ("127.0.0.1", 9000)
    with pytest.raises(argparse.ArgumentTypeError):
        cli_args.parse_address("nohost")
    with pytest.raises(argparse.ArgumentTypeError):
        cli_args.parse_address("h:70000")


def test_help_and_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--help"]) == cli.EXIT_OK
    assert cli.main(["serve", "--help"]) == cli.EXIT_OK
    assert "--data-socket" in capsys.readouterr().out
    assert cli.main([]) == cli.EXIT_USAGE
    assert cli.main(["bogus"]) == cli.EXIT_USAGE
    assert cli.main(["serve", "--dir", "/tmp/x"]) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert "Traceback" not in err and "required" in err


def test_size_mismatch_is_a_clear_error(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    cli.open_chain(tmp_path / "r", 8192).close()
    with pytest.raises(ValueError, match="8192"):
        cli.open_chain(tmp_path / "r", 4096)
