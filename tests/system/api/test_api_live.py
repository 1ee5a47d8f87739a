"""Live streams (server-sent events) over real HTTP: a lead's and a filter's new events,
scopes, resuming, disconnects, and ending on shutdown (in-process and on SIGTERM)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import re
import signal
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from activitylog.runtime.settings import Settings
from activitylog.use_cases.access.keys import Role
from activitylog_api.service import run_api
from activitylog_ingest.service import run_ingest
from activitylog_testing.leads import add_lead
from activitylog_testing.polling import wait_for
from activitylog_testing.ports import free_port
from activitylog_testing.serving import answering, running
from support import event, spawn, stop_process

PATH = "/api/internal/log-activity"
WAIT = {"Prefer": "wait=5"}


@dataclass
class Sse:
    """One server-sent event."""

    event: str = "message"
    data: str = ""
    id: str | None = None
    retry: int | None = None

    def json(self) -> Any:
        return orjson.loads(self.data)


@dataclass
class Stream:
    """An open stream: its events as they come (comments are left out)."""

    response: httpx.Response
    events: asyncio.Queue[Sse | None] = field(default_factory=asyncio.Queue)

    async def next(self, timeout: float = 15) -> Sse | None:
        return await asyncio.wait_for(self.events.get(), timeout)

    async def next_of(self, kind: str, timeout: float = 15) -> Sse:
        deadline = time.monotonic() + timeout
        while True:
            found = await self.next(max(deadline - time.monotonic(), 0.01))
            assert found is not None, f"the stream ended before an {kind!r} event"
            if found.event == kind:
                return found


async def _read(response: httpx.Response, queue: asyncio.Queue[Sse | None]) -> None:
    current = Sse()
    try:
        async for line in response.aiter_lines():
            if not line:
                if current.data or current.event != "message":
                    await queue.put(current)
                current = Sse()
                continue
            if line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "event":
                current.event = value
            elif name == "data":
                current.data = f"{current.data}\n{value}" if current.data else value
            elif name == "id":
                current.id = value
            elif name == "retry":
                current.retry = int(value)
    except (httpx.ReadError, httpx.RemoteProtocolError):
        pass
    finally:
        await queue.put(None)


@contextlib.asynccontextmanager
async def stream(http: httpx.AsyncClient, path: str, **kwargs: Any) -> AsyncIterator[Stream]:
    """Open `path` as an event stream; its first event is `ready`."""
    async with http.stream("GET", path, timeout=httpx.Timeout(60, read=None), **kwargs) as response:
        opened = Stream(response)
        reader = asyncio.create_task(_read(response, opened.events))
        try:
            if response.status_code == 200:
                ready = await opened.next()
                assert ready is not None
                assert ready.event == "ready", ready
                assert ready.retry == 2000
            yield opened
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader


async def _open_streams(http: httpx.AsyncClient) -> float:
    text = (await http.get("/metrics")).text
    found = re.search(r"^activitylog_api_live_streams(?:\{[^}]*\})? (\S+)$", text, re.M)
    return float(found.group(1)) if found else 0.0


async def test_a_leads_stream_sends_its_new_events_as_the_timeline_shows_them(
    api, pool, admin_key
) -> None:
    lead = await add_lead(pool, "recLiveLead001", "Liv", "Stream")
    other = "recLiveOther01"
    async with (
        api.client(admin_key) as http,
        running(functools.partial(run_ingest, api.settings)),
        stream(http, f"/api/leads/{lead}/activity/stream") as everything,
        stream(http, "/api/leads/recLiveLead001/activity/stream?category=MANUAL") as manual,
        stream(http, "/api/leads/recLiveLead001/activity/stream") as early,
    ):
        assert (await http.get("/metrics")).status_code == 200
        assert everything.response.headers["content-type"].startswith("text/event-stream")
        sent = await http.post(
            PATH,
            json=[
                event(1, leadAirtableId="recLiveLead001"),
                event(2, leadAirtableId=other),
                event(3, leadAirtableId="recLiveLead001", eventType="NOTE_ADDED"),
            ],
            headers=WAIT,
        )
        assert sent.status_code == 201, sent.text
        ids = [r["activityId"] for r in sent.json()]
        first = await everything.next_of("activity")
        second = await everything.next_of("activity")
        got = [first.json(), second.json()]
        assert sorted(i["id"] for i in got) == sorted([ids[0], ids[2]])
        note = next(i for i in got if i["eventType"] == "NOTE_ADDED")
        assert set(note) >= {"id", "timestamp", "eventType", "category", "description", "source"}
        assert first.id
        assert re.fullmatch(r"\d+\.\d+", first.id)
        only = await manual.next_of("activity")
        assert only.json()["id"] == ids[2]
        # A client that stopped reading keeps its place: the events queue up for it.
        assert {(await early.next_of("activity")).json()["id"] for _ in range(2)} == {
            ids[0],
            ids[2],
        }

        # Resume: what was stored while away comes after Last-Event-ID.
        resume = second.id
        later = await http.post(
            PATH,
            json=event(4, leadAirtableId="recLiveLead001", eventType="NOTE_ADDED"),
            headers=WAIT,
        )
        assert later.status_code == 201
        async with stream(
            http, f"/api/leads/{lead}/activity/stream", headers={"Last-Event-ID": resume}
        ) as resumed:
            # From where it left off: the new one, perhaps again one it had (its id tells).
            seen: set[str] = set()
            while later.json()["activityId"] not in seen:
                seen.add((await resumed.next_of("activity")).json()["id"])
            assert seen <= {ids[0], ids[2], later.json()["activityId"]}

        # `since`: what was stored since a time, then what comes.
        async with stream(
            http,
            f"/api/leads/{lead}/activity/stream",
            params={"since": "2000-01-01T00:00:00Z"},  # at most an hour back: all four
        ) as caught_up:
            seen = {(await caught_up.next_of("activity")).json()["id"] for _ in range(3)}
            assert seen == {ids[0], ids[2], later.json()["activityId"]}

    async with api.client(admin_key) as http:
        missing = await http.get("/api/leads/recNoSuchLead9/activity/stream")
        assert missing.status_code == 404
        bad = await http.get(f"/api/leads/{lead}/activity/stream?category=NOPE")
        assert bad.status_code == 400
        assert bad.json()["errors"][0]["field"] == "category"


async def test_a_portal_key_streams_only_its_own_client(api, pool, make_key) -> None:
    mine, theirs = uuid.uuid4(), uuid.uuid4()
    await add_lead(pool, "recPortalMine1", "Mia", "Mine", client_id=mine)
    await add_lead(pool, "recPortalThem1", "Tom", "Theirs", client_id=theirs)
    portal = await make_key(Role.PORTAL, client_id=mine, name="portal")
    ingest = await make_key(Role.INGEST, name="n8n")
    async with (
        api.client(portal) as http,
        api.client(ingest) as writer,
        running(functools.partial(run_ingest, api.settings)),
    ):
        assert (await http.get("/api/leads/recPortalThem1/activity/stream")).status_code == 404
        other = await http.get(f"/api/admin/activity-logs/stream?clientId={theirs}")
        assert other.status_code == 403
        async with (
            stream(http, "/api/admin/activity-logs/stream") as everything,
            stream(http, "/api/admin/activity-logs/stream", params={"search": "pizza"}) as found,
        ):
            sent = await writer.post(
                PATH,
                json=[
                    event(1, leadAirtableId="recPortalThem1", description="pizza for them"),
                    event(2, leadAirtableId="recPortalMine1", description="pizza for us"),
                    event(3, leadAirtableId="recPortalMine1", description="salad for us"),
                ],
                headers=WAIT,
            )
            assert sent.status_code == 201, sent.text
            ids = [r["activityId"] for r in sent.json()]
            items = [(await everything.next_of("activity")).json() for _ in range(2)]
            assert {i["id"] for i in items} == {ids[1], ids[2]}
            assert {i["lead"]["displayName"] for i in items} == {"Mia Mine"}
            assert (await found.next_of("activity")).json()["id"] == ids[1]
            with contextlib.suppress(TimeoutError):
                extra = await found.next_of("activity", timeout=0.5)
                raise AssertionError(f"the search stream sent {extra}")


async def test_a_stream_ends_when_its_client_leaves_and_when_the_api_stops(
    api_settings: Settings, pool, admin_key
) -> None:
    await add_lead(pool, "recLiveBye0001", "Bye", "Bye")
    url = f"http://127.0.0.1:{api_settings.api_port}"
    async with (
        running(functools.partial(run_api, api_settings)) as stop,
        httpx.AsyncClient(base_url=url, headers={"x-api-key": admin_key}) as http,
    ):

        async def gone() -> bool:
            return await _open_streams(http) == 0

        await answering(http, timeout=20, message="the API to listen")
        assert await _open_streams(http) == 0
        async with stream(http, "/api/leads/recLiveBye0001/activity/stream"):
            assert await _open_streams(http) == 1
        await wait_for(gone, timeout=10, message="the stream to close after its client left")

        async with stream(http, "/api/leads/recLiveBye0001/activity/stream") as staying:
            started = time.monotonic()
            stop.set()  # what SIGTERM does to the runner
            bye = await staying.next_of("bye", timeout=8)
            assert bye.json() == {"reason": "shutdown"}
            assert await staying.next(timeout=8) is None  # and the response ends
    # Leaving `running` waited for the API to stop: not the 10 s graceful-shutdown wait.
    assert time.monotonic() - started < 5


async def test_sigterm_ends_the_streams_and_the_process_at_once(
    settings: Settings, pool, make_key, artifacts
) -> None:
    await add_lead(pool, "recLiveTerm001", "Term", "Inal")
    key = await make_key(Role.ADMIN, name="admin")
    for workers in (1, 2):
        port = free_port()
        served = settings.model_copy(update={"api_port": port, "api_workers": workers})
        process = spawn(["api"], served, log_path=artifacts / f"api-{workers}.log")
        url = f"http://127.0.0.1:{port}"
        try:
            async with httpx.AsyncClient(base_url=url, headers={"x-api-key": key}) as http:
                await answering(http, timeout=30, message="the API process to listen")
                async with stream(http, "/api/leads/recLiveTerm001/activity/stream") as open_:
                    started = time.monotonic()
                    process.send_signal(signal.SIGTERM)
                    bye = await open_.next_of("bye", timeout=8)
                    assert bye.json() == {"reason": "shutdown"}
                    await asyncio.to_thread(process.wait, 15)
                    elapsed = time.monotonic() - started
            assert process.returncode == 0, (workers, process.returncode)
            assert elapsed < 5, (workers, elapsed)
        finally:
            stop_process(process)
