"""A JSON object that names a key twice: refused by the strict decoder, a 400 naming the key
on the API, a dead letter with the reason on the stream."""

from __future__ import annotations

import functools
import json

import orjson
import pytest
import redis as redis_sync
from hypothesis import given
from hypothesis import strategies as st

from activitylog.contract import json_text
from activitylog_ingest.service import run_ingest
from activitylog_testing.polling import wait_for
from activitylog_testing.serving import running
from support import event

PATH = "/api/internal/log-activity"

# JSON values whose object keys are unique (dict keys), with strings that may hold `":`.
_keys = st.text(max_size=8)
_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.sampled_from('ab":\\ {}[],\n'), max_size=12)
)
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_keys, inner, max_size=4),
    max_leaves=20,
)
_spacing = st.sampled_from([None, 2])


def _text(value, indent) -> bytes:
    return json.dumps(value, indent=indent, ensure_ascii=False).encode()


@given(value=_values, indent=_spacing)
def test_text_without_repeated_keys_reads_as_orjson_reads_it(value, indent) -> None:
    raw = _text(value, indent)
    assert json_text.loads(raw) == orjson.loads(raw)
    assert json_text.loads(raw.decode()) == orjson.loads(raw)


def _objects_in(value, path=""):
    """Every object in a value with its path, as DuplicateKey names it."""
    if isinstance(value, dict):
        yield value, path
        for key, child in value.items():
            yield from _objects_in(child, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _objects_in(child, f"{path}[{index}]")


@given(value=_values, data=st.data(), indent=_spacing)
def test_a_key_written_twice_anywhere_is_named_with_its_place(value, data, indent) -> None:
    objects = [(o, p) for o, p in _objects_in(value) if o]
    if not objects:
        value = {"only": value}
        objects = [(value, "")]
    target, path = data.draw(st.sampled_from(objects))
    key = data.draw(st.sampled_from(sorted(target)))
    # Written a second time, as the object's last member, with another value.
    marker = "\x01repeat\x01"
    target[marker] = None
    raw = _text(value, indent).replace(
        json.dumps(marker).encode(), json.dumps(key, ensure_ascii=False).encode(), 1
    )
    with pytest.raises(json_text.DuplicateKey) as caught:
        json_text.loads(raw)
    assert caught.value.key == key
    # The first repeat in document order: this one, unless `value` held one already (no).
    assert caught.value.path == (f"{path}.{key}" if path else key)


def test_keys_equal_once_unescaped_are_the_same_key() -> None:
    with pytest.raises(json_text.DuplicateKey) as caught:
        json_text.loads(b'{"eventType": "MESSAGE_SENT", "event\\u0054ype": "OPT_OUT"}')
    assert caught.value.key == "eventType"
    assert caught.value.path == "eventType"


def _with_duplicate(body: dict, where: str) -> bytes:
    """The event as JSON with `where` (a top-level key or `metadata.<key>`) written twice."""
    text = orjson.dumps(body).decode()
    if where.startswith("metadata."):
        key = where.split(".", 1)[1]
        return text.replace('"metadata":{', f'"metadata":{{"{key}":"first",', 1).encode()
    return text.replace("{", f'{{"{where}":{orjson.dumps(body[where]).decode()},', 1).encode()


async def test_the_api_refuses_a_repeated_key_and_names_it(api, pool, ingest_key) -> None:
    body = event(1, metadata={"campaign_id": "c-1", "phone": "+15550001111"})
    async with api.client(ingest_key) as http:
        for where in ("eventType", "metadata.phone"):
            raw = _with_duplicate(body, where)
            response = await http.post(
                PATH, content=raw, headers={"content-type": "application/json"}
            )
            assert response.status_code == 400, (where, response.text)
            answer = response.json()
            assert answer["errors"][0]["field"] == where
            assert repr(where.rsplit(".", 1)[-1]) in answer["error"]
        in_array = b"[" + orjson.dumps(event(2)) + b"," + _with_duplicate(body, "source") + b"]"
        response = await http.post(
            PATH, content=in_array, headers={"content-type": "application/json"}
        )
        assert response.status_code == 400
        assert response.json()["errors"][0]["field"] == "[1].source"
        # The lead sync's body is held to the same rule.
        lead = await http.put(
            "/api/internal/leads/recDupKey0001",
            content=b'{"firstName": "Ada", "firstName": "Grace"}',
            headers={"content-type": "application/json"},
        )
        assert lead.status_code == 400, lead.text
        assert lead.json()["errors"][0]["field"] == "firstName"
    assert await pool.fetchval("SELECT count(*) FROM lead_activity_log") == 0


async def test_the_stream_dead_letters_a_repeated_key_with_the_reason(settings, pool) -> None:
    body = event(1, metadata={"campaign_id": "c-1", "phone": "+15550001111"})
    raw = _with_duplicate(body, "metadata.phone")
    client = redis_sync.Redis.from_url(settings.redis_url or "")
    try:
        client.xadd(settings.activity_stream, {"payload": raw})
        client.xadd(settings.activity_stream, {"payload": orjson.dumps(event(2))})
    finally:
        client.close()

    async def dead() -> list:
        return await pool.fetch("SELECT payload, last_error, status FROM retry_queue")

    async with running(functools.partial(run_ingest, settings)):
        rows = await wait_for(dead, timeout=30, message="the dead letter")
        await wait_for(
            lambda: pool.fetchval("SELECT count(*) FROM lead_activity_log"),
            timeout=30,
            message="the valid event stored",
        )
    (row,) = rows
    assert row["status"] == "dead"
    assert row["payload"] == raw.decode()
    assert "metadata.phone" in row["last_error"]
    assert "'phone' appears more than once" in row["last_error"]
