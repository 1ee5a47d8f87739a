"""Per-stage timings of the write path, for benchmarks: off unless ACTIVITYLOG_STAGE_PROFILE
names a file, then each process adds up the seconds spent in each stage (stream read,
decode, lead resolution, insert, …) and writes the totals there as JSON when it exits.

`bench/ingest.py --stages` sets it for its workers and prints the breakdown. Off, a stage
costs one attribute check.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import time
from collections.abc import Iterator

_PATH = os.environ.get("ACTIVITYLOG_STAGE_PROFILE", "")
ENABLED = bool(_PATH)
_seconds: dict[str, float] = {}
_calls: dict[str, int] = {}


@contextlib.contextmanager
def stage(name: str) -> Iterator[None]:
    """Add the block's wall time to stage `name` (nothing when profiling is off)."""
    if not ENABLED:
        yield
        return
    started = time.perf_counter()
    try:
        yield
    finally:
        _seconds[name] = _seconds.get(name, 0.0) + time.perf_counter() - started
        _calls[name] = _calls.get(name, 0) + 1


def totals() -> dict[str, dict[str, float]]:
    return {name: {"seconds": s, "calls": _calls[name]} for name, s in _seconds.items()}


def _write() -> None:
    with open(f"{_PATH}.{os.getpid()}.json", "w") as out:
        json.dump(totals(), out)


if ENABLED:
    atexit.register(_write)
