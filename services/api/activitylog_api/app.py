"""The Litestar application: routes, guards, errors, metrics, OpenAPI and the lifespan."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar, Request, Response, Router, get
from litestar.datastructures import MutableScopeHeaders
from litestar.di import Provide
from litestar.plugins.prometheus import PrometheusController
from litestar.types import ControllerRouterHandler, Message, Scope

from activitylog.runtime.db import API_SERVER_SETTINGS, close_pool, create_pool
from activitylog.runtime.settings import Settings, get_settings
from activitylog.storage.stream import redis_client
from activitylog.use_cases.live import LiveHub
from activitylog.use_cases.replica_reads import ReadRouting
from activitylog_api import event_display
from activitylog_api.auth import KeyVerifier, principal_of
from activitylog_api.errors import EXCEPTION_HANDLERS, ApiError, bad_request
from activitylog_api.live_shutdown import end_streams_on_exit_signal
from activitylog_api.metrics import request_metrics
from activitylog_api.openapi import (
    QUERY_NAMES_OPT,
    complete_document,
    error_responses,
    openapi_config,
)
from activitylog_api.routes.admin_logs import AdminActivityLogs
from activitylog_api.routes.analytics import ANALYTICS_ROUTES
from activitylog_api.routes.asyncapi import ASYNCAPI_ROUTES
from activitylog_api.routes.health import activity_health, live, ready
from activitylog_api.routes.ingest import log_activity
from activitylog_api.routes.leads import put_lead, put_leads
from activitylog_api.routes.live import API_LIVE_ROUTES
from activitylog_api.routes.retry_queue import RetryQueueController
from activitylog_api.routes.timeline import lead_activity, lead_details
from activitylog_api.state import ApiServices, provide_services
from activitylog_api.ui import template_config as ui_template_config
from activitylog_api.ui import ui_route_handlers
from activitylog_api.ui.live_pages import UI_LIVE_ROUTES


class MetricsController(PrometheusController):
    """Litestar's Prometheus endpoint, documented as the text format it serves."""

    @get(
        media_type="text/plain",
        summary="Prometheus metrics (text exposition format)",
        tags=["health"],
        responses=error_responses(400),
    )
    async def get(self) -> Response[bytes]:
        return await PrometheusController.get.fn(self)  # type: ignore[no-any-return]


# Every route the app serves. Another area adds its routes here, one line each.
ROUTE_HANDLERS: list[ControllerRouterHandler] = [
    log_activity,
    lead_activity,
    lead_details,
    AdminActivityLogs,
    RetryQueueController,
    ANALYTICS_ROUTES,
    put_lead,
    put_leads,
    activity_health,
    live,
    ready,
    MetricsController,
    *ASYNCAPI_ROUTES,
    *API_LIVE_ROUTES,
]


@asynccontextmanager
async def _lifespan(app: Litestar) -> AsyncIterator[None]:
    """One pool and one Redis client per process; connections open lazily (an outage at
    start is then just a failing request, and the other backend keeps working)."""
    settings: Settings = app.state.settings
    database_url, redis_url = settings.servers()
    pool = await create_pool(
        database_url,
        min_size=0,
        max_size=settings.database_pool_max,
        connect_timeout_s=settings.api_db_connect_timeout_s,
        statement_timeout_s=settings.api_db_statement_timeout_s,
        acquire_timeout_s=settings.api_db_acquire_timeout_s,
        server_settings=API_SERVER_SETTINGS,
    )
    redis = redis_client(redis_url, socket_timeout=settings.api_backend_timeout_s)
    verifier = KeyVerifier(
        pool,
        ttl_s=settings.api_key_cache_s,
        timeout_s=settings.api_backend_timeout_s,
        redis=redis,
        stream=settings.activity_stream,
        offline_s=settings.api_key_offline_s,
    )
    app.state.key_verifier = verifier
    # The read routes' replica (DATABASE_READ_URL), checked in the background; none: primary.
    reads = ReadRouting(pool, settings)
    await reads.start()
    app.state.services = ApiServices(settings, pool, redis, verifier, reads)
    # What the ingest stores, told at once: read-your-writes waits and live streams
    # (routes/ingest.py, routes/live.py). Its own connection: a subscription blocks.
    live = LiveHub(redis_client(redis_url, socket_timeout=None), settings.activity_stream)
    live.start()
    app.state.live = live
    undo_signals = end_streams_on_exit_signal(live)
    # What exists now (the app, its routes and schemas) lives as long as the process: keep
    # it out of the collector's full passes, which otherwise stall requests for tens of ms.
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        undo_signals()
        await live.close()
        await verifier.close()
        await reads.close()
        await redis.aclose()
        await close_pool(pool)


