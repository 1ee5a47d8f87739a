"""Sign-in over plain HTTP from several client addresses: session-bound CSRF tokens, the same
answer whether or not an account exists, and throttling per address and per account."""

from __future__ import annotations

import asyncio
import functools
import html
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from ui_support import ADMIN_EMAIL, ADMIN_PASSWORD, admin_password_hash

from activitylog.runtime.settings import Settings
from activitylog.storage import admin_users
from activitylog_api.service import run_api
from activitylog_testing.ports import free_port
from activitylog_testing.serving import answering, running

# Loopback addresses other than 127.0.0.1: the api sees each as its own client, and none is
# a proxy uvicorn believes (FORWARDED_ALLOW_IPS), so X-Forwarded-For from them is ignored.
ATTACKER = "127.0.0.2"
ADMIN_DESK = "127.0.0.3"
MAX_FAILURES = 3
PER_ADDRESS = 7
WINDOW_S = 120


@pytest.fixture
def ui_settings(ui_settings: Settings) -> Settings:
    return ui_settings.model_copy(
        update={
            "login_max_failures": MAX_FAILURES,
            "login_max_failures_per_address": PER_ADDRESS,
            "login_lockout_s": WINDOW_S,
        }
    )


@asynccontextmanager
async def client(url: str, address: str = "127.0.0.1") -> AsyncIterator[httpx.AsyncClient]:
    """A browser-like client (it keeps cookies) connecting from `address`."""
    transport = httpx.AsyncHTTPTransport(local_address=address)
    async with httpx.AsyncClient(base_url=url, transport=transport, timeout=30) as http:
        yield http


async def form_token(http: httpx.AsyncClient, path: str = "/admin/login") -> str:
    page = await http.get(path)
    assert page.status_code == 200, page.text
    found = re.search(r'name="_csrf_token" value="([^"]+)"', page.text)
    assert found is not None, page.text
    return found.group(1)


async def attempt(
    http: httpx.AsyncClient, email: str, password: str, token: str | None = None
) -> httpx.Response:
    token = token if token is not None else await form_token(http)
    return await http.post(
        "/admin/login",
        data={"_csrf_token": token, "email": email, "password": password, "next": ""},
    )


def error_text(response: httpx.Response) -> str:
    found = re.search(r'id="login-error">([^<]*)<', response.text)
    assert found is not None, response.text
    return html.unescape(found.group(1))


def retry_after(response: httpx.Response) -> int:
    value = int(response.headers["retry-after"])
    assert 0 < value <= WINDOW_S
    return value


async def test_a_token_from_before_sign_in_or_from_another_session_is_refused(ui) -> None:
    async with client(ui.url) as mine, client(ui.url) as other:
        before = await form_token(mine)
        # Before sign-in too, a token goes only with the cookie of the browser it was sent to.
        theirs = await form_token(other)
        assert (await attempt(mine, ADMIN_EMAIL, ADMIN_PASSWORD, theirs)).status_code == 403
        signed_in = await attempt(mine, ADMIN_EMAIL, ADMIN_PASSWORD, before)
        assert signed_in.status_code == 303
        own = await form_token(mine, "/admin/retry-queue")
        assert (await attempt(other, ADMIN_EMAIL, ADMIN_PASSWORD)).status_code == 303
        others = await form_token(other, "/admin/retry-queue")
        assert len({before, own, others}) == 3

        for foreign in (before, others):
            refused = await mine.post("/admin/logout", data={"_csrf_token": foreign})
            assert refused.status_code == 403
            assert "expired" in refused.text
            assert (await mine.get("/admin/retry-queue")).status_code == 200  # still signed in
        # The token in the header is checked the same way as the one in the form.
        refused = await mine.post("/admin/logout", headers={"x-csrftoken": before})
        assert refused.status_code == 403
        signed_out = await mine.post("/admin/logout", data={"_csrf_token": own})
        assert signed_out.status_code == 303
        assert (await mine.get("/admin/retry-queue")).status_code == 303


