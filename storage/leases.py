"""Named leases in the database: one process holds each for a while and renews it."""

from __future__ import annotations

import os
import secrets
import socket
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.db import aware, insert_ignore
from storage.models import Lease


def owner_name() -> str:
    """This process, as a lease owner: host and process id."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}"


def worker_name() -> str:
    """A name for this process's claims: host, process id and a few random letters (at most 31 characters)."""
    return f"{socket.gethostname()[:16]}:{os.getpid()}:{secrets.token_hex(3)}"


def _dead(owner: str) -> bool:
    """Whether an owner on this host is a process that no longer runs (a crash left its lease behind)."""
    host, pid = [*owner.split(":"), "", ""][:2]
    if not socket.gethostname().startswith(host) or not host or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


async def take(engine: AsyncEngine, name: str, owner: str, now: datetime, seconds: float) -> str | None:
    """Take or renew a lease; None when taken, else the owner who holds it."""
    until = now + timedelta(seconds=seconds)
    async with engine.begin() as conn:
        await conn.execute(insert_ignore(engine, Lease.__table__, {"name": name, "owner": owner, "until": until}))
        row = (await conn.execute(select(Lease.owner, Lease.until).where(Lease.name == name))).one()
        if row.owner != owner and aware(row.until) > now and not _dead(row.owner):
            return row.owner
        await conn.execute(update(Lease).where(Lease.name == name).values(owner=owner, until=until))
    return None


async def give_back(engine: AsyncEngine, name: str, owner: str) -> None:
    """Release a lease this owner holds."""
    async with engine.begin() as conn:
        await conn.execute(delete(Lease).where(Lease.name == name, Lease.owner == owner))


async def free_dead_claims(engine: AsyncEngine) -> int:
    """Free the inbox and outbox claims of processes on this host that died (a restart need not wait for them)."""
    from storage.models import Inbox, Outbox

    freed = 0
    async with engine.begin() as conn:
        for table in (Inbox, Outbox):
            owners = [o for (o,) in await conn.execute(select(table.claimed_by).distinct().where(
                table.status == "queued", table.claimed_by.is_not(None)))]
            dead = [o for o in owners if _dead(o)]
            if dead:
                done = await conn.execute(update(table).where(table.status == "queued", table.claimed_by.in_(dead))
                                          .values(claimed_by=None, claimed_until=None))
                freed += done.rowcount or 0
    return freed