async def _check_query(request: Request[Any, Any, Any]) -> None:
    """PostgreSQL text cannot hold NUL: refuse it in any query or path parameter up front.
    A JSON route refuses a query parameter it does not document, naming it, rather than
    ignore it (a misspelt filter would otherwise read everything)."""
    for name, value in request.query_params.multi_items():
        if "\x00" in name or "\x00" in value:
            raise bad_request(name.replace("\x00", "\\u0000"), "may not contain NUL characters")
    for name, value in request.path_params.items():
        if isinstance(value, str) and "\x00" in value:
            raise bad_request(name, "may not contain NUL characters")
    known = request.route_handler.opt.get(QUERY_NAMES_OPT)
    if known is None:
        return
    unknown = sorted({name for name in request.query_params if name not in known})
    if unknown:
        errors = [{"field": n, "message": "is not a parameter of this route"} for n in unknown]
        valid = ", ".join(sorted(known)) or "none"
        raise ApiError(
            400,
            f"unknown query parameter {', '.join(unknown)}; this route takes: {valid}",
            errors=errors,
        )


async def _secure_headers(message: Message, scope: Scope) -> None:
    """Every response: `X-Content-Type-Options: nosniff`; a JSON one also `Cache-Control:
    no-store` unless it says otherwise (answers hold lead data; no cache may keep them)."""
    if message["type"] != "http.response.start":
        return
    headers = MutableScopeHeaders.from_message(message)
    if "x-content-type-options" not in headers:
        headers["x-content-type-options"] = "nosniff"
    media_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    is_json = media_type == "application/json" or media_type.endswith("+json")
    if is_json and "cache-control" not in headers:
        headers["cache-control"] = "no-store"


def _with_live_pages(handlers: list[ControllerRouterHandler]) -> list[ControllerRouterHandler]:
    """The UI's routers, the admin pages' one (the router with the session and CSRF
    middleware) also serving the live pages (ui/live_pages.py)."""
    pages = next(h for h in handlers if isinstance(h, Router) and h.middleware)
    for handler in UI_LIVE_ROUTES:
        pages.register(handler)
    return handlers


def create_app(settings: Settings) -> Litestar:
    """The API for `settings`; PostgreSQL and Redis are reached in its lifespan."""
    app = Litestar(
        route_handlers=[*ROUTE_HANDLERS, *_with_live_pages(ui_route_handlers(settings))],
        # The UI's templates, with the helpers for per-type details, threads, open cohorts.
        template_config=event_display.install(ui_template_config()),
        lifespan=[_lifespan],
        dependencies={
            "services": Provide(provide_services, sync_to_thread=False),
            "principal": Provide(principal_of, sync_to_thread=False),
        },
        before_request=_check_query,
        before_send=[_secure_headers],
        exception_handlers=EXCEPTION_HANDLERS,
        middleware=[request_metrics],
        openapi_config=openapi_config(),
        logging_config=None,
        debug=False,
    )
    app.state.settings = settings
    complete_document(app)
    return app


def app_from_environment() -> Litestar:
    """`create_app` for the settings in the environment (uvicorn's factory in worker processes)."""
    return create_app(get_settings())
