"""/admin/activity-logs/export.csv: the browser's current filter as CSV, for a signed-in admin."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from litestar import Request, get
from litestar.di import NamedDependency
from litestar.response import Stream

from activitylog_api.csv_export import export_rows
from activitylog_api.errors import ApiError
from activitylog_api.state import ApiServices
from activitylog_api.ui import browser_query
from activitylog_api.ui.activity import parse_request
from activitylog_api.ui.guard import SESSION


@get(browser_query.EXPORT_PATH, guards=[SESSION], include_in_schema=False)
async def export_csv(
    request: Request[Any, Any, Any], services: NamedDependency[ApiServices]
) -> Stream:
    query = parse_request(request)
    if query.error is not None:
        raise ApiError(400, query.error)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    # Awaited here: the first rows are read before the 200 goes out (an outage is a 503).
    body = await export_rows(
        services.pool,
        query.filter,
        query.ordering,
        budget_ms=services.settings.api_search_budget_ms,
    )
    return Stream(
        body,
        media_type="text/csv",  # Litestar adds the one `; charset=utf-8` itself
        headers={
            "Content-Disposition": f'attachment; filename="activity-logs-{stamp}.csv"',
            "Cache-Control": "no-store",
        },
    )
