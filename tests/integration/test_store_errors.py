"""Opening a store that cannot be opened gives one typed, one-line error (domain/store.py)."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from domain.store import StoreUnavailable, open_control_plane


def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # nothing listens on it once the socket is closed


def test_unreachable_postgresql_is_store_unavailable() -> None:
    port = closed_port()
    url = f"postgresql://alice:secret@127.0.0.1:{port}/events"
    with pytest.raises(StoreUnavailable) as info:
        open_control_plane(url)
    message = str(info.value)
    assert message.startswith("cannot open event store postgresql://alice:***@127.0.0.1:")
    assert message.endswith(f": no server reachable at 127.0.0.1:{port} (Connection refused)")
    assert "secret" not in message and "\n" not in message


@pytest.mark.postgres
def test_missing_postgresql_database_is_store_unavailable(postgres_url: str) -> None:
    url = postgres_url.rsplit("/", 1)[0] + "/no_such_database"
    with pytest.raises(StoreUnavailable, match=r"/no_such_database: .*check user, password and database name"):
        open_control_plane(url)


def test_unwritable_sqlite_file_is_store_unavailable() -> None:
    with pytest.raises(StoreUnavailable) as info:
        open_control_plane("sqlite:///proc/events.sqlite")
    assert str(info.value) == "cannot open event store sqlite:///proc/events.sqlite: unable to open database file"


OPENERS = """
import sys
from domain.store import open_control_plane
open_control_plane(sys.argv[1]).close()
"""


@pytest.mark.postgres
def test_processes_opening_a_fresh_postgresql_store_at_once_all_succeed(postgres_url: str) -> None:
    """Each opener creates the tables if missing; PostgreSQL refuses some of several concurrent
    CREATE ... IF NOT EXISTS ("tuple concurrently updated"): the loser must retry, not fail."""
    starts = [subprocess.Popen([sys.executable, "-c", OPENERS, postgres_url], stderr=subprocess.PIPE, text=True)
              for _ in range(8)]
    failures = [p.communicate(timeout=120)[1] for p in starts if p.wait(timeout=120) != 0]
    assert failures == []
