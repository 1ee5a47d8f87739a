"""Read routes on a real streaming replica: served there, fresh, and on the primary when it
lags or stops (issue 27: "the read routes answer from the replica, and fall back when it stops")."""

from __future__ import annotations

import time
import uuid
from typing import Any

import asyncpg
import httpx

from activitylog.runtime.settings import Settings
from activitylog.storage import api_keys
from activitylog.use_cases.access.keys import Role, generate_key, hash_key, key_prefix
from activitylog.use_cases.replica_reads import READS_APPLICATION_NAME
from activitylog_testing.pg_replica import PgPair
from activitylog_testing.polling import wait_for
from activitylog_testing.serving import serving_api

# Every read route of the table the test can reach with a key, one of each kind.
READS = (
    "/api/leads/{ref}",
    "/api/leads/{ref}/activity",
    "/api/admin/activity-logs?limit=5",
    "/api/admin/activity-logs/counts",
    "/api/admin/activity-logs/export.csv",
    "/api/analytics/funnel",
)


async def _admin_key(settings: Settings) -> str:
    key = generate_key()
    conn = await asyncpg.connect(settings.database_url)
    try:
        await api_keys.create(
            conn,
            name="replica-test",
            role=str(Role.ADMIN),
            client_id=None,
            key_hash=hash_key(key),
            key_prefix=key_prefix(key),
        )
    finally:
        await conn.close()
    return key


async def _sql(url: str, query: str) -> Any:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetch(query)
    finally:
        await conn.close()


async def _replica(http: httpx.AsyncClient) -> dict[str, Any]:
    response = await http.get("/health/ready")
    assert response.status_code == 200, response.text
    report: dict[str, Any] = response.json()["read_replica"]
    return report


async def _reads_on(http: httpx.AsyncClient, where: str) -> dict[str, Any] | None:
    report = await _replica(http)
    return report if report["reads_on"] == where else None


async def _put_lead(http: httpx.AsyncClient, ref: str) -> None:
    response = await http.put(f"/api/internal/leads/{ref}", json={"firstName": "Ada"})
    assert response.status_code in (200, 201), response.text


def _ref() -> str:
    return f"recReplica{uuid.uuid4().hex[:8]}"


async def test_reads_answer_from_the_replica_and_see_the_primarys_writes(
    replica_settings: Settings,
) -> None:
    # A generous limit: the replica keeps the reads while its replay is paused below.
    settings = replica_settings.model_copy(update={"database_read_max_lag_s": 60.0})
    key = await _admin_key(settings)
    async with serving_api(settings) as api, api.client(key) as http:
        await wait_for(lambda: _reads_on(http, "replica"), timeout=30, message="reads on replica")
        ref = _ref()
        await _put_lead(http, ref)
        # Written on the primary, then read back once the replica has replayed it.
        await wait_for(
            lambda: _ok(http, f"/api/leads/{ref}"), timeout=30, message="the lead on the replica"
        )
        for path in READS:
            response = await http.get(path.format(ref=ref))
            assert response.status_code == 200, (path, response.text)

        # Proof that the answers come from the replica: with its replay paused, a lead
        # written on the primary is not found by the read routes, until replay resumes.
        await _sql(settings.database_read_url or "", "SELECT pg_wal_replay_pause()")
        hidden = _ref()
        await _put_lead(http, hidden)
        assert (await http.get(f"/api/leads/{hidden}")).status_code == 404
        assert (await _replica(http))["reads_on"] == "replica"
        await _sql(settings.database_read_url or "", "SELECT pg_wal_replay_resume()")
        await wait_for(lambda: _ok(http, f"/api/leads/{hidden}"), timeout=30, message="replayed")

        # The read pool's sessions are on the server in recovery, and only there.
        named = f"SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = '{READS_APPLICATION_NAME}'"  # noqa: E501
        assert (await _sql(settings.database_read_url or "", named))[0]["n"] >= 1
        assert (await _sql(settings.database_url or "", named))[0]["n"] == 0
        # Writes, sign-in and the retry queue stay on the primary.
        assert (await http.get("/api/admin/retry-queue")).status_code == 200
        report = await _replica(http)
        assert report["state"] == "replica"
        assert report["lag_s"] is not None
        assert report["lag_s"] <= 60.0


async def _ok(http: httpx.AsyncClient, path: str) -> bool:
    return (await http.get(path)).status_code == 200


async def test_reads_move_to_the_primary_while_the_replica_lags(
    replica_settings: Settings,
) -> None:
    settings = replica_settings
    key = await _admin_key(settings)
    async with serving_api(settings) as api, api.client(key) as http:
        await wait_for(lambda: _reads_on(http, "replica"), timeout=30, message="reads on replica")
        await _sql(settings.database_read_url or "", "SELECT pg_wal_replay_pause()")
        ref = _ref()
        await _put_lead(http, ref)
        report = await wait_for(
            lambda: _reads_on(http, "primary"), timeout=30, message="reads back on the primary"
        )
        assert report["state"] == "primary (replica lagging)"
        assert report["replay_paused"] is True
        assert report["lag_s"] is None or report["lag_s"] > 1.0
        # The replica has not replayed the lead: found, so read on the primary.
        for path in READS:
            response = await http.get(path.format(ref=ref))
            assert response.status_code == 200, (path, response.text)

        await _sql(settings.database_read_url or "", "SELECT pg_wal_replay_resume()")
        await wait_for(lambda: _reads_on(http, "replica"), timeout=30, message="replica again")


async def test_reads_fall_back_when_the_replica_stops_and_return_when_it_is_back(
    replica_settings: Settings, pg_pair: PgPair
) -> None:
    settings = replica_settings
    key = await _admin_key(settings)
    async with serving_api(settings) as api, api.client(key) as http:
        await wait_for(lambda: _reads_on(http, "replica"), timeout=30, message="reads on replica")
        ref = _ref()
        await _put_lead(http, ref)
        await wait_for(lambda: _ok(http, f"/api/leads/{ref}"), timeout=30, message="replicated")

        pg_pair.stop_replica("immediate")
        statuses: list[int] = []
        deadline = time.monotonic() + 3.0  # well past a check (0.2 s) and a connect timeout
        while time.monotonic() < deadline:
            for path in READS:
                statuses.append((await http.get(path.format(ref=ref))).status_code)
        # A read that held a replica connection when the server died may be answered 503
        # (with Retry-After); never a 500, and the reads after it all succeed.
        assert 500 not in statuses
        assert set(statuses) <= {200, 503}
        assert statuses[-len(READS) * 3 :] == [200] * (len(READS) * 3), statuses
        report = await _replica(http)  # still ready: the primary serves
        assert report["state"] == "primary (replica unreachable)"

        pg_pair.start_replica()
        await wait_for(lambda: _reads_on(http, "replica"), timeout=60, message="replica back")
        assert await _ok(http, f"/api/leads/{ref}")
