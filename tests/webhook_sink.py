"""A local HTTP server that records what is POSTed to it: the alert webhook of the tests."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import orjson

from activitylog_testing.ports import free_port


class WebhookSink:
    """Accepts POSTs on 127.0.0.1:`port` and keeps each JSON body; `status` is the reply."""

    def __init__(self, status: int = 200, port: int | None = None) -> None:
        self.status = status
        self.received: list[dict[str, Any]] = []
        self.port = port or free_port()
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/alerts"

    @property
    def texts(self) -> list[str]:
        return [str(body.get("text")) for body in self.received]

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._serve, "127.0.0.1", self.port, reuse_address=True
        )

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> WebhookSink:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip())
            body = await reader.readexactly(length) if length else b""
            if self.status < 300:
                self.received.append(orjson.loads(body) if body else {})
            reason = b"OK" if self.status < 300 else b"Error"
            writer.write(
                b"HTTP/1.1 %d %s\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
                % (self.status, reason)
            )
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()
