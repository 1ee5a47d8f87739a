"""The one table of replica reads names real GET routes, and never one that must see its writes."""

from __future__ import annotations

from activitylog.runtime.settings import Settings
from activitylog_api.app import create_app
from activitylog_api.read_routes import REPLICA_READS, reads_from_replica


def _get_routes() -> set[str]:
    app = create_app(Settings(database_url="postgresql://unused/x", redis_url="redis://unused"))
    return {
        route.path_format
        for route in app.routes
        for handler in getattr(route, "route_handlers", [])
        if "GET" in (getattr(handler, "http_methods", None) or ())
    }


def test_every_replica_read_is_a_get_route() -> None:
    assert not REPLICA_READS - _get_routes()


def test_what_must_read_its_own_writes_stays_on_the_primary() -> None:
    primary_only = {
        path
        for path in _get_routes()
        if "/live/" in path
        or path.endswith("/stream")
        or "retry-queue" in path
        or path.startswith(("/health", "/admin/login", "/admin/preferences", "/api/internal"))
        or path in ("/admin", "/admin/reconcile", "/metrics")
    }
    assert primary_only, "the filter above must name real routes"
    assert not primary_only & REPLICA_READS


def test_only_reading_methods_of_listed_routes() -> None:
    assert reads_from_replica("GET", "/api/leads/{id}/activity")
    assert not reads_from_replica("POST", "/api/leads/{id}/activity")
    assert not reads_from_replica("GET", "/api/admin/activity-logs/stream")
    assert not reads_from_replica("GET", None)
