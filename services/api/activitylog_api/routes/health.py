"""Health: the activity-health figures, liveness, readiness. None of them needs a key."""

from __future__ import annotations

import asyncio
from typing import Any

from litestar import Response, get
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec

from activitylog.use_cases.health import UNHEALTHY, health_report
from activitylog_api.openapi import error_responses
from activitylog_api.state import ApiServices
from activitylog_api.views import HealthReport, Liveness, Readiness


@get(
    "/api/internal/activity-health",
    summary="System health figures (no lead data); 503 when unhealthy",
    tags=["health"],
    responses={
        503: ResponseSpec(HealthReport, description="Unhealthy", generate_examples=False),
        **error_responses(400),
    },
)
async def activity_health(services: NamedDependency[ApiServices]) -> Response[HealthReport]:
    body = await health_report(services.pool, services.redis, services.settings)
    if body["status"] == UNHEALTHY:
        return Response(body, status_code=503, headers=_retry_after(services))
    return Response(body, status_code=200)


@get("/health/live", summary="The process is up", tags=["health"], responses=error_responses(400))
async def live() -> Liveness:
    return {"status": "ok"}


async def _check(probe: Any, limit_s: float) -> str:
    try:
        await asyncio.wait_for(probe, limit_s)
    except Exception as exc:  # any failure means "not ready"; the body says which
        return f"unavailable: {type(exc).__name__}"
    return "ok"


@get(
    "/health/ready",
    summary="PostgreSQL and Redis answer (and where reads go); 503 otherwise",
    tags=["health"],
    responses={
        503: ResponseSpec(Readiness, description="Not ready", generate_examples=False),
        **error_responses(400),
    },
)
async def ready(services: NamedDependency[ApiServices]) -> Response[Readiness]:
    timeout = services.settings.api_backend_timeout_s
    postgres, redis = await asyncio.gather(
        _check(services.pool.fetchval("SELECT 1"), timeout),
        _check(services.redis.ping(), timeout),
    )
    ok = postgres == "ok" and redis == "ok"
    body: dict[str, Any] = {
        "status": "ready" if ok else "not ready",
        "postgres": postgres,
        "redis": redis,
    }
    if services.reads.configured:
        body["read_replica"] = services.reads.report()
    if not ok:
        return Response(body, status_code=503, headers=_retry_after(services))
    return Response(body, status_code=200)


def _retry_after(services: ApiServices) -> dict[str, str]:
    """Every 503 says when to ask again (API_RETRY_AFTER_S)."""
    return {"Retry-After": str(services.settings.api_retry_after_s)}
