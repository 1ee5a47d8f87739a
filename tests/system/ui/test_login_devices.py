"""Sign-in throttling that cannot be turned against the admin (OWASP, authentication cheat
sheet): a known device (signed cookie) is never locked out by others' failures, failures on
an account only slow unknown devices down, successes do not count against an address."""

from __future__ import annotations

import pytest
from test_login_hardening import attempt, client, error_text, form_token
from ui_support import ADMIN_EMAIL, ADMIN_PASSWORD

from activitylog.runtime.settings import Settings
from activitylog.use_cases.access.accounts import DEVICE_COOKIE

MAX_FAILURES = 3
PER_ADDRESS = 7
DELAY_S = 2.0
MAX_DELAY_S = 60.0
WINDOW_S = 300
WRONG = "not the password"


@pytest.fixture
def ui_settings(ui_settings: Settings) -> Settings:
    return ui_settings.model_copy(
        update={
            "login_max_failures": MAX_FAILURES,
            "login_max_failures_per_address": PER_ADDRESS,
            "login_delay_s": DELAY_S,
            "login_max_delay_s": MAX_DELAY_S,
            "login_lockout_s": WINDOW_S,
        }
    )


def _address(n: int) -> str:
    return f"127.0.{10 + n // 250}.{1 + n % 250}"


async def _fail_from_many_addresses(url: str, count: int, first: int = 0) -> None:
    for n in range(first, first + count):
        async with client(url, _address(n)) as http:
            response = await attempt(http, ADMIN_EMAIL, WRONG)
            assert response.status_code == 401, (n, response.status_code)


async def test_fifty_failures_from_fifty_addresses_do_not_stop_a_new_address(ui) -> None:
    # Before: the account's 50th attempt locked it for everyone for LOGIN_LOCKOUT_S.
    await _fail_from_many_addresses(ui.url, 50)
    async with client(ui.url, "127.0.3.1") as admin:
        signed_in = await attempt(admin, ADMIN_EMAIL, ADMIN_PASSWORD)
        assert signed_in.status_code == 303, signed_in.text
    # An unknown device that then fails waits before its next try, as long as the account's
    # failures make it (doubling from LOGIN_DELAY_S, capped at LOGIN_MAX_DELAY_S).
    async with client(ui.url, "127.0.3.2") as newcomer:
        assert (await attempt(newcomer, ADMIN_EMAIL, WRONG)).status_code == 401
        waiting = await attempt(newcomer, ADMIN_EMAIL, ADMIN_PASSWORD)
        assert waiting.status_code == 429
        assert int(waiting.headers["retry-after"]) == MAX_DELAY_S
        assert error_text(waiting).startswith("Too many sign-in attempts")


async def test_each_failure_of_an_account_makes_unknown_devices_wait_longer(ui) -> None:
    waits = []
    for n in range(4):
        async with client(ui.url, _address(n)) as http:
            assert (await attempt(http, ADMIN_EMAIL, WRONG)).status_code == 401
            again = await attempt(http, ADMIN_EMAIL, WRONG)
            assert again.status_code == 429
            waits.append(int(again.headers["retry-after"]))
    # The n-th failure of the account: DELAY_S · 2^(n-1) seconds before that device's next.
    assert waits == [2, 4, 8, 16]
    # Another account is not slowed by this one's failures.
    async with client(ui.url, _address(0)) as http:
        assert (await attempt(http, "someone@example.com", WRONG)).status_code == 401


async def test_a_known_device_is_never_locked_out_by_others(ui) -> None:
    desk = "127.0.4.1"
    async with client(ui.url, desk) as admin:
        assert (await attempt(admin, ADMIN_EMAIL, ADMIN_PASSWORD)).status_code == 303
        device = admin.cookies.get(DEVICE_COOKIE)
        assert device, admin.cookies
    # Others fail at the account from many addresses, and at the desk's own address (the
    # office's shared address) until that address is throttled.
    await _fail_from_many_addresses(ui.url, 60)
    async with client(ui.url, desk) as colleague:
        for n in range(PER_ADDRESS):
            response = await attempt(colleague, f"guess{n}@example.com", WRONG)
            assert response.status_code == 401
        assert (await attempt(colleague, ADMIN_EMAIL, ADMIN_PASSWORD)).status_code == 429
    # The admin's browser, from that same throttled address, still signs in at once.
    async with client(ui.url, desk) as admin:
        admin.cookies.set(DEVICE_COOKIE, device, path="/admin/login")
        signed_in = await attempt(admin, ADMIN_EMAIL, ADMIN_PASSWORD)
        assert signed_in.status_code == 303, signed_in.text
        assert (await admin.get("/admin")).status_code == 200
    # Its own failures throttle it alone, after LOGIN_MAX_FAILURES.
    async with client(ui.url, desk) as admin:
        admin.cookies.set(DEVICE_COOKIE, device, path="/admin/login")
        for _ in range(MAX_FAILURES):
            assert (await attempt(admin, ADMIN_EMAIL, WRONG)).status_code == 401
        assert (await attempt(admin, ADMIN_EMAIL, ADMIN_PASSWORD)).status_code == 429


async def test_a_device_cookie_counts_only_for_its_account_and_only_when_signed(ui) -> None:
    async with client(ui.url, "127.0.5.1") as admin:
        assert (await attempt(admin, ADMIN_EMAIL, ADMIN_PASSWORD)).status_code == 303
        device = admin.cookies.get(DEVICE_COOKIE)
    issued, nonce, mac = device.split(".")
    forged = [f"{issued}.{nonce}.{'0' * len(mac)}", f"{int(issued) - 91 * 86_400}.{nonce}.{mac}"]
    for n, cookie in enumerate(forged):
        async with client(ui.url, _address(100 + n)) as http:
            http.cookies.set(DEVICE_COOKIE, cookie, path="/admin/login")
            assert (await attempt(http, ADMIN_EMAIL, WRONG)).status_code == 401
            # An unknown device: the account's failure delays its next try.
            assert (await attempt(http, ADMIN_EMAIL, ADMIN_PASSWORD)).status_code == 429
    # The admin's cookie does nothing for another account: unknown there.
    async with client(ui.url, _address(110)) as http:
        http.cookies.set(DEVICE_COOKIE, device, path="/admin/login")
        assert (await attempt(http, "other@example.com", WRONG)).status_code == 401
        assert (await attempt(http, "other@example.com", WRONG)).status_code == 429


async def test_successful_sign_ins_do_not_count_against_an_address(ui) -> None:
    office = "127.0.6.1"
    # Before: twenty good sign-ins (PER_ADDRESS is 7 here) locked the office's address.
    for _ in range(20):
        async with client(ui.url, office) as http:
            assert (await attempt(http, ADMIN_EMAIL, ADMIN_PASSWORD)).status_code == 303
    # The address still has its whole allowance of failures.
    async with client(ui.url, office) as http:
        for n in range(PER_ADDRESS):
            assert (await attempt(http, f"typo{n}@example.com", WRONG)).status_code == 401
        token = await form_token(http)
        refused = await attempt(http, "one-more@example.com", WRONG, token)
        assert refused.status_code == 429
