"""The shape of one server-sent event of the live streams (routes/live.py), as the OpenAPI
document describes the `text/event-stream` answer: each event, not the whole body."""

# No `from __future__ import annotations`: TypedDict reads NotRequired from real annotations.
from typing import Literal, NotRequired, TypedDict


class StreamEvent(TypedDict):
    """One server-sent event: `ready` (the stream is open; `data` is `{"resume": id}`),
    `activity` (`data`: one new event as JSON, as the matching read returns it) or `bye`
    (the API is stopping: reconnect after `retry` ms with `Last-Event-ID`)."""

    event: Literal["ready", "activity", "bye"]
    data: str
    id: NotRequired[str]
    retry: NotRequired[int]
