"""The API's Prometheus metrics: requests by route and status, their latency, events accepted."""

# A small ASGI middleware rather than Litestar's Prometheus plugin: that one builds a request
# object and four label sets per request, a tenth of the ingest endpoint's whole cost.

from __future__ import annotations

import time
from typing import Any

from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import Counter, Histogram

_LABELS = ["method", "path", "status_code"]

REQUESTS = Counter("activitylog_api_requests", "HTTP requests by method, route and status", _LABELS)
REQUEST_SECONDS = Histogram(
    "activitylog_api_request_duration_seconds",
    "Time to answer an HTTP request, by method, route and status",
    _LABELS,
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
EVENTS_ACCEPTED = Counter(
    "activitylog_api_events_accepted",
    "Events accepted by POST /api/internal/log-activity, by outcome (queued, stored, "
    "repeated: an Idempotency-Key seen before, unavailable)",
    ["outcome"],
)

_children: dict[tuple[str, str, str], tuple[Any, Any]] = {}


def request_metrics(app: ASGIApp) -> ASGIApp:
    """Litestar middleware factory: count and time every routed HTTP request."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await app(scope, receive, send_wrapper)
        finally:
            # Labelled by route template (/api/leads/{id}/activity), not each concrete path.
            route = scope.get("path_template") or "unmatched"
            key = (scope["method"], route, str(status))
            children = _children.get(key)
            if children is None:
                children = _children[key] = (REQUESTS.labels(*key), REQUEST_SECONDS.labels(*key))
            children[0].inc()
            children[1].observe(time.perf_counter() - started)

    return middleware
