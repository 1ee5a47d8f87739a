"""What every `activitylog` subcommand needs from its settings, as clear usage errors."""

from __future__ import annotations

import click

from activitylog.runtime.settings import Settings, get_settings


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
