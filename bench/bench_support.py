"""What the benchmark scripts share: scratch databases and free ports."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit


def with_database(url: str, name: str) -> str:
    """`url` pointing at database `name` instead."""
    return urlsplit(url)._replace(path=f"/{name}").geturl()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
