"""Every CLI verb and sub-verb answers --help (in-process), and the error table classifies in one line."""

from __future__ import annotations

import importlib

import pytest
from eventsourcing.persistence import IntegrityError

from adapters.cli.errors import CommandError, ExitCode, classify
from adapters.cli.main import VERBS
from domain.errors import InvalidTransition, SchedulingFailed, VolumeNotFound
from domain.store import InvalidStoreURL

OWN_VERBS = ["node", "volume", "events", "replay", "demo", "job", "api"]
HELP_CASES = [
    ("node", []), ("node", ["add"]), ("node", ["ls"]), ("node", ["get"]),
    ("volume", []), ("volume", ["create"]), ("volume", ["ls"]), ("volume", ["get"]),
    ("volume", ["expand"]), ("volume", ["delete"]),
    ("events", []), ("events", ["export"]), ("events", ["import"]),
    ("replay", []), ("demo", []),
    ("api", []), ("job", []), ("job", ["create"]), ("job", ["ls"]), ("job", ["get"]), ("job", ["rm"]),
]


@pytest.mark.parametrize(("verb", "sub"), HELP_CASES)
def test_every_verb_has_help(verb: str, sub: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    module = importlib.import_module(VERBS[verb][0])
    with pytest.raises(SystemExit) as caught:
        module.main([*sub, "--help"], prog=f"pronghorn {verb}")
    assert caught.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: pronghorn " + " ".join([verb, *sub]))
    if sub or verb in ("events", "replay"):
        assert "--store" in out


def test_own_verbs_are_registered() -> None:
    assert all(verb in VERBS for verb in OWN_VERBS)


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (VolumeNotFound("v"), ExitCode.NOT_FOUND),
        (InvalidTransition("volume", "v", "attached", "delete"), ExitCode.INVALID_STATE),
        (SchedulingFailed("InsufficientNodes", "need 3 nodes, have 1"), ExitCode.SCHEDULING),
        (InvalidStoreURL("x://", "bad\nscheme"), ExitCode.USAGE),  # a bad argument, not an outage
        (IntegrityError("duplicate key"), ExitCode.CONFLICT),
        (CommandError("refused", ExitCode.CONFLICT), ExitCode.CONFLICT),
        (FileNotFoundError(2, "No such file or directory", "/x"), ExitCode.NOT_FOUND),
        (ZeroDivisionError("boom"), ExitCode.FAILURE),
    ],
)
def test_error_table_gives_a_code_and_one_line(exc: Exception, code: ExitCode) -> None:
    got, message = classify(exc)
    assert got == code
    assert "\n" not in message and message
    if code == ExitCode.FAILURE:
        assert message == "internal error: ZeroDivisionError: boom"
