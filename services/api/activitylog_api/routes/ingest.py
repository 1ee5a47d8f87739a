"""POST /api/internal/log-activity: validate now, publish to the stream, answer 202 (or,
asked to wait with `Prefer: wait=N` or `?wait=true`, answer once the events are stored)."""

# Redis down → the same storage code the ingest uses writes to PostgreSQL (201); both down →
# 503 with Retry-After so n8n's retry takes over. Ids follow the identity rule
# (docs/CONTRACT.md §3), and the published the resolved `eventId` and `timestamp`, so the stream
# path, the fallback and any retry all land on the same row.
#
# Read your own writes (docs/CONTRACT.md §5): with a wait, the request registers its ids
# with the process's live hub (use_cases.live) before publishing, and the ingest announces
# each stored batch on Redis pub/sub; the answer comes as soon as every id is announced
# stored (201, `queued: false`) or parked in the retry queue, or the wait runs out (202).
# The database is asked directly once a second meanwhile, so a lost announcement costs at
# most that.

from __future__ import annotations

import asyncio
import functools
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from litestar import Request, Response, post
from litestar.datastructures import ResponseHeader
from litestar.di import NamedDependency
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import HeaderParameter, QueryParameter
from redis.exceptions import RedisError

from activitylog.contract.events import ActivityEvent, may_hold_nul
from activitylog.contract.identity import AcceptedEvent
from activitylog.contract.shards import shard_of_event
from activitylog.contract.times import iso
from activitylog.runtime import metrics as shared_metrics
from activitylog.runtime.logs import get_logger
from activitylog.storage import idempotency_keys
from activitylog.storage.idempotency_keys import KeyRecord
from activitylog.storage.stream import REDIS_OUTAGES, publish, publish_sharded
from activitylog.use_cases import live
from activitylog.use_cases.store_batch import store_batch
from activitylog_api import idempotency, metrics
from activitylog_api.auth import WRITE_EVENTS
from activitylog_api.errors import ApiError, BackendUnavailable, outage_message
from activitylog_api.idempotency import Claim
from activitylog_api.ingest_body import (
    MAX_BATCH,
    accept_items,
    check_content_type,
    decode_body,
    seconds_text,
    wait_seconds,
)
from activitylog_api.openapi import (
    EVENT_RULES,
    KEY_ERRORS,
    error_responses,
    param_schema,
    request_body,
)
from activitylog_api.state import ApiServices
from activitylog_api.views import EventAccepted

MAX_BODY_BYTES = 1024 * 1024
MAX_IDEMPOTENCY_KEY_CHARS = 200

log = get_logger("activitylog.api.ingest")


async def _queue(
    services: ApiServices,
    accepted: list[AcceptedEvent],
    claim: Claim | None,
    received_at: datetime,
) -> tuple[bool, KeyRecord | None]:
    """Publish to the stream: (False, None) if Redis did not take them; with a key, the
    key's earlier record instead when it was used before (then nothing is published)."""
    settings = services.settings
    shards = settings.activity_stream_shards
    wait = {
        "wait_replicas": settings.redis_wait_replicas,
        "wait_timeout_ms": settings.redis_wait_timeout_ms,
    }
    try:
        # asyncio.timeout rather than wait_for: no extra task on the hot path.
        async with asyncio.timeout(settings.api_backend_timeout_s):
            payloads = [a.raw for a in accepted]
            if claim is None and shards == 1:
                await publish(services.redis, settings.activity_stream, payloads, **wait)
                return True, None
            if claim is None:
                placed = [(shard_of_event(a.event, shards), a.raw) for a in accepted]
                await publish_sharded(services.redis, settings.stream_keys(), placed, **wait)
                return True, None
            earlier = await idempotency.publish_once(
                services.redis,
                settings.stream_keys(),
                [shard_of_event(a.event, shards) for a in accepted],
                claim,
                claim.record(202, received_at),
                payloads,
                settings.api_idempotency_ttl_s,
                **wait,
            )
            return True, earlier
    except (RedisError, TimeoutError, *REDIS_OUTAGES) as exc:
        # NotReplicated too: an event only on a master that may fail over is not promised;
        # stored here it is (the stream's copy, if it survives, is a harmless duplicate).
        log.warning("stream unavailable; storing directly", error=repr(exc), events=len(accepted))
        return False, None


