"""A local stand-in for SimpleTexting's send endpoint (`POST /v2/api/messages`), so the SMS
scheduler template can send without reaching outside this machine."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import orjson

from activitylog_testing.ports import free_port


@dataclass(frozen=True)
class SentMessage:
    """A message the stand-in accepted, and the id it answered (SimpleTexting's message id)."""

    contact_phone: str
    text: str
    message_id: str


@dataclass
class FakeSimpleTexting:
    """Accepts every message except to phones in `refused`, which get a 400 as SimpleTexting
    answers an invalid contact; keeps each request's body and Authorization header, and each
    accepted message with its id."""

    refused: set[str] = field(default_factory=set)
    port: int = field(default_factory=free_port)
    received: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    sent: list[SentMessage] = field(default_factory=list)
    _server: asyncio.Server | None = None
    # SimpleTexting's ids are MongoDB ObjectIds (24 hex digits: seconds, random, counter);
    # the random part keeps one test's ids apart from another's.
    _id_prefix: str = field(default_factory=lambda: f"{int(time.time()):08x}{secrets.token_hex(5)}")

    def message_id_to(self, phone: str) -> str:
        """The id of the one message accepted for `phone`."""
        (message_id,) = (m.message_id for m in self.sent if m.contact_phone == phone)
        return message_id

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v2"

    async def __aenter__(self) -> FakeSimpleTexting:
        self._server = await asyncio.start_server(
            self._serve, "127.0.0.1", self.port, reuse_address=True
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
            headers = {
                name.strip().lower(): value.strip()
                for name, _, value in (line.partition(":") for line in head.split("\r\n")[1:])
            }
            length = int(headers.get("content-length", "0"))
            body = orjson.loads(await reader.readexactly(length)) if length else {}
            self.received.append((headers.get("authorization", ""), body))
            sending = head.startswith("POST /v2/api/messages ")
            reply: dict[str, Any]
            if sending and body.get("contactPhone") not in self.refused:
                message_id = f"{self._id_prefix}{len(self.received):06x}"
                self.sent.append(
                    SentMessage(str(body.get("contactPhone")), str(body.get("text")), message_id)
                )
                status, reply = 201, {"id": message_id, "credits": 1}
            else:
                status = 400
                reply = {"code": "INVALID_CONTACT", "message": "Invalid contact phone"}
            content = orjson.dumps(reply)
            writer.write(
                f"HTTP/1.1 {status} Fake\r\ncontent-type: application/json\r\n"
                f"content-length: {len(content)}\r\nconnection: close\r\n\r\n".encode()
                + content
            )
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()
