"""Apply Alembic migrations from inside the running event loop."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS = Path(__file__).parent / "migrations"


def head() -> str:
    """The newest revision id, read from the file names (NNNN_name.py) without importing Alembic."""
    return max(p.name.split("_", 1)[0] for p in (MIGRATIONS / "versions").glob("[0-9]*_*.py"))


async def current(engine: AsyncEngine) -> str | None:
    """The revision the database is at, or None for a new database."""
    async with engine.connect() as conn:
        try:
            return (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar()
        except Exception:
            return None


async def upgrade(engine: AsyncEngine) -> bool:
    """Bring the database to the newest revision; returns whether anything ran."""
    if await current(engine) == head():
        return False
    async with engine.begin() as conn:
        await conn.run_sync(_upgrade)
    return True


def _upgrade(connection: Connection) -> None:
    """Run Alembic's upgrade on a synchronous connection."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")
