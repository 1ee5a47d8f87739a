"""/admin/reconcile: SMS_Audit (an uploaded export or the portal's table) against the log.

The form posts multipart with its CSRF token; the answer is the per-day table with the
gaps highlighted, or the form again with a 400 naming the field at fault.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from itertools import islice
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from litestar import Request, get, post
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency
from litestar.response import Template
from litestar.status_codes import HTTP_200_OK, HTTP_400_BAD_REQUEST

from activitylog.domain.sms_audit.reconcile import Period, Report
from activitylog.domain.sms_audit.rows import AuditRow, SourceFormatError, read_csv
from activitylog.use_cases.backfill.reconcile_run import reconcile
from activitylog.use_cases.backfill.sources import portal_chunks
from activitylog_api.state import ApiServices
from activitylog_api.ui.guard import SESSION, page_context

PATH = "/admin/reconcile"
MAX_UPLOAD_BYTES = 256 * 1024 * 1024  # a whole SMS_Audit export of several years
MAX_DAYS = 366
LISTED = 200  # unmatched messages shown per side; the CLI's --csv lists them all
_CHUNK = 5_000


@dataclass(slots=True)
class FormValues:
    source: str = "upload"
    date_from: str = ""
    date_to: str = ""
    tz: str = "UTC"


def _template(
    request: Request[Any, Any, Any],
    services: ApiServices,
    values: FormValues,
    *,
    errors: dict[str, str] | None = None,
    report: Report | None = None,
    unreadable: int = 0,
    status_code: int = HTTP_200_OK,
) -> Template:
    context = page_context(
        request,
        "reconcile",
        values=values,
        errors=errors or {},
        portal=bool(services.settings.portal_database_url),
        report=report,
        totals=report.totals() if report else None,
        unreadable=unreadable,
        listed=LISTED,
    )
    return Template(
        template_name="reconcile.html",
        context=context,
        status_code=status_code,
        headers={"Cache-Control": "no-store"},
    )


@get(PATH, guards=[SESSION], include_in_schema=False)
async def reconcile_page(
    request: Request[Any, Any, Any], services: NamedDependency[ApiServices]
) -> Template:
    today = datetime.now(UTC).date()
    values = FormValues(
        date_from=(today - timedelta(days=7)).isoformat(), date_to=today.isoformat()
    )
    return _template(request, services, values)


def _day(text: str) -> date | None:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        return None


async def _rows_of(text: str) -> AsyncIterator[list[AuditRow]]:
    """The upload's rows, parsed in a thread so a large export does not hold up other pages."""
    rows = read_csv(io.StringIO(text, newline=""))
    while chunk := await asyncio.to_thread(lambda: list(islice(rows, _CHUNK))):
        yield chunk


@post(
    PATH,
    guards=[SESSION],
    include_in_schema=False,
    request_max_body_size=MAX_UPLOAD_BYTES,
    status_code=HTTP_200_OK,
)
async def reconcile_submit(
    request: Request[Any, Any, Any], services: NamedDependency[ApiServices]
) -> Template:
    form = await request.form()
    values = FormValues(
        source=str(form.get("source") or "upload"),
        date_from=str(form.get("date_from") or ""),
        date_to=str(form.get("date_to") or ""),
        tz=str(form.get("tz") or "UTC").strip(),
    )
    errors: dict[str, str] = {}
    tz = ZoneInfo("UTC")
    first, last = _day(values.date_from), _day(values.date_to)
    if first is None:
        errors["date_from"] = "From: a date like 2025-09-17 is required."
    if last is None:
        errors["date_to"] = "To: a date like 2025-09-17 is required."
    if first and last and last < first:
        errors["date_to"] = "To: the last day comes before the first."
    elif first and last and (last - first).days >= MAX_DAYS:
        errors["date_to"] = f"To: at most {MAX_DAYS} days at a time."
    try:
        tz = ZoneInfo(values.tz)
    except (ZoneInfoNotFoundError, ValueError):
        errors["tz"] = f"Time zone: {values.tz!r} is not a zone name (UTC, America/New_York)."
    upload = form.get("file")
    portal_url = services.settings.portal_database_url
    text = ""
    if values.source == "portal":
        if not portal_url:
            errors["source"] = "Source: no portal database is configured (PORTAL_DATABASE_URL)."
    elif not isinstance(upload, UploadFile) or not upload.filename:
        errors["file"] = "File: choose an SMS_Audit CSV export to upload."
    else:
        try:
            text = (await upload.read()).decode("utf-8-sig")
        except UnicodeDecodeError:
            errors["file"] = "File: not UTF-8 text; export the table as CSV from Airtable."
    if errors:
        return _template(request, services, values, errors=errors, status_code=HTTP_400_BAD_REQUEST)
    assert first is not None
    assert last is not None
    period = Period(first, last, tz)
    chunks = (
        portal_chunks(portal_url or "", _CHUNK) if values.source == "portal" else _rows_of(text)
    )
    try:
        async with services.pool.acquire() as conn:
            report, unreadable = await reconcile(conn, chunks, period)
    except SourceFormatError as exc:
        errors["file"] = f"File: {exc}"
        return _template(request, services, values, errors=errors, status_code=HTTP_400_BAD_REQUEST)
    return _template(request, services, values, report=report, unreadable=unreadable)