async def _store_directly(
    services: ApiServices,
    accepted: list[AcceptedEvent],
    claim: Claim | None,
    received_at: datetime,
) -> KeyRecord | None:
    """Store in PostgreSQL; with a key, its earlier record instead when it was used before."""
    settings = services.settings

    async def store() -> KeyRecord | None:
        async with services.pool.acquire() as conn, conn.transaction():
            if claim is not None:
                earlier = await idempotency_keys.claim(
                    conn,
                    claim.key_hash,
                    claim.record(201, received_at),
                    settings.api_idempotency_ttl_s,
                )
                if earlier is not None:
                    return earlier
            result = await store_batch(conn, accepted)
        shared_metrics.EVENTS_STORED.labels("http").inc(len(result.inserted))
        shared_metrics.EVENTS_DUPLICATE.labels("http").inc(len(result.duplicates))
        return None

    try:
        return await asyncio.wait_for(store(), settings.api_backend_timeout_s * 2)
    except Exception as exc:
        if outage_message(exc) is None:
            raise
        log.error("stream and database unavailable", error=repr(exc), events=len(accepted))
        metrics.EVENTS_ACCEPTED.labels("unavailable").inc(len(accepted))
        raise BackendUnavailable(
            "neither the stream nor the database is available; retry later"
        ) from exc


_PREFERENCE_APPLIED = ResponseHeader(
    name="Preference-Applied",
    description="`wait=N` when the request asked to wait (Prefer: wait, ?wait=true): the "
    "seconds it was allowed to wait",
    documentation_only=True,
    required=False,
)


@post(
    "/api/internal/log-activity",
    guards=[WRITE_EVENTS],
    request_max_body_size=MAX_BODY_BYTES,
    status_code=202,
    response_headers=[_PREFERENCE_APPLIED],
    summary="Log one event or an array of up to 1,000 events",
    description=(
        "202 when queued on the stream; 201 when Redis was down and the events were stored "
        "directly; 400 names each invalid field (and a key named twice in one object); 409 "
        "when the Idempotency-Key was used with another body; 413 over 1 MiB; 503 with "
        "Retry-After when "
        "neither Redis nor PostgreSQL is available. "
        "Read your own writes: with `Prefer: wait=N` (RFC 7240; N ≤ 5 seconds) or "
        "`?wait=true` (5 s) the answer comes once the events are stored: 201 with "
        "`queued: false` (readable now), or 202 when the wait ran out or an event waits in "
        "the retry queue for its lead (`queued: true` names each event not stored yet); "
        "both with `Preference-Applied: wait=N`. For UI actions whose result is read back "
        "at once; bulk producers should not wait (docs/CONTRACT.md §5)."
    ),
    tags=["ingest"],
    responses={
        202: ResponseSpec(
            EventAccepted | list[EventAccepted],
            description="Queued on the stream (an array: one result per event, in order); "
            "after a wait (`Preference-Applied`), not every event is stored yet",
            generate_examples=False,
        ),
        201: ResponseSpec(
            EventAccepted | list[EventAccepted],
            description="Stored in PostgreSQL (`queued: false`): the wait asked for saw every "
            "event stored, or Redis was down and the API stored them directly",
            generate_examples=False,
        ),
        **error_responses(*KEY_ERRORS, 409, 413, 415),
    },
    opt=request_body(
        ActivityEvent,
        "One event, or an array of 1–1,000 events (all-or-nothing, each event once); at "
        "most 1 MiB. Field names may also be snake_case.",
        max_items=MAX_BATCH,
        rules=EVENT_RULES,
    ),
)
async def log_activity(
    request: Request[Any, Any, Any],
    services: NamedDependency[ApiServices],
    idempotency_key: Annotated[
        str | None,
        HeaderParameter(
            name="idempotency-key",
            required=False,
            max_length=MAX_IDEMPOTENCY_KEY_CHARS,
            description="Names the request: a retry with the same key and body stores "
            "nothing new and gets the first answer again; the key with another body is a "
            f"409. Remembered for API_IDEMPOTENCY_TTL_S (default 24 h); at most "
            f"{MAX_IDEMPOTENCY_KEY_CHARS} characters.",
            schema_extra=param_schema(type="string"),
        ),
    ] = None,
    prefer: Annotated[
        str | None,
        HeaderParameter(
            name="prefer",
            required=False,
            max_length=1_000,
            description="`wait=N` (RFC 7240): answer once the events are stored, waiting at "
            "most N seconds (capped at 5); other preferences are ignored",
            schema_extra=param_schema(type="string"),
        ),
    ] = None,
    wait: Annotated[
        bool | None,
        QueryParameter(
            description="true: answer once the events are stored, waiting at most 5 s (or "
            "the Prefer header's wait); false: never wait",
        ),
    ] = None,
) -> Response[Any]:
    check_content_type(request)
    try:
        raw = await request.body()
    except RequestEntityTooLarge:
        raise ApiError(
            413, f"the request body is larger than 1 MiB ({MAX_BODY_BYTES} bytes)"
        ) from None
    items, is_array = decode_body(raw)
    received_at = datetime.now(UTC)
    nul_possible = may_hold_nul(raw)
    accepted = accept_items(items, is_array, idempotency_key, received_at, nul_possible)
    claim = Claim.of(idempotency_key, items if is_array else items[0]) if idempotency_key else None
    wait_s = wait_seconds(prefer, wait)
    hub: live.LiveHub | None = getattr(request.app.state, "live", None)
    if wait_s is None or hub is None:
        response, _ = await _log(
            services, items, is_array, accepted, claim, received_at, nul_possible
        )
        return response
    with hub.expecting([a.id for a in accepted]) as waiter:
        # Subscribed before publishing, so no announcement can pass unseen (it normally is
        # already; if Redis is slow to answer, the database checks cover it).
        await hub.wait_ready(min(wait_s, services.settings.api_backend_timeout_s) / 4)
        response, repeated = await _log(
            services, items, is_array, accepted, claim, received_at, nul_possible
        )
        if response.status_code != 201:
            check = functools.partial(_stored_among, services)
            # A repeated request's events may have been stored long ago: ask at once.
            outcome = await waiter.wait(wait_s, check, ask_first=repeated)
            response = _answer(response.content, is_array, outcome.stored)
    response.headers["Preference-Applied"] = f"wait={seconds_text(wait_s)}"
    return response


