"""Shared fixtures: databases (SQLite files and the local PostgreSQL server) and prepared storage."""

from __future__ import annotations

import asyncio
import io
import os
import socket
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bot.identity import Identity
from conversations import Catalogue
from storage import communes, migrate
from storage.db import connect
from tests.support.telegram_standin import TelegramStandin

PG_HOST, PG_PORT = "127.0.0.1", 5432
REQUIRE_PG = os.environ.get("XTT_REQUIRE_POSTGRES") == "1"
SECRET = "test-secret-0123456789"
TELEGRAM_TOKEN = "7123456:e2e-TEST-token"


def postgres_up() -> bool:
    """Whether something listens on the PostgreSQL port."""
    try:
        with socket.create_connection((PG_HOST, PG_PORT), timeout=0.5):
            return True
    except OSError:
        return False


async def _admin(sql: str) -> None:
    """Run one statement on the server's maintenance database."""
    import asyncpg

    conn = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user="postgres", database="postgres")
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: os.PathLike[str]) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or a new database on the local PostgreSQL server."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path}/xtt.sqlite3"
        return
    if not postgres_up():
        if REQUIRE_PG:
            pytest.fail("PostgreSQL is required (XTT_REQUIRE_POSTGRES=1) but 127.0.0.1:5432 does not answer")
        pytest.skip("PostgreSQL is not running on 127.0.0.1:5432; .ci/run starts it")
    name = f"xtt_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    yield f"postgresql+asyncpg://postgres@{PG_HOST}:{PG_PORT}/{name}"
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[object]:
    """A migrated database with the default communes."""
    engine = connect(database_url)
    await migrate.upgrade(engine)
    await communes.seed_default(engine)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
def texts() -> Catalogue:
    """The text catalogue."""
    return Catalogue.load()


@pytest.fixture(scope="session")
def identity() -> Identity:
    """Keyed hashes with a fixed test secret."""
    return Identity(SECRET)


@pytest.fixture
async def tg() -> AsyncIterator[TelegramStandin]:
    """The Telegram Bot API stand-in on 127.0.0.1."""
    async with TelegramStandin(token=TELEGRAM_TOKEN) as standin:
        yield standin


@pytest.fixture
def xtt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    """Run xtt with arguments in a fresh folder; returns (exit code, stdout, stderr)."""
    monkeypatch.chdir(tmp_path)
    for name in ("DATABASE_URL", "XTT_SECRET", "TELEGRAM_BOT_TOKEN", "XTT_FLOWS_DIR", "XTT_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)

    def run(*args: str, stdin: str = "") -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        from bot.cli import main

        code = main(list(args))
        out, err = capsys.readouterr()
        assert "Traceback" not in err
        return code, out, err

    return run
