"""Helpers of the admin UI tests: the admin's credentials, signing in, screenshots."""

from __future__ import annotations

import functools
import os
import shutil
from datetime import UTC, date, datetime
from pathlib import Path

from playwright.async_api import Page

from activitylog.use_cases.access.accounts import hash_password

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
ADMIN_EMAIL = "ops@example.com"
ADMIN_PASSWORD = "correct horse battery staple"
DOCS_IMG = Path(__file__).resolve().parents[3] / "docs" / "img"


@functools.cache
def admin_password_hash() -> str:
    """Hashed once per run: argon2 is slow on purpose, the tests need not pay it each time."""
    return hash_password(ADMIN_PASSWORD)


async def screenshot(
    page: Page, artifacts: Path, name: str, *, docs: bool = False, full_page: bool = False
) -> None:
    """Save `name`.png in the test's artifacts; with UPDATE_DOCS_SCREENSHOTS=1 the ones
    marked `docs` also replace the README's pictures in docs/img/."""
    path = artifacts / f"{name}.png"
    await page.screenshot(path=path, full_page=full_page)
    if docs and os.environ.get("UPDATE_DOCS_SCREENSHOTS") == "1":
        DOCS_IMG.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, DOCS_IMG / path.name)


async def log_in(page: Page, email: str = ADMIN_EMAIL, password: str = ADMIN_PASSWORD) -> None:
    """Sign in through the form, as a person would."""
    await page.goto("/admin/login")
    await page.fill("input[name=email]", email)
    await page.fill("input[name=password]", password)
    await page.click("button[type=submit]")


def first_day_heads(newest: datetime, drawn: tuple[date, date]) -> set[str]:
    """The heading a timeline's first day may have, its newest row at `newest`, for a page
    drawn between the two UTC days of `drawn` (the admin's zone is UTC): Today, or
    Yesterday when midnight fell between that row and the drawing."""
    return {"today" if newest.astimezone(UTC).date() == day else "yesterday" for day in drawn}


def utc_today() -> date:
    return datetime.now(UTC).date()
