"""An HTTP front for the API that answers 503 to the first requests, then forwards."""

from __future__ import annotations

import asyncio
import contextlib

import httpx

# Hop-by-hop headers are the gate's own business, not the upstream's; httpx hands over the
# body decoded, so its encoding is not relayed either.
_HOP_HEADERS = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "content-length",
    "content-encoding",
    "host",
}


class OutageGate:
    """Listens on 127.0.0.1:`port`; the first `fail_first` requests get 503 with
    Retry-After (as the API answers when neither Redis nor PostgreSQL takes events), every
    later one is forwarded to `upstream` and its answer relayed."""

    def __init__(self, port: int, upstream: str, fail_first: int = 1) -> None:
        self.port = port
        self.upstream = upstream
        self.fail_first = fail_first
        self.answered: list[int] = []  # the status of every request, in order
        self._server: asyncio.Server | None = None
        self._http = httpx.AsyncClient(base_url=upstream, timeout=30)

    async def __aenter__(self) -> OutageGate:
        self._server = await asyncio.start_server(
            self._serve, "127.0.0.1", self.port, reuse_address=True
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        await self._http.aclose()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            request_line, *header_lines = head.decode("latin-1").split("\r\n")
            method, target, _ = request_line.split(" ", 2)
            headers: dict[str, str] = {}
            for line in header_lines:
                if ":" in line:
                    name, value = line.split(":", 1)
                    headers[name.strip()] = value.strip()
            length = int(next((v for k, v in headers.items() if k.lower() == "content-length"), 0))
            body = await reader.readexactly(length) if length else b""
            if len(self.answered) < self.fail_first:
                status, reply_headers, content = (
                    503,
                    {"content-type": "application/json", "retry-after": "1"},
                    b'{"success":false,"error":"the gate is closed for this request"}',
                )
            else:
                forwarded = {k: v for k, v in headers.items() if k.lower() not in _HOP_HEADERS}
                response = await self._http.request(method, target, headers=forwarded, content=body)
                status, content = response.status_code, response.content
                reply_headers = {
                    k: v for k, v in response.headers.items() if k.lower() not in _HOP_HEADERS
                }
            self.answered.append(status)
            lines = [f"HTTP/1.1 {status} Gate"]
            lines += [f"{k}: {v}" for k, v in reply_headers.items()]
            lines += [f"content-length: {len(content)}", "connection: close", "", ""]
            writer.write("\r\n".join(lines).encode("latin-1") + content)
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()
