"""`activitylog users …`: admin accounts for the web UI (people; machines use API keys)."""

from __future__ import annotations

import asyncio
import sys

import click

from activitylog.runtime.db import connect
from activitylog.storage import admin_users
from activitylog.use_cases.access.accounts import WeakPassword, create_or_reset
from activitylog_cli.support import database_url


@click.group()
def users() -> None:
    """Create, list and disable admin UI accounts."""


@users.command("create")
@click.option("--email", required=True, help="The login; case does not matter.")
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from the first line of standard input instead of prompting.",
)
def create(email: str, password_stdin: bool) -> None:
    """Create an account, or set a new password (and unlock) an existing one."""
    if password_stdin or not sys.stdin.isatty():
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)

    async def run() -> bool:
        conn = await connect(database_url())
        try:
            return await create_or_reset(conn, email, password)
        finally:
            await conn.close()

    try:
        created = asyncio.run(run())
    except (WeakPassword, ValueError) as exc:
        raise click.BadParameter(str(exc)) from exc
    click.echo(f"{'created' if created else 'updated'} admin user {email}")


@users.command("list")
def list_users() -> None:
    """Show every account with its state."""

    async def run() -> list[admin_users.AdminUser]:
        conn = await connect(database_url())
        try:
            return await admin_users.list_all(conn)
        finally:
            await conn.close()

    for user in asyncio.run(run()):
        state = "disabled" if user.disabled else "active"
        last = user.last_login_at.isoformat(timespec="seconds") if user.last_login_at else "never"
        click.echo(f"{user.email}\t{state}\tlast login {last}")


@users.command("disable")
@click.option("--email", required=True)
@click.option("--enable", is_flag=True, help="Re-enable instead.")
def disable(email: str, enable: bool) -> None:
    """Stop an account from signing in (or allow it again)."""

    async def run() -> bool:
        conn = await connect(database_url())
        try:
            return await admin_users.set_disabled(conn, email, not enable)
        finally:
            await conn.close()

    if not asyncio.run(run()):
        raise click.BadParameter(f"no admin user {email}")
    click.echo(f"{'enabled' if enable else 'disabled'} admin user {email}")
