"""Store URL -> eventsourcing environment mapping (domain/store.py), no database opened."""

from __future__ import annotations

from pathlib import Path

import pytest

from domain.store import (
    InvalidStoreURL,
    StoreKind,
    default_store_url,
    parse_store_url,
    persistence_env,
)


def test_memory_url_selects_the_popo_module() -> None:
    assert persistence_env("memory:") == {"PERSISTENCE_MODULE": "eventsourcing.popo"}


def test_sqlite_url_names_the_file(tmp_path: Path) -> None:
    env = persistence_env(f"sqlite://{tmp_path}/events.sqlite")
    assert env["PERSISTENCE_MODULE"] == "eventsourcing.sqlite"
    assert env["SQLITE_DBNAME"] == str(tmp_path / "events.sqlite")


def test_postgres_url_maps_every_part() -> None:
    env = persistence_env("postgresql://alice:s%40cret@db.local:6543/pronghorn")
    assert env["PERSISTENCE_MODULE"] == "eventsourcing.postgres"
    assert (env["POSTGRES_USER"], env["POSTGRES_PASSWORD"]) == ("alice", "s@cret")
    assert (env["POSTGRES_HOST"], env["POSTGRES_PORT"], env["POSTGRES_DBNAME"]) == ("db.local", "6543", "pronghorn")


def test_postgres_url_defaults_port_and_takes_password_from_pgpassword(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGPASSWORD", "from-env")
    env = persistence_env("postgres://bob@127.0.0.1/events")
    assert env["POSTGRES_PORT"] == "5432"
    assert env["POSTGRES_PASSWORD"] == "from-env"


def test_display_form_hides_the_password() -> None:
    location = parse_store_url("postgresql://alice:hunter2@h:1/d")
    assert location.kind is StoreKind.POSTGRESQL
    assert "hunter2" not in location.display


def test_default_is_sqlite_in_pronghorn_home_which_is_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home" / "pronghorn"
    monkeypatch.delenv("PRONGHORN_STORE", raising=False)
    monkeypatch.setenv("PRONGHORN_HOME", str(home))
    assert default_store_url() == f"sqlite://{home}/events.sqlite"
    assert home.is_dir()
    assert persistence_env(None)["SQLITE_DBNAME"] == str(home / "events.sqlite")


def test_pronghorn_store_overrides_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRONGHORN_STORE", "memory:")
    assert parse_store_url(None).kind is StoreKind.MEMORY


@pytest.mark.parametrize(
    "url",
    [
        "",
        "mysql://u@h/d",
        "sqlite://host/x.sqlite",
        "sqlite:///",
        "sqlite:relative.sqlite",
        "sqlite:///no/such/dir/x.sqlite",
        "postgresql://h:5432/db",
        "postgresql://u@:5432/db",
        "postgresql://u@h:5432/",
        "postgresql://u@h:5432/a/b",
        "postgresql://u@h:notaport/db",
        "postgresql://u@h:5432/db?sslmode=require",
        "memory:x",
    ],
)
def test_invalid_urls_raise_a_one_line_typed_error(url: str) -> None:
    with pytest.raises(InvalidStoreURL) as info:
        persistence_env(url)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("invalid store URL")


def test_sqlite_url_naming_a_directory_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(InvalidStoreURL, match="is a directory"):
        persistence_env(f"sqlite://{tmp_path}")
