"""The manager's verbs and the verbs that talk to it answer --help and refuse bad input in one line."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from adapters.cli.main import VERBS

HELP_CASES = [
    ("volume", ["attach"]), ("volume", ["detach"]), ("volume", ["mount"]), ("volume", ["umount"]),
    ("snapshot", []), ("snapshot", ["create"]), ("snapshot", ["ls"]), ("snapshot", ["rm"]), ("snapshot", ["revert"]),
    ("replica", []), ("replica", ["ls"]), ("up", []), ("manager", []), ("down", []),
]


@pytest.mark.parametrize(("verb", "sub"), HELP_CASES)
def test_help(verb: str, sub: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    module = importlib.import_module(VERBS[verb][0])
    with pytest.raises(SystemExit) as caught:
        module.main([*sub, "--help"], prog=f"pronghorn {verb}")
    assert caught.value.code == 0
    assert capsys.readouterr().out.startswith("usage: pronghorn " + " ".join([verb, *sub]))


@pytest.mark.parametrize(("verb", "argv"), [
    ("up", ["--nodes", "0"]),
    ("up", ["--interval", "0"]),
    ("manager", []),  # --node is required
    ("volume", ["attach", "v"]),  # --node is required
    ("snapshot", ["create", "v", "s", "--label", "novalue"]),
    ("snapshot", ["frobnicate"]),
])
def test_bad_input_is_one_line_and_exit_2(verb: str, argv: list[str], tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    module = importlib.import_module(VERBS[verb][0])
    argv = [*argv, "--home", str(tmp_path)] if verb == "up" else argv
    try:
        code = module.main(argv, prog=f"pronghorn {verb}")
    except SystemExit as exc:
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err and "Traceback" not in err and len(err.splitlines()) == 1


def test_commands_on_unknown_volumes_say_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = f"sqlite://{tmp_path / 'events.sqlite'}"
    snapshots = importlib.import_module(VERBS["snapshot"][0])
    volumes = importlib.import_module(VERBS["volume"][0])
    replicas = importlib.import_module(VERBS["replica"][0])
    assert snapshots.main(["create", "nope", "--store", store], prog="pronghorn snapshot") == 3
    assert volumes.main(["attach", "nope", "--node", "node1", "--store", store], prog="pronghorn volume") == 3
    assert replicas.main(["ls", "nope", "--store", store], prog="pronghorn replica") == 3
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 3 and all("nope" in line for line in lines)
