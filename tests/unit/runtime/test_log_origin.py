"""Every log line names the service and the replica that wrote it, the library's lines too."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import orjson
import pytest
import structlog

from activitylog.runtime.logs import configure_logging, get_logger


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        structlog.reset_defaults()


def test_every_line_carries_service_and_replica(
    restore_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("DEBUG", "json", service="retry", replica="retry-7f3c")
    get_logger("activitylog.retry").info("batch stored", entries=3, first_id="1-0")
    logging.getLogger("uvicorn.error").warning("a library's own line")
    get_logger("activitylog.retry").info("overrides nothing", service="mine")
    lines = [orjson.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [(x["event"], x["service"], x["replica"]) for x in lines] == [
        ("batch stored", "retry", "retry-7f3c"),
        ("a library's own line", "retry", "retry-7f3c"),
        ("overrides nothing", "mine", "retry-7f3c"),
    ]
    assert lines[0]["entries"] == 3
