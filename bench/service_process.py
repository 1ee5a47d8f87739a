"""One service process as `activitylog ingest` / `activitylog retry` runs it, for the
benchmarks: the same settings, logging and runner, without the command's other imports (the
API and every tool), so a benchmark of the workers needs only what the workers need.

Usage: python bench/service_process.py ingest|retry
"""

from __future__ import annotations

import functools
import sys

from activitylog.runtime.logs import configure_logging
from activitylog.runtime.settings import get_settings
from activitylog_cli.runner import serve


def main() -> None:
    name = sys.argv[1]
    settings = get_settings()
    configure_logging(
        settings.log_level, settings.log_format, service=name, replica=settings.ingest_consumer
    )
    if name == "ingest":
        from activitylog_ingest.service import run_ingest as run
    elif name == "retry":
        from activitylog_retry.service import run_retry as run
    else:
        raise SystemExit(f"unknown service {name!r}: ingest or retry")
    serve({name: functools.partial(run, settings)})


if __name__ == "__main__":
    main()
