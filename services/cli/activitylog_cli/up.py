"""`activitylog up`: the whole system in one process, with embedded servers where needed."""

from __future__ import annotations

import asyncio
import functools
import logging
import warnings
from contextlib import ExitStack

import click

from activitylog.runtime.embedded import EmbeddedPostgres, EmbeddedRedis
from activitylog.runtime.logs import get_logger
from activitylog.runtime.metrics import serve_metrics
from activitylog.runtime.migrate import MigrationChanged, migrate
from activitylog.runtime.settings import Settings, get_settings
from activitylog_api.service import run_api
from activitylog_cli.runner import Service, serve
from activitylog_ingest.service import run_ingest
from activitylog_retry.service import run_retry

log = get_logger("activitylog.up")


def services_for(settings: Settings) -> dict[str, Service]:
    """Every service that `up` runs, by name."""
    return {
        "ingest": functools.partial(run_ingest, settings),
        "api": functools.partial(run_api, settings),
        "retry": functools.partial(run_retry, settings),
    }


@click.command()
def up() -> None:
    """Run migrations and every service; start embedded PostgreSQL/Redis if not configured."""
    settings = get_settings()
    # pgserver narrates every initdb/pg_ctl step at INFO; its failures still show.
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", module="platformdirs")
    with ExitStack() as stack:
        updates: dict[str, str] = {}
        if not settings.database_url:
            pg = EmbeddedPostgres(settings.data_dir / "postgres")
            stack.callback(pg.stop)
            updates["database_url"] = pg.start()
            click.echo(f"embedded PostgreSQL: {pg.url}  (data in {pg.data_dir.resolve()})")
        if not settings.redis_url:
            rd = EmbeddedRedis(settings.data_dir / "redis", settings.embedded_redis_port)
            stack.callback(rd.stop)
            updates["redis_url"] = rd.start()
            click.echo(f"embedded Redis: {rd.url}  (data in {rd.data_dir.resolve()})")
        settings = settings.model_copy(update=updates)
        try:
            applied = asyncio.run(migrate(settings.database_url or ""))
        except MigrationChanged as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"migrations applied: {len(applied)}")
        api = f"http://{settings.api_host}:{settings.api_port}"
        click.echo(f"API: {api}  (OpenAPI {api}/schema, admin UI {api}/admin)")
        db_env = f"DATABASE_URL='{settings.database_url}'"
        click.echo(
            "create an admin login and an API key with:\n"
            f"  {db_env} .venv/bin/activitylog users create --email you@example.com\n"
            f"  {db_env} .venv/bin/activitylog keys create --role admin --name me"
        )
        click.echo(
            "publish an event with:\n"
            f"  redis-cli -u {settings.redis_url} XADD {settings.activity_stream} '*' "
            """payload '{"eventType":"NOTE_ADDED","leadAirtableId":"recDemo1","""
            """"description":"hello","source":"system:cli"}'"""
        )
        click.echo(
            "load a demo history (removable with --remove) for a living dashboard with:\n"
            f"  {db_env} .venv/bin/activitylog demo"
        )
        serve_metrics(settings.metrics_port)
        click.echo("running; Ctrl-C stops everything cleanly")
        serve(services_for(settings))
    click.echo("stopped")