async def _stored_among(services: ApiServices, ids: list[uuid.UUID]) -> set[uuid.UUID]:
    return await live.stored_among(services.pool, ids, services.settings.api_backend_timeout_s)


def _answer(content: Any, is_array: bool, stored: set[uuid.UUID]) -> Response[Any]:
    """The answer after a wait: each result's `queued` says whether it is stored; 201 when
    every one is, else 202."""
    results = content if is_array else [content]
    for result in results:
        result["queued"] = uuid.UUID(result["activityId"]) not in stored
    status = 202 if any(r["queued"] for r in results) else 201
    return Response(results if is_array else results[0], status_code=status)


async def _log(
    services: ApiServices,
    items: list[Any],
    is_array: bool,
    accepted: list[AcceptedEvent],
    claim: Claim | None,
    received_at: datetime,
    nul_possible: bool,
) -> tuple[Response[Any], bool]:
    """Queue the events (or store them, Redis down) and answer as the contract says; and
    whether the Idempotency-Key was used before (the first answer is repeated)."""
    idempotency_key = claim.key if claim is not None else None
    queued, earlier = await _queue(services, accepted, claim, received_at)
    if not queued:
        earlier = await _store_directly(services, accepted, claim, received_at)
    if claim is not None and earlier is not None:
        # The key was used before: the same body gets the first answer again, as it was
        # (the same ids, times and status); another body is a 409 naming the key.
        first = claim.check(earlier)
        accepted = accept_items(items, is_array, idempotency_key, first.received_at, nul_possible)
        queued = first.status == 202
        metrics.EVENTS_ACCEPTED.labels("repeated").inc(len(accepted))
    else:
        metrics.EVENTS_ACCEPTED.labels("queued" if queued else "stored").inc(len(accepted))
    results = [
        {
            "success": True,
            "activityId": str(a.id),
            "timestamp": iso(a.timestamp),
            "queued": queued,
        }
        for a in accepted
    ]
    response = Response(results if is_array else results[0], status_code=202 if queued else 201)
    return response, earlier is not None
