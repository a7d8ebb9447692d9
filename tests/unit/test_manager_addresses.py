"""Unix socket paths for replica data sockets (manager/addresses.py)."""

from __future__ import annotations

import socket
from pathlib import Path

from manager.addresses import UNIX_PATH_MAX, replica_data_socket


def test_readable_name_when_it_fits(tmp_path: Path) -> None:
    assert replica_data_socket(Path("/var/lib/ph/sockets"), "vol1", "r-1") == Path("/var/lib/ph/sockets/vol1.r-1.data")


def test_short_name_when_the_readable_one_is_too_long(tmp_path: Path) -> None:
    sockets = Path("/" + "d" * 80)
    path = replica_data_socket(sockets, "a-volume-with-a-long-name", "replica-0")
    assert path is not None and path.parent == sockets and len(path.name) == len("0123456789ab.data")
    assert path != replica_data_socket(sockets, "a-volume-with-a-long-name", "replica-1")


def test_none_when_nothing_fits() -> None:
    assert replica_data_socket(Path("/" + "d" * 100), "v", "r") is None


def test_the_longest_accepted_path_binds(tmp_path: Path) -> None:
    sockets = tmp_path / ("s" * (UNIX_PATH_MAX - len(str(tmp_path)) - len("/0123456789ab.data") - 1))
    sockets.mkdir()
    path = replica_data_socket(sockets, "v" * 40, "r")
    assert path is not None and len(str(path)) == UNIX_PATH_MAX
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(path))
