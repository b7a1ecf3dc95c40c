"""`xtt alerts`: the safety alerts with their age against the escalation deadline."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime, timedelta

from analytics.dates import vn_datetime
from bot import app
from bot.cli_office import with_parts
from bot.settings import Settings
from storage import alerts


async def cmd_alerts(settings: Settings, args: argparse.Namespace) -> int:
    """xtt alerts [--all]."""
    async def work(parts: app.Parts) -> int:
        admins = [parts.identity.pseudonym(c, u) for c, u in settings.admins]
        if not await alerts.anyone_to_tell(parts.db, admins):
            print("xtt: WARNING: no official and no child-protection officer can receive safety alerts. Set "
                  "XTT_ADMINS, or invite one: xtt invite officer --commune CODE", file=sys.stderr)
        found = await alerts.listing(parts.db, None, everything=args.all, limit=1000)
        if not found:
            print("no open alerts" if not args.all else "no alerts")
            return 0
        now = datetime.now(UTC)
        limit = timedelta(hours=settings.xtt_alert_hours)
        for alert in found:
            waited = now - alert.created_at
            due = "overdue" if waited > limit and alert.status == alerts.OPEN else "in time"
            print(f"#{alert.id:<5} {alert.status:<12} {alert.commune or '-':<16} {vn_datetime(alert.created_at)}  "
                  f"{waited.total_seconds() / 3600:5.1f} h of {settings.xtt_alert_hours:g} ({due})  "
                  f"{','.join(alert.categories)}  escalated {alert.escalated}×")
        return 0

    return await with_parts(settings, work)
