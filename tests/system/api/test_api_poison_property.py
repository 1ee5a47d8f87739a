"""Generated bodies through the HTTP API: never a 5xx, and every event answered 2xx is kept."""

from __future__ import annotations

import functools
import uuid

from hypothesis import HealthCheck, given
from hypothesis import settings as examples

from activitylog_ingest.service import run_ingest
from activitylog_testing.polling import wait_for
from activitylog_testing.serving import running
from activitylog_testing.streams import stream_drained
from poison_strategies import bodies

PATH = "/api/internal/log-activity"


@given(body=bodies)
@examples(
    max_examples=80,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
async def test_no_body_gets_a_5xx_and_every_2xx_is_kept(body, api, pool, redis, ingest_key) -> None:
    settings = api.settings
    async with api.client(ingest_key) as http:
        response = await http.post(PATH, content=body, headers={"content-type": "application/json"})
    assert response.status_code < 500, (body[:300], response.status_code, response.text[:500])
    assert response.headers["content-type"].startswith("application/json")
    if response.status_code >= 300:
        assert response.json()["success"] is False
        return
    answer = response.json()
    ids = [uuid.UUID(r["activityId"]) for r in (answer if isinstance(answer, list) else [answer])]

    async with running(functools.partial(run_ingest, settings)):
        await wait_for(
            lambda: stream_drained(redis, settings), timeout=30, message="the stream drained"
        )
    stored = {
        r["id"]
        for r in await pool.fetch("SELECT id FROM lead_activity_log WHERE id = ANY($1)", ids)
    }
    # An event naming a leadId not known yet waits in retry_queue for the lead to arrive.
    waiting = await pool.fetchval(
        "SELECT count(*) FROM retry_queue WHERE status = 'pending' AND payload LIKE ANY($1)",
        [f"%{i}%" for i in ids],
    )
    assert len(stored) + waiting == len(ids), (body[:300], ids, stored)
