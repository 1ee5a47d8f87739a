"""A TCP proxy a test can cut and restore, to make PostgreSQL or Redis "unreachable"."""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import parse_qsl, urlencode, urlsplit

from activitylog_testing.ports import free_port


class TcpProxy:
    """Forwards 127.0.0.1:`port` to a target; `cut()` refuses and drops connections,
    `hang()` accepts connections but forwards nothing (a server that never answers)."""

    def __init__(self, target_host: str, target_port: int = 0) -> None:
        # A host starting with "/" is a Unix socket path (embedded PostgreSQL).
        self.target = (target_host, target_port)
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._flowing = asyncio.Event()
        self._flowing.set()

    @property
    def up(self) -> bool:
        return self._server is not None

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._serve, "127.0.0.1", self.port, reuse_address=True
        )

    async def cut(self) -> None:
        """Stop listening (connections refused) and close every open connection."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            with contextlib.suppress(Exception):
                writer.transport.abort()
        self._writers.clear()
        self._flowing.set()  # connections held by hang() see their socket closed and end

    async def hang(self) -> None:
        """Keep accepting connections, but forward no byte either way until `restore()`."""
        self._flowing.clear()
        if self._server is None:
            await self.start()

    async def restore(self) -> None:
        """Forward again (held bytes go through), listening if `cut()` stopped it."""
        self._flowing.set()
        if self._server is None:
            await self.start()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        await self._flowing.wait()
        if writer.is_closing():
            return
        try:
            host, port = self.target
            if host.startswith("/"):
                up_reader, up_writer = await asyncio.open_unix_connection(host)
            else:
                up_reader, up_writer = await asyncio.open_connection(host, port)
        except OSError:
            writer.transport.abort()
            self._writers.discard(writer)
            return
        self._writers.update((writer, up_writer))

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    await self._flowing.wait()  # hang(): hold what was read
                    dst.write(data)
                    await dst.drain()
            except (OSError, asyncio.CancelledError):
                pass
            finally:
                with contextlib.suppress(Exception):
                    dst.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers.difference_update((writer, up_writer))


def proxy_for_database(url: str) -> tuple[TcpProxy, str]:
    """A proxy in front of the database of `url`, and the URL that goes through it."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    socket_dir = query.pop("host", None)
    if socket_dir:
        proxy = TcpProxy(f"{socket_dir}/.s.PGSQL.{query.pop('port', parts.port or 5432)}")
    else:
        proxy = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    userinfo = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
    proxied = parts._replace(netloc=f"{userinfo}127.0.0.1:{proxy.port}", query=urlencode(query))
    return proxy, proxied.geturl()
