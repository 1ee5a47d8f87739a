"""Every route declares a guard (except the public few), and without a key the API says 401."""

from __future__ import annotations

import re
import subprocess
import sys

from litestar.routes import HTTPRoute

from activitylog.runtime.settings import Settings
from activitylog_api.app import create_app
from activitylog_api.auth import ApiKeyGuard, is_public, unguarded_routes


def _handlers(settings: Settings) -> list[tuple[str, object]]:
    app = create_app(settings)
    pairs = []
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            # Litestar adds an OPTIONS handler per path (it answers with the Allow header only).
            if handler.http_methods == {"OPTIONS"} and handler.handler_name == "options_handler":
                continue
            pairs.append((route.path, handler))
    return pairs


def test_no_route_lacks_a_guard(settings: Settings) -> None:
    handlers = _handlers(settings)
    assert len(handlers) > 10
    assert unguarded_routes(handlers) == []  # type: ignore[arg-type]
    public = sorted({path for path, _ in handlers if is_public(path)})
    assert {"/health/live", "/health/ready", "/metrics", "/api/internal/activity-health"} <= set(
        public
    )
    assert all(
        p.startswith(("/schema", "/health", "/metrics", "/api/internal/activity-health", "/admin"))
        or p in {"/asyncapi", "/asyncapi.json", "/asyncapi.yaml"}
        or p.startswith("/static")
        for p in public
    ), public


def test_public_paths_are_declared_once_whatever_was_imported() -> None:
    # A fresh interpreter that imports only `auth`: the admin UI's login form and assets
    # must be public without the app (or anything else) adding them at import time.
    code = (
        "from activitylog_api.auth import is_public; "
        "print(is_public('/admin/login'), is_public('/admin/static/app.css'))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["True", "True"], done.stderr


def _concrete(path: str) -> str:
    samples = {"id": "recAbc123", "airtable_id": "recAbc123"}
    return re.sub(r"\{(\w+):\w+\}", lambda m: samples.get(m[1], "x"), path)


async def test_every_api_key_route_answers_401_without_a_key(api) -> None:
    checked = []
    for path, handler in _handlers(api.settings):
        if not any(isinstance(g, ApiKeyGuard) for g in handler.resolve_guards()):
            continue
        for method in handler.http_methods:
            url = _concrete(path)
            response = await api.http.request(method, url, json={})
            assert response.status_code == 401, (method, url, response.text)
            assert response.json() == {
                "success": False,
                "error": "missing API key (header x-api-key)",
            }
            checked.append(f"{method} {url}")
    assert len(checked) >= 6, checked


async def test_public_routes_need_no_key(api) -> None:
    for path in ("/health/live", "/health/ready", "/api/internal/activity-health", "/metrics"):
        assert (await api.http.get(path)).status_code == 200, path
    schema = (await api.http.get("/schema/openapi.json")).json()
    for path in (
        "/api/internal/log-activity",
        "/api/leads/{id}/activity",
        "/api/admin/activity-logs",
        "/api/admin/activity-logs/counts",
        "/api/admin/activity-logs/export.csv",
        "/api/internal/activity-health",
    ):
        assert path in schema["paths"], path
    assert schema["components"]["securitySchemes"]["apiKey"]["name"] == "x-api-key"
