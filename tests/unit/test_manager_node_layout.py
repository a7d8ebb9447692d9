"""``pronghorn up``'s node layout options (--netns, --node-address, --replica-timeout): the
addresses nodes get, and bad values refused in one line with exit code 2 before anything starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from domain.services import Nodes
from domain.store import open_control_plane
from manager import cli
from manager.local_cluster import NodeLayout, node_setup
from manager.netns import NamespaceError, NetworkNamespace


def test_nodes_listen_on_loopback_unless_given_an_address() -> None:
    layout = NodeLayout(addresses={"node2": "10.213.7.2"})
    assert [layout.address(i) for i in (1, 2, 3)] == ["127.0.1.1", "10.213.7.2", "127.0.1.3"]


def test_a_namespace_that_does_not_exist_is_named_in_the_error() -> None:
    for name in ("ph-no-such-namespace", "../etc", ""):
        with pytest.raises(NamespaceError, match="no network namespace"):
            NetworkNamespace(name).check()


def test_a_namespace_is_entered_through_ip_netns_exec() -> None:
    assert NetworkNamespace("ph1").launch_prefix == ["ip", "netns", "exec", "ph1"]


@pytest.mark.parametrize("argv", [
    ["--netns", "node9=ph1"],  # no such node
    ["--netns", "node3"],  # not NODE=NAMESPACE
    ["--netns", "node3=ph-no-such-namespace"],
    ["--node-address", "node1=not-an-ip"],
    ["--node-address", "node4=10.213.7.1"],
    ["--replica-timeout", "0"],
])
def test_bad_layout_is_one_line_and_exit_2(argv: list[str], tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    code: int | str | None
    try:
        code = cli.main([*argv, "--home", str(tmp_path)], prog="pronghorn up")
    except SystemExit as exc:
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err and "Traceback" not in err and len(err.splitlines()) == 1
    assert not (tmp_path / "events.sqlite").exists()  # refused before the store was opened


def test_a_node_set_up_again_on_another_address_records_it(tmp_path: Path) -> None:
    with open_control_plane("memory:") as app:
        first = node_setup(app, tmp_path, "node1", "127.0.1.1")
        again = node_setup(app, tmp_path, "node1", "10.213.7.1", NetworkNamespace("ph1"), replica_timeout=2.0)
        assert Nodes(app).get("node1").address == "10.213.7.1"
        assert (first.host, first.netns) == ("127.0.1.1", None)
        assert (again.host, again.netns, again.replica_timeout) == ("10.213.7.1", NetworkNamespace("ph1"), 2.0)
