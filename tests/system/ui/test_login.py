"""Signing in and out, the throttle, redirects without a session, and CSRF on every form."""

from __future__ import annotations

import hashlib

import pytest
from playwright.async_api import Page, expect
from ui_support import ADMIN_EMAIL, ADMIN_PASSWORD, log_in, screenshot

pytestmark = pytest.mark.browser


async def test_log_in_and_out(page: Page, pool, artifacts) -> None:
    await page.goto("/admin/login")
    await screenshot(page, artifacts, "login")
    await log_in(page)
    await page.wait_for_url("**/admin")
    await expect(page.locator(".who")).to_contain_text(ADMIN_EMAIL)

    await page.click("form.signout button")
    await page.wait_for_url("**/admin/login?signed_out=1")
    await expect(page.locator(".banner.info")).to_contain_text("signed out")
    # The session is gone on the server, not only in the browser.
    assert await pool.fetchval("SELECT count(*) FROM admin_sessions") == 0
    await page.goto("/admin")
    await page.wait_for_url("**/admin/login")


async def test_a_wrong_password_fails(page: Page, pool) -> None:
    await log_in(page, password="not the password")
    await expect(page.locator("#login-error")).to_have_text("Wrong email or password.")
    assert page.url.endswith("/admin/login")
    await log_in(page, email="nobody@example.com")
    await expect(page.locator("#login-error")).to_have_text("Wrong email or password.")
    # Still signed out: an admin page sends us back to the login form.
    await page.goto("/admin/retry-queue")
    await page.wait_for_url("**/admin/login?next=/admin/retry-queue")
    assert await pool.fetchval("SELECT count(*) FROM admin_sessions") == 0


async def test_repeated_failures_make_the_next_attempts_wait(page: Page, ui, pool) -> None:
    for _ in range(ui.settings.login_max_failures):
        await log_in(page, password="guessing")
        await expect(page.locator("#login-error")).to_have_text("Wrong email or password.")
    # Throttled: even the right password is refused (429, Retry-After) until the window ends.
    async with page.expect_response(lambda r: r.request.method == "POST") as answer:
        await log_in(page)
    refused = await answer.value
    assert refused.status == 429
    assert 0 < int(refused.headers["retry-after"]) <= ui.settings.login_lockout_s
    await expect(page.locator("#login-error")).to_contain_text("Too many sign-in attempts")
    await pool.execute(
        "UPDATE login_throttle SET blocked_until = now() - interval '1 second', "
        "window_ends_at = now() - interval '1 second'"
    )
    await log_in(page)
    await page.wait_for_url("**/admin")
    # Signing in forgives this address its failures at this account.
    keys = await pool.fetch("SELECT key FROM login_throttle")
    assert all(" from " not in row["key"] for row in keys), keys


async def test_an_unauthenticated_page_redirects_to_login_and_back(page: Page) -> None:
    for path in ("/admin", "/admin/activity-logs", "/admin/retry-queue", "/admin/leads/recX1"):
        response = await page.request.get(path, max_redirects=0)
        assert response.status == 303, path
        assert response.headers["location"].startswith("/admin/login"), path
    await page.goto("/admin/activity-logs?category=SMS&range=24h")
    await page.wait_for_url("**/admin/login?next=**")
    await page.fill("input[name=email]", ADMIN_EMAIL)
    await page.fill("input[name=password]", ADMIN_PASSWORD)
    await page.click("button[type=submit]")
    # After signing in the operator lands on the page they asked for, filter included.
    await page.wait_for_url("**/admin/activity-logs?category=SMS&range=24h")


async def test_a_post_without_the_csrf_token_is_refused(admin: Page, pool) -> None:
    row_id = await pool.fetchval(
        "INSERT INTO retry_queue (queue_id, payload, status, last_error) "
        "VALUES ('q-csrf', '{}', 'pending', 'x') RETURNING id"
    )
    await admin.goto("/admin/retry-queue")
    # The browser's own cookies (session and CSRF cookie) but no token in the form.
    refused = await admin.request.post(
        f"/admin/retry-queue/{row_id}/discard", form={"back": "/admin/retry-queue"}
    )
    assert refused.status == 403
    assert "expired" in await refused.text()
    forged = await admin.request.post(
        f"/admin/retry-queue/{row_id}/discard",
        form={"back": "/admin/retry-queue", "_csrf_token": "0" * 128},
    )
    assert forged.status == 403
    logout = await admin.request.post("/admin/logout", form={})
    assert logout.status == 403
    assert await pool.fetchval("SELECT status FROM retry_queue WHERE id = $1", row_id) == "pending"
    # The same action from the page's own form (token included) goes through.
    admin.once("dialog", lambda dialog: dialog.accept())
    await admin.click(f"#retry-{row_id} button.discard")
    await expect(admin.locator(".banner.success")).to_contain_text("discarded")
    assert await pool.fetchval("SELECT status FROM retry_queue WHERE id = $1", row_id) == (
        "discarded"
    )


async def test_sessions_are_server_side_and_rotated(page: Page, context, pool) -> None:
    await page.goto("/admin/login")
    # Visiting the login page stores nothing.
    assert await pool.fetchval("SELECT count(*) FROM admin_sessions") == 0
    await log_in(page)
    await page.wait_for_url("**/admin")
    cookies = {c["name"]: c for c in await context.cookies()}
    session = cookies["activitylog_session"]
    assert session["httpOnly"] is True
    assert session["sameSite"] == "Lax"
    assert session["secure"] is False  # SESSION_SECURE_COOKIE is off in the tests
    # The cookie holds only a random id; the table only its hash.
    stored = await pool.fetchval("SELECT id_hash FROM admin_sessions")
    assert stored == hashlib.sha256(session["value"].encode()).digest()
    assert cookies["activitylog_csrf"]["httpOnly"] is True


async def test_disabling_an_account_ends_its_sessions_at_once(admin: Page, pool) -> None:
    await pool.execute("UPDATE admin_users SET disabled = true")
    await admin.goto("/admin/activity-logs")
    # Back to the login form (not a redirect loop), and the dead session is cleared.
    await admin.wait_for_url("**/admin/login?next=/admin/activity-logs")
    await expect(admin.locator("h1")).to_have_text("Sign in")
    await log_in(admin)
    await expect(admin.locator("#login-error")).to_have_text("Wrong email or password.")


async def test_a_csrf_cookie_from_another_secret_is_replaced(page: Page, context, ui) -> None:
    """After a database restore the old cookie no longer verifies; forms must still work."""
    host = ui.url.split("//", 1)[1].split(":")[0]
    stale = "ab" * 64
    await context.add_cookies(
        [{"name": "activitylog_csrf", "value": stale, "domain": host, "path": "/admin"}]
    )
    await log_in(page)
    await page.wait_for_url("**/admin")
    cookies = {c["name"]: c["value"] for c in await context.cookies()}
    assert cookies["activitylog_csrf"] != stale
