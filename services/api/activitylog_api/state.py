"""What a request handler reaches through the app: settings, the pool, Redis, the key verifier."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg
import redis.asyncio as aioredis
from litestar.datastructures import State

from activitylog.runtime.settings import Settings
from activitylog_api.auth import KeyVerifier


@dataclass(slots=True)
class ApiServices:
    """One asyncpg pool and one Redis client per process, opened by the app's lifespan."""

    settings: Settings
    pool: asyncpg.Pool
    redis: aioredis.Redis
    key_verifier: KeyVerifier


def provide_services(state: State) -> ApiServices:
    """Dependency `services` for handlers (and the admin UI's pages)."""
    services: ApiServices = state.services
    return services


def services_from(state: Any) -> ApiServices:
    """The same, for code that holds the app's state but is not a handler."""
    return state.services  # type: ignore[no-any-return]
