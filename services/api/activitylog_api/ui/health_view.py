"""The health figures as the dashboard and the retry-queue page show them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from activitylog.domain.watch.rules import format_duration
from activitylog.storage import watch_rules
from activitylog.use_cases.health import health_report
from activitylog_api.state import ApiServices


async def health_for_page(services: ApiServices) -> dict[str, Any]:
    """`health_report` with its times as datetimes for the template, and the watch rules."""
    report = await health_report(services.pool, services.redis, services.settings)
    last = report.get("last_event")
    report["last_event_at"] = datetime.fromisoformat(last) if last else None
    report["read_replica"] = services.reads.report()
    for silent in report.get("silent_sources", []):
        seen = silent["last_event"]
        silent["last_event_at"] = datetime.fromisoformat(seen) if seen else None
    # The rules, for the panel's list and its add/remove forms; none while the database is out.
    report["watch_rules"] = []
    if report.get("events_last_hour") is not None:
        async with services.pool.acquire() as conn:
            report["watch_rules"] = [
                {
                    "id": r.id,
                    "pattern": r.pattern,
                    "every": format_duration(r.max_silence),
                    "window": f"between {r.window.text()}" if r.window else "always",
                }
                for r in await watch_rules.list_rules(conn)
            ]
    return report
