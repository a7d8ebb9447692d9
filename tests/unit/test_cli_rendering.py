"""CLI building blocks in-process: size parsing, plain data, tables, one-line parser errors."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from enum import StrEnum
from uuid import UUID

import pytest

from adapters.cli.command import make_parser
from adapters.cli.errors import ExitCode
from adapters.cli.history_view import rebuild_cell
from adapters.cli.output import dumps, render_fields, render_table
from adapters.cli.sizes import SizeError, format_size, format_usage, parse_size
from projections.plain import plain


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("4096", 4096),
        ("1Gi", 1024**3),
        ("512Mi", 512 * 1024**2),
        ("1.5Gi", 3 * 512 * 1024**2),
        ("10G", 10 * 1000**3),
        ("2k", 2000),
        (" 3Ti ", 3 * 1024**4),
        ("1GiB", 1024**3),
    ],
)
def test_parse_size_accepts_kubernetes_quantities(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "0", "-1Gi", "1Xi", "Gi", "1.3", "0.5Ki5", "1 Gi Gi", "0.0001Ki"])
def test_parse_size_rejects_with_one_line(text):
    with pytest.raises(SizeError) as caught:
        parse_size(text)
    assert "\n" not in str(caught.value)
    assert repr(text) in str(caught.value)


@pytest.mark.parametrize(
    ("size", "text"),
    [(1024**3, "1Gi"), (3 * 512 * 1024**2, "1.5Gi"), (4096, "4Ki"), (1000, "1000"), (1024**3 + 1, "1.0Gi")],
)
def test_format_size(size, text):
    if size == 1024**3 + 1:
        # not a tenth of a unit: printed in bytes rather than rounded
        assert format_size(size) == str(size)
    else:
        assert format_size(size) == text


def test_format_then_parse_round_trips():
    for size in (4096, 1024**2, 5 * 1024**3, 3 * 512 * 1024**2, 12345):
        assert parse_size(format_size(size)) == size


class Colour(StrEnum):
    RED = "red"


@dataclasses.dataclass(frozen=True)
class Member:
    name: str
    mode: Colour


def test_plain_converts_domain_values():
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    value = {
        "id": UUID(int=1),
        "at": when,
        "colour": Colour.RED,
        "members": (Member("a", Colour.RED),),
        "tags": frozenset({"z", "a"}),
    }
    assert plain(value) == {
        "id": "00000000-0000-0000-0000-000000000001",
        "at": "2026-01-02T03:04:05+00:00",
        "colour": "red",
        "members": [{"name": "a", "mode": "red"}],
        "tags": ["a", "z"],
    }
    assert '"colour": "red"' in dumps(value)


def test_render_table_aligns_columns():
    text = render_table(["NAME", "SIZE"], [("a", "1Gi"), ("longer", None)])
    assert text.splitlines() == ["NAME    SIZE", "a       1Gi", "longer  -"]


def test_render_fields_nests():
    text = render_fields({"name": "v", "replicas": [{"name": "r1", "mode": "RW"}], "spec": {"size": 1}})
    assert text.splitlines() == ["name:     v", "replicas:", "  - name=r1, mode=RW", "spec:", "  size: 1"]


def test_parser_errors_are_one_line_and_exit_usage(capsys):
    parser = make_parser("pronghorn thing", "a thing")
    parser.add_argument("--size", required=True)
    with pytest.raises(SystemExit) as caught:
        parser.parse_args(["--bogus"])
    assert caught.value.code == ExitCode.USAGE
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("pronghorn thing: error: ")


def test_format_usage_rounds_measured_bytes() -> None:
    assert [format_usage(n) for n in (0, 1000, 1024, 8 * 1024**2 + 4096, 3 * 1024**3 // 2)] == \
        ["0", "1000", "1.0Ki", "8.0Mi", "1.5Gi"]


def test_rebuild_cell_shows_the_percentage_while_running() -> None:
    assert rebuild_cell("running", 42 << 20, 100 << 20) == "rebuilding 42%"
    assert rebuild_cell("running", 0, 0) == "rebuilding"
    assert rebuild_cell("completed", 100, 100) == "completed"
