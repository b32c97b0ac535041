"""Database engine, sessions and schema migrations for every component's tables."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, MetaData, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

import ca.models
import identity.models
import licence_registry.log_models
import licence_registry.models
import seal_service.models  # noqa: F401  (registers the tables on the shared metadata)
from ca.orm import Base

MIGRATIONS = Path(__file__).parent / "migrations"
metadata = Base.metadata
# Sized for the server's worker threads: with SQLAlchemy's default (5 + 10 overflow) every
# burst past 5 connections closed and reopened connections, which cost more than an OCSP answer.
POOL = {"pool_size": 20, "max_overflow": 20}
_ = (ca.models, identity.models, licence_registry.log_models, licence_registry.models)


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30}, **POOL)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, **POOL)


def _sqlite_pragmas(dbapi_connection: Any, _record: object) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema up to `revision` (idempotent)."""
    command.upgrade(alembic_config(engine), revision)


def downgrade(engine: Engine, revision: str = "base") -> None:
    command.downgrade(alembic_config(engine), revision)


def reset_schema(engine: Engine) -> None:
    """DEV ONLY: drop every table in the database (whatever its history), then migrate."""
    existing = MetaData()
    existing.reflect(engine)
    existing.drop_all(engine)
    upgrade(engine)


class Database:
    """An engine and its session factory, made once per process."""

    def __init__(self, url: str) -> None:
        self.engine = make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session whose work commits together, or not at all."""
        with self._sessions.begin() as session:
            yield session
