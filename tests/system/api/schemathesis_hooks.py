"""Schemathesis hooks (SCHEMATHESIS_HOOKS) for tests/system/api/test_api_schemathesis.py.

OpenAPI cannot say that one parameter limits another, nor which opaque text is a cursor.
The document states these rules in its descriptions; here schema-valid ("positive") cases
are made to follow them, so positive_data_acceptance still holds every other case to the
document. A positive case's cursor is one the API itself gave for that case's query
(SCHEMATHESIS_API_URL and SCHEMATHESIS_API_KEY), so paging is exercised, not left out.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

import httpx
import schemathesis

from activitylog.contract import tracking_plan
from activitylog.contract.events import InvalidEvent, parse_event
from activitylog.contract.identity import AcceptedEvent
from activitylog.domain.reads import params
from activitylog.domain.reads.query import BadQuery
from activitylog_api.routes.admin_logs import MAX_OFFSET


def _positive(case: Any) -> bool:
    return case.meta is not None and case.meta.generation.mode.is_positive


def _follow_query_rules(case: Any) -> None:
    query = case.query
    # A cursor is opaque: only a previous page's nextCursor is one.
    if "cursor" in query:
        cursor = _next_cursor(case)
        if cursor:
            query["cursor"] = cursor
            query.pop("page", None)  # a cursor is instead of a page
            if used := os.environ.get("SCHEMATHESIS_CURSOR_LOG"):
                with open(used, "a") as log:  # the test checks paging was exercised
                    log.write(f"{case.operation.path}\n")
        else:
            query.pop("cursor")
    date_from, date_to = query.get("dateFrom"), query.get("dateTo")
    if isinstance(date_from, str) and isinstance(date_to, str):
        try:
            params.time_range(date_from, date_to)
        except BadQuery:  # dateTo before dateFrom
            del query["dateTo"]
    page, limit = _number(query.get("page")), _number(query.get("limit", 50))
    if page is not None and limit is not None and page * limit > MAX_OFFSET:
        query["page"] = max(MAX_OFFSET // limit, 1)


def _next_cursor(case: Any) -> str | None:
    """The nextCursor the API answers to this case's own query, one row a page."""
    base, key = os.environ.get("SCHEMATHESIS_API_URL"), os.environ.get("SCHEMATHESIS_API_KEY")
    if not base or not key:
        return None
    query = {k: v for k, v in case.query.items() if k not in {"cursor", "page"}}
    try:
        answer = httpx.get(
            base + case.formatted_path,
            params={**query, "limit": 1},
            headers={"x-api-key": key},
            timeout=30,
        )
    except httpx.HTTPError:
        return None
    if answer.status_code != 200:
        return None
    return _find_next(answer.json())


def _find_next(body: Any) -> str | None:
    if isinstance(body, dict):
        if isinstance(body.get("nextCursor"), str):
            return str(body["nextCursor"])
        return next((c for v in body.values() if (c := _find_next(v))), None)
    return None


def _number(value: Any) -> int | None:
    """A generated integer parameter (the coverage phase gives some as text)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


# Each tracking-plan key's spellings (`messageId`, `message_id`, …), over every type.
_SPELLINGS = {key.name: key.spellings for keys in tracking_plan.PLAN.values() for key in keys}


def _one_spelling(event: Any) -> None:
    """Two spellings of one metadata key must agree (a schema cannot compare two values):
    a positive case keeps the first spelling it names."""
    metadata = event.get("metadata") if isinstance(event, dict) else None
    if not isinstance(metadata, dict):
        return
    for spellings in _SPELLINGS.values():
        named = [s for s in spellings if s in metadata]
        for extra in named[1:]:
            del metadata[extra]


def _one_of_each(events: list[Any], key: str | None) -> list[Any]:
    """The array without a second copy of one event (same id): refused as a repeat."""
    seen: set[object] = set()
    kept = []
    for index, item in enumerate(events):
        try:
            event = parse_event(item)
        except InvalidEvent:
            kept.append(item)
            continue
        accepted = AcceptedEvent.accept(
            event,
            received_at=datetime.now(UTC),
            origin="",
            raw="",
            idempotency_key=f"{key}:{index}" if key else None,
        )
        if accepted.id not in seen:
            seen.add(accepted.id)
            kept.append(item)
    return kept


@schemathesis.hook
def map_case(context: Any, case: Any) -> Any:
    if not _positive(case):
        return case
    if case.query:
        _follow_query_rules(case)
    path = case.operation.path
    body = case.body
    # The body may repeat the lead's record id, but only the one in the path.
    lead_path = path == "/api/internal/leads/{airtable_id}"
    if lead_path and isinstance(body, dict) and body.get("airtableId") is not None:
        body["airtableId"] = case.path_parameters["airtable_id"]
    if path == "/api/internal/log-activity":
        for event in case.body if isinstance(case.body, list) else [case.body]:
            _one_spelling(event)
        if isinstance(case.body, list):
            case.body = _one_of_each(case.body, (case.headers or {}).get("idempotency-key"))
    return case


@schemathesis.deserializer("text/csv")
def csv_text(context: Any, response: Any) -> str:
    """The export is documented as a string: UTF-8 text."""
    return response.content.decode("utf-8")