async def test_unknown_disabled_wrong_and_throttled_accounts_get_the_same_answer(ui, pool) -> None:
    async with pool.acquire() as conn:
        await admin_users.upsert(conn, "gone@example.com", admin_password_hash())
        await admin_users.set_disabled(conn, "gone@example.com", True)
    # Each from its own address, so that only the account's own limit comes into play.
    cases = {
        "wrong password": (ADMIN_EMAIL, "not the password", "127.0.0.11"),
        "unknown email": ("nobody@example.com", "not the password", "127.0.0.12"),
        "disabled account": ("gone@example.com", ADMIN_PASSWORD, "127.0.0.13"),
    }
    answers: dict[str, list[tuple[int, str]]] = {}
    throttled: dict[str, tuple[int, str]] = {}
    for name, (email, password, address) in cases.items():
        async with client(ui.url, address) as http:
            answers[name] = []
            for _ in range(MAX_FAILURES):
                response = await attempt(http, email, password)
                answers[name].append((response.status_code, error_text(response)))
            # Over the limit, a real account and an unknown email are throttled alike.
            response = await attempt(http, email, password)
            throttled[name] = (response.status_code, error_text(response))
            retry_after(response)
            if name == "wrong password":
                # Even the right password waits now, from this address.
                assert (await attempt(http, email, ADMIN_PASSWORD)).status_code == 429
    first = answers["wrong password"]
    assert first == [(401, "Wrong email or password.")] * MAX_FAILURES
    assert answers["unknown email"] == first
    assert answers["disabled account"] == first
    assert len(set(throttled.values())) == 1, throttled
    status, text = throttled["wrong password"]
    assert status == 429
    assert text.startswith("Too many sign-in attempts")
    assert "locked" not in text  # nothing tells that this account exists


async def test_one_address_is_throttled_across_usernames_and_api_processes(
    ui, ui_settings: Settings
) -> None:
    second = ui_settings.model_copy(update={"api_port": free_port()})
    second_url = f"http://127.0.0.1:{second.api_port}"
    async with (
        running(functools.partial(run_api, second)),
        client(ui.url, ATTACKER) as one,
        client(second_url, ATTACKER) as two,
    ):
        await answering(two, timeout=20, message="the second api to listen")
        # A new username each time, so no account reaches its own limit; the attempts go
        # to two api processes in turn.
        statuses = [
            (await attempt((one, two)[n % 2], f"guess{n}@example.com", "password1")).status_code
            for n in range(PER_ADDRESS)
        ]
        assert statuses == [401] * PER_ADDRESS
        for n, http in enumerate((one, two)):
            refused = await attempt(http, f"more{n}@example.com", "password1")
            assert refused.status_code == 429
            assert error_text(refused).startswith("Too many sign-in attempts")
            retry_after(refused)
        # X-Forwarded-For from a client that is no trusted proxy changes nothing.
        token = await form_token(one)
        spoofed = await one.post(
            "/admin/login",
            data={"_csrf_token": token, "email": "spoof@example.com", "password": "password1"},
            headers={"X-Forwarded-For": "203.0.113.9"},
        )
        assert spoofed.status_code == 429


async def test_the_real_admin_signs_in_from_another_address_while_a_guesser_is_throttled(
    ui,
) -> None:
    async with client(ui.url, ATTACKER) as attacker, client(ui.url, ADMIN_DESK) as admin:
        for _ in range(MAX_FAILURES):
            assert (await attempt(attacker, ADMIN_EMAIL, "guess-guess")).status_code == 401
        assert (await attempt(attacker, ADMIN_EMAIL, "guess-guess")).status_code == 429
        assert (await attempt(attacker, ADMIN_EMAIL, ADMIN_PASSWORD)).status_code == 429
        # Spreading over other usernames ends with the whole address throttled as well.
        n = 0
        while (await attempt(attacker, f"other{n}@example.com", "guess-guess")).status_code == 401:
            n += 1
            assert n <= PER_ADDRESS
        signed_in = await attempt(admin, ADMIN_EMAIL, ADMIN_PASSWORD)
        assert signed_in.status_code == 303
        assert signed_in.headers["location"] == "/admin"
        assert (await admin.get("/admin")).status_code == 200
    async with client(ui.url, ADMIN_DESK) as colleague:
        # The account is not throttled from the admin's desk: a typo there is just a typo.
        assert (await attempt(colleague, ADMIN_EMAIL, "typo typo typo")).status_code == 401


async def test_attempts_sent_at_once_do_not_slip_past_the_limit(ui) -> None:
    async with client(ui.url, ATTACKER) as http:
        token = await form_token(http)
        responses = await asyncio.gather(
            *(attempt(http, f"burst{n}@example.com", "password1", token) for n in range(20))
        )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [401] * PER_ADDRESS + [429] * (20 - PER_ADDRESS)
