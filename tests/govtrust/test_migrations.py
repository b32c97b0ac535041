"""Migrations bring an empty database to the current schema, on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from govtrust.db import downgrade, make_engine, metadata, upgrade
from tests.conftest import TEST_DATABASE_URL_ENV
from tests.tools import REQUIRE_TOOLS_ENV

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def assert_schema_matches_models(url: str) -> None:
    engine = make_engine(url)
    try:
        upgrade(engine)
        tables = set(inspect(engine).get_table_names())
        assert set(metadata.tables) <= tables
        assert "alembic_version" in tables
        upgrade(engine)  # idempotent
        downgrade(engine)
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        upgrade(engine)
        assert set(metadata.tables) <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_sqlite_empty_database(tmp_path: Path) -> None:
    assert_schema_matches_models(f"sqlite:///{tmp_path / 'var' / 'fresh.db'}")


@pytest.fixture
def empty_postgres_database() -> Iterator[str]:
    """A brand-new PostgreSQL database, dropped afterwards."""
    server_url = make_url(os.environ.get(TEST_DATABASE_URL_ENV) or DEFAULT_POSTGRES_URL)
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    name = f"govtrust_migration_{secrets.token_hex(4)}"
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        admin.dispose()
        if os.environ.get(REQUIRE_TOOLS_ENV) == "1":
            pytest.fail(f"PostgreSQL at {server_url.host}:{server_url.port} unreachable: {exc}")
        pytest.skip(f"no PostgreSQL server at {server_url.host}:{server_url.port}")
    try:
        yield server_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_postgresql_empty_database(empty_postgres_database: str) -> None:
    assert_schema_matches_models(empty_postgres_database)
