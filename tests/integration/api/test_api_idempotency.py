"""Idempotency-Key over real HTTP: the same body gets the first answer again (on the stream
path and when Redis is down), another body is a 409 naming the key."""

from __future__ import annotations

import asyncio
import uuid

import orjson
from hypothesis import HealthCheck, given
from hypothesis import settings as examples
from hypothesis import strategies as st

from activitylog.contract.shards import shard_of_payload
from activitylog_testing.ports import free_port
from support import event

PATH = "/api/internal/log-activity"


def _key() -> str:
    return f"key-{uuid.uuid4()}"


async def _entries(redis, settings) -> int:
    return int(await redis.xlen(settings.activity_stream))


async def test_the_same_body_again_gets_the_first_answer(api, redis, ingest_key) -> None:
    # No timestamp: the event's time is the time it was received, which differs on a retry.
    single = event(1, timestamp=None, executionId=None)
    key = _key()
    async with api.client(ingest_key) as http:
        first = await http.post(PATH, json=single, headers={"Idempotency-Key": key})
        # The same JSON written otherwise (keys in another order) is the same body.
        reordered = dict(reversed(list(single.items())))
        again = await http.post(
            PATH,
            content=orjson.dumps(reordered, option=orjson.OPT_INDENT_2),
            headers={"Idempotency-Key": key, "content-type": "application/json"},
        )
    assert first.status_code == 202, first.text
    assert again.status_code == 202, again.text
    assert again.json() == first.json()
    # Published once: the retry added no stream entry.
    assert await _entries(redis, api.settings) == 1


async def test_another_body_with_the_key_is_a_409_naming_it(api, redis, ingest_key) -> None:
    single = event(1, timestamp=None, executionId=None)
    key = _key()
    async with api.client(ingest_key) as http:
        first = await http.post(PATH, json=single, headers={"Idempotency-Key": key})
        changed = dict(single, description="a retry with another description")
        second = await http.post(PATH, json=changed, headers={"Idempotency-Key": key})
        batch = await http.post(PATH, json=[single, single], headers={"Idempotency-Key": key})
        other = await http.post(PATH, json=changed, headers={"Idempotency-Key": _key()})
    assert first.status_code == 202
    for refused in (second, batch):
        assert refused.status_code == 409, refused.text
        body = refused.json()
        assert body["success"] is False
        assert key in body["error"]
        assert body["errors"][0]["field"] == "Idempotency-Key"
    assert other.status_code == 202
    assert other.json()["activityId"] != first.json()["activityId"]
    assert await _entries(redis, api.settings) == 2  # the first and `other`


async def test_an_array_with_its_key_is_answered_once(api, redis, ingest_key) -> None:
    items = [event(n, timestamp=None, executionId=None) for n in range(3)]
    key = _key()
    async with api.client(ingest_key) as http:
        first = await http.post(PATH, json=items, headers={"Idempotency-Key": key})
        again = await http.post(PATH, json=items, headers={"Idempotency-Key": key})
        fewer = await http.post(PATH, json=items[:2], headers={"Idempotency-Key": key})
    assert first.status_code == 202
    assert again.json() == first.json()
    assert fewer.status_code == 409
    assert await _entries(redis, api.settings) == 3


async def test_concurrent_retries_publish_once(api, redis, ingest_key) -> None:
    single = event(1, timestamp=None, executionId=None)
    key = _key()
    async with api.client(ingest_key) as http:
        answers = await asyncio.gather(
            *(http.post(PATH, json=single, headers={"Idempotency-Key": key}) for _ in range(8))
        )
    assert {a.status_code for a in answers} == {202}
    assert len({a.content for a in answers}) == 1
    assert await _entries(redis, api.settings) == 1


async def test_redis_down_the_key_is_kept_in_postgresql(api_settings, serve, pool, ingest_key):
    closed = api_settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{free_port()}/0"})
    single = event(1, timestamp=None, executionId=None)
    key = _key()
    async with serve(closed) as api, api.client(ingest_key) as http:
        first = await http.post(PATH, json=single, headers={"Idempotency-Key": key})
        again = await http.post(PATH, json=single, headers={"Idempotency-Key": key})
        changed = await http.post(
            PATH, json=dict(single, description="changed"), headers={"Idempotency-Key": key}
        )
    assert first.status_code == 201, first.text
    assert again.status_code == 201
    assert again.json() == first.json()
    assert changed.status_code == 409
    assert key in changed.json()["error"]
    rows = await pool.fetch("SELECT id, timestamp FROM lead_activity_log")
    assert [str(r["id"]) for r in rows] == [first.json()["activityId"]]


_texts = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1
).filter(str.strip)


@given(description=_texts, other=_texts)
@examples(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
async def test_any_other_body_is_refused_and_the_same_one_repeated(
    description, other, api, ingest_key
) -> None:
    first_body = event(1, description=description[:2000], timestamp=None)
    second_body = event(1, description=other[:2000], timestamp=None)
    key = _key()
    async with api.client(ingest_key) as http:
        first = await http.post(PATH, json=first_body, headers={"Idempotency-Key": key})
        second = await http.post(PATH, json=second_body, headers={"Idempotency-Key": key})
    if first.status_code != 202:
        assert first.status_code == 400  # not an event (e.g. blank after trimming)
        return
    if second_body == first_body:
        assert second.json() == first.json()
    else:
        assert second.status_code in (400, 409), second.text


async def test_another_body_on_another_shard_is_a_409_too(
    api_settings, serve, redis, ingest_key
) -> None:
    sharded = api_settings.model_copy(update={"activity_stream_shards": 4})
    first_body = event(1, timestamp=None, executionId=None)
    # Another lead whose events go to another shard than the first's.
    other_body = next(
        body
        for n in range(2, 50)
        if shard_of_payload(body := event(n, timestamp=None, executionId=None), 4)
        != shard_of_payload(first_body, 4)
    )
    key = _key()
    async with serve(sharded) as api, api.client(ingest_key) as http:
        first = await http.post(PATH, json=first_body, headers={"Idempotency-Key": key})
        other = await http.post(PATH, json=other_body, headers={"Idempotency-Key": key})
        again = await http.post(PATH, json=first_body, headers={"Idempotency-Key": key})
    assert first.status_code == 202, first.text
    assert other.status_code == 409, other.text
    assert other.json()["errors"][0]["field"] == "Idempotency-Key"
    assert again.json() == first.json()
    lengths = [await redis.xlen(k) for k in sharded.stream_keys()]
    assert sum(lengths) == 1  # only the first body was published
