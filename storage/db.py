"""Database engine: SQLite with WAL, busy timeout and foreign keys, or PostgreSQL, through one API."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Table, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.sql.dml import Insert

BUSY_TIMEOUT_MS = 5000


def connect(url: str) -> AsyncEngine:
    """Create the async engine for a URL, preparing the SQLite file and pragmas."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        # Custom plans: a generic plan of the queue claims scans and sorts the whole queue once it is long.
        return create_async_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True,
                                   connect_args={"server_settings": {"plan_cache_mode": "force_custom_plan"}})
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})
    event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """Turn on WAL, a busy timeout and foreign keys for each new SQLite connection."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def is_sqlite(engine: AsyncEngine | AsyncConnection) -> bool:
    """Tell whether the engine talks to SQLite."""
    return engine.dialect.name == "sqlite"


def upsert(engine: AsyncEngine | AsyncConnection, table: Table, keys: Iterable[str], values: dict[str, Any]) -> Insert:
    """An INSERT that updates the other columns when the key already exists."""
    keys = list(keys)
    insert = (sqlite.insert if is_sqlite(engine) else postgresql.insert)(table).values(**values)
    changes = {c: insert.excluded[c] for c in values if c not in keys}
    if not changes:
        return insert.on_conflict_do_nothing(index_elements=keys)
    return insert.on_conflict_do_update(index_elements=keys, set_=changes)


def insert_ignore(engine: AsyncEngine | AsyncConnection, table: Table, values: dict[str, Any]) -> Insert:
    """An INSERT that does nothing when the row's key already exists."""
    insert = (sqlite.insert if is_sqlite(engine) else postgresql.insert)(table).values(**values)
    return insert.on_conflict_do_nothing()


def aware(moment: datetime) -> datetime:
    """A stored time in UTC: SQLite gives back naive datetimes, PostgreSQL aware ones."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
