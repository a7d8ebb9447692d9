"""The node's one report per directory under ``replicas/`` that no removed replica owns."""

from __future__ import annotations

import pytest

from domain.application import ControlPlane
from domain.errors import InvalidValue
from domain.node import Node
from domain.services import Nodes


def test_an_unknown_directory_is_reported_once() -> None:
    n = Node.create("node1", "127.0.1.1")
    n.collect_events()
    assert n.report_unknown_directory("/d/replicas/vol1-r1.inspect")
    assert not n.report_unknown_directory("/d/replicas/vol1-r1.inspect")
    assert n.report_unknown_directory("/d/replicas/notes")
    assert n.unknown_directories == ("/d/replicas/vol1-r1.inspect", "/d/replicas/notes")
    assert [type(e).__name__ for e in n.collect_events()] == ["UnknownDirectoryFound", "UnknownDirectoryFound"]
    with pytest.raises(InvalidValue):
        n.report_unknown_directory("relative/path")


def test_unknown_directory_reports_survive_the_store() -> None:
    app = ControlPlane()
    Nodes(app).add("node1", "127.0.1.1")
    assert Nodes(app).report_unknown_directory("node1", "/d/replicas/x")
    assert not Nodes(app).report_unknown_directory("node1", "/d/replicas/x")
    assert Nodes(app).get("node1").unknown_directories == ("/d/replicas/x",)
