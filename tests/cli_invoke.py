"""Running `activitylog` commands in this process (a real process costs seconds to start)."""

from __future__ import annotations

import asyncio
import subprocess

from click.testing import CliRunner, Result

from activitylog.runtime.settings import Settings, get_settings
from activitylog_cli.main import cli
from support import settings_env


def _invoke(settings: Settings, args: tuple[str, ...]) -> Result:
    get_settings.cache_clear()  # the command reads the environment given here
    try:
        return CliRunner().invoke(cli, list(args), env=settings_env(settings))
    finally:
        get_settings.cache_clear()


async def invoke(settings: Settings, *args: str) -> Result:
    """`activitylog ARGS` in a thread: the command runs its own event loop."""
    return await asyncio.to_thread(_invoke, settings, args)


async def run(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    """`invoke`, answered as `support.run_cli` answers (return code, stdout, stderr)."""
    result = await invoke(settings, *args)
    return subprocess.CompletedProcess(args, result.exit_code, result.stdout, result.stderr)
