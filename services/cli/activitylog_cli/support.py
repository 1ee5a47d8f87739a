"""What every `activitylog` subcommand needs from its settings, as clear usage errors."""

from __future__ import annotations

import asyncpg
import click

from activitylog.domain.partitions import month_label
from activitylog.runtime.settings import Settings, get_settings
from activitylog.storage.activity_log import partitions


def require(settings: Settings, *names: str) -> None:
    """Fail with a usage error naming the settings among `names` that are not set."""
    missing = [n.upper() for n in names if not getattr(settings, n)]
    if missing:
        raise click.UsageError(
            f"{', '.join(missing)} not set; configure them or use `activitylog up`"
        )


def database_url() -> str:
    """DATABASE_URL, for commands that only talk to PostgreSQL."""
    settings = get_settings()
    require(settings, "database_url")
    return settings.database_url or ""


FORGET_ARCHIVED = click.option(
    "--forget-archived",
    is_flag=True,
    help="Recount although months are archived: their figures are lost (restore them first "
    "to keep them).",
)


async def refuse_if_archived(conn: asyncpg.Connection, forget: bool) -> None:
    """A recount from the log would drop the figures of archived months (docs/RUNBOOK.md
    §18): refused unless the operator says so."""
    months = sorted({f.month for f in await partitions.archived(conn)})
    if months and not forget:
        raise click.UsageError(
            f"{len(months)} month(s) are archived ({month_label(months[0])} … "
            f"{month_label(months[-1])}): a recount from the log would lose their figures. "
            "Restore them (activitylog archive restore MONTH) or pass --forget-archived."
        )
