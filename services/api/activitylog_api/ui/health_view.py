"""The health figures as the dashboard and the retry-queue page show them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from activitylog.monitoring.health import health_report
from activitylog_api.state import ApiServices


async def health_for_page(services: ApiServices) -> dict[str, Any]:
    """`health_report`, with the last event time as a datetime for the template."""
    report = await health_report(services.pool, services.redis, services.settings)
    last = report.get("last_event")
    report["last_event_at"] = datetime.fromisoformat(last) if last else None
    return report
