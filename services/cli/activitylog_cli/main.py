"""`activitylog` subcommands: migrate, ingest, up (and those each service adds)."""

from __future__ import annotations

import asyncio
import functools

import click

from activitylog.runtime.logs import configure_logging, get_logger
from activitylog.runtime.migrate import MigrationChanged
from activitylog.runtime.migrate import migrate as apply_migrations
from activitylog.runtime.settings import get_settings
from activitylog_api.service import run_api, serve_workers
from activitylog_cli.analytics import analytics
from activitylog_cli.asyncapi import asyncapi
from activitylog_cli.backfill import backfill
from activitylog_cli.counters import counters
from activitylog_cli.demo import demo
from activitylog_cli.keys import keys
from activitylog_cli.leads import leads_group
from activitylog_cli.partitions import archive, partitions, retention
from activitylog_cli.reconcile import reconcile
from activitylog_cli.retry_queue import retry_queue_group
from activitylog_cli.runner import serve
from activitylog_cli.support import require
from activitylog_cli.up import up
from activitylog_cli.users import users
from activitylog_cli.watch import watch
from activitylog_ingest.service import run_ingest
from activitylog_retry.service import run_retry

log = get_logger("activitylog.cli")


@click.group()
@click.pass_context
def cli(ctx: click.Context) -> None:
    """The lead activity log: ingest, retry and API services and their tools."""
    settings = get_settings()
    # The subcommand is the service (`ingest`, `retry`, `api`, `up`, or a tool's name); the
    # consumer name is the replica's (the host name unless INGEST_CONSUMER says otherwise).
    configure_logging(
        settings.log_level,
        settings.log_format,
        service=ctx.invoked_subcommand or "cli",
        replica=settings.ingest_consumer,
    )


@cli.command()
def migrate() -> None:
    """Apply pending database migrations (safe to run from several replicas at once)."""
    settings = get_settings()
    require(settings, "database_url")
    try:
        applied = asyncio.run(apply_migrations(settings.database_url or ""))
    except MigrationChanged as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"applied {len(applied)} migration(s): {[m.name for m in applied]}")


@cli.command()
@click.option(
    "--burst", is_flag=True, help="Store what the stream holds, then exit (instead of waiting)."
)
def ingest(burst: bool) -> None:
    """Run one ingest worker (stream → PostgreSQL) until SIGTERM (or drained, with --burst)."""
    settings = get_settings()
    require(settings, "database_url", "redis_url")
    from activitylog.runtime.metrics import serve_metrics

    serve_metrics(settings.metrics_port)
    serve({"ingest": functools.partial(run_ingest, settings, burst=burst)})


@cli.command()
def retry() -> None:
    """Run the retry service (retry_queue re-drive, stale entries, alerts) until SIGTERM."""
    settings = get_settings()
    require(settings, "database_url", "redis_url")
    from activitylog.runtime.metrics import serve_metrics

    serve_metrics(settings.metrics_port)
    serve({"retry": functools.partial(run_retry, settings)})


@cli.command()
def api() -> None:
    """Run the HTTP API (uvicorn on API_HOST:API_PORT, API_WORKERS processes) until SIGTERM."""
    settings = get_settings()
    require(settings, "database_url", "redis_url")
    if settings.api_workers > 1:
        serve_workers(settings)
        return
    serve({"api": functools.partial(run_api, settings)})


cli.add_command(up)
cli.add_command(counters)
cli.add_command(partitions)
cli.add_command(retention)
cli.add_command(archive)
cli.add_command(analytics)
cli.add_command(demo)
cli.add_command(keys)
cli.add_command(users)
cli.add_command(retry_queue_group)
cli.add_command(leads_group, name="leads")
cli.add_command(backfill)
cli.add_command(reconcile)
cli.add_command(watch)
cli.add_command(asyncapi)
