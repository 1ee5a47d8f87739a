"""What a request handler reaches through the app: settings, the pool, Redis, the key verifier."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import asyncpg
import redis.asyncio as aioredis
from litestar.datastructures import State
from litestar.types import Scope

from activitylog.runtime.settings import Settings
from activitylog.use_cases.replica_reads import ReadRouting
from activitylog_api.auth import KeyVerifier
from activitylog_api.read_routes import reads_from_replica


@dataclass(slots=True)
class ApiServices:
    """One asyncpg pool and one Redis client per process, opened by the app's lifespan.
    `pool` is the primary's, except in what a read route is given (`provide_services`)."""

    settings: Settings
    pool: asyncpg.Pool
    redis: aioredis.Redis
    key_verifier: KeyVerifier
    reads: ReadRouting


def provide_services(state: State, scope: Scope) -> ApiServices:
    """Dependency `services` for handlers (and the admin UI's pages): a read route's `pool`
    is the replica's while it is fresh (read_routes.py decides which routes)."""
    services: ApiServices = state.services
    if reads_from_replica(scope["method"], scope.get("path_template")):
        pool = services.reads.pool()
        if pool is not services.pool:
            return replace(services, pool=pool)
    return services


def services_from(state: Any) -> ApiServices:
    """The same, for code that holds the app's state but is not a handler."""
    return state.services  # type: ignore[no-any-return]
