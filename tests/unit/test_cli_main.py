"""The `pronghorn` dispatcher: help lists every verb; unknown verbs fail cleanly."""

from __future__ import annotations

import subprocess

from adapters.cli.main import VERBS, main
from tests.conftest import PRONGHORN


def test_help_lists_every_verb(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for verb in VERBS:
        assert f"  {verb}" in out


def test_unknown_verb_is_a_one_line_error():
    proc = subprocess.run([PRONGHORN, "frobnicate"], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.strip().count("\n") == 0
    assert "unknown verb 'frobnicate'" in proc.stderr


def test_version_prints_one_line_and_exits_0():
    proc = subprocess.run([PRONGHORN, "--version"], capture_output=True, text=True)
    assert (proc.returncode, proc.stderr) == (0, "")
    assert proc.stdout.startswith("pronghorn ") and proc.stdout.count("\n") == 1
