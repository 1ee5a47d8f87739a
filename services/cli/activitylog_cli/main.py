"""`activitylog` subcommands: migrate, ingest, up (and those each service adds)."""

from __future__ import annotations

import asyncio
import functools

import click
from activitylog.logs import configure_logging, get_logger
from activitylog.migrate import migrate as apply_migrations
from activitylog.settings import Settings, get_settings
from activitylog_ingest.service import run_ingest

from activitylog_cli.runner import run_services
from activitylog_cli.up import up

log = get_logger("activitylog.cli")


def require(settings: Settings, *names: str) -> None:
    missing = [n.upper() for n in names if not getattr(settings, n)]
    if missing:
        raise click.UsageError(
            f"{', '.join(missing)} not set; configure them or use `activitylog up`"
        )


@click.group()
def cli() -> None:
    """The lead activity log: ingest, retry and API services and their tools."""
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)


@cli.command()
def migrate() -> None:
    """Apply pending database migrations (safe to run from several replicas at once)."""
    settings = get_settings()
    require(settings, "database_url")
    applied = asyncio.run(apply_migrations(settings.database_url or ""))
    click.echo(f"applied {len(applied)} migration(s): {[m.name for m in applied]}")


@cli.command()
def ingest() -> None:
    """Run one ingest worker (stream → PostgreSQL) until SIGTERM."""
    settings = get_settings()
    require(settings, "database_url", "redis_url")
    from activitylog.metrics import serve_metrics

    serve_metrics(settings.metrics_port)
    asyncio.run(run_services({"ingest": functools.partial(run_ingest, settings)}))


cli.add_command(up)
