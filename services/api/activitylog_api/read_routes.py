"""The one table of which routes read from the replica (docs/SCALING.md says why each)."""

from __future__ import annotations

# GET routes that only read what was stored before the request, so a second's staleness is
# the same as having asked a second earlier. Everything else stays on the primary: writes,
# the retry queue (an operator replays, then looks), sign-in, sessions and API keys, health,
# the dashboard (its watch-rule forms redirect to it), and the live follows of the log
# (their cursor must not run ahead of the server they read).
REPLICA_READS: frozenset[str] = frozenset(
    {
        # JSON API: a lead's timeline and overview, the browser, counts, analytics, exports.
        "/api/leads/{id}",
        "/api/leads/{id}/activity",
        "/api/admin/activity-logs",
        "/api/admin/activity-logs/counts",
        "/api/admin/activity-logs/export.csv",
        "/api/analytics/delivery",
        "/api/analytics/delivery.csv",
        "/api/analytics/funnel",
        "/api/analytics/funnel.csv",
        "/api/analytics/replies",
        "/api/analytics/replies.csv",
        "/api/analytics/timing",
        "/api/analytics/timing.csv",
        # Admin pages: the browser and its export, a lead's page and its parts, analytics.
        "/admin/activity-logs",
        "/admin/activity-logs/export.csv",
        "/admin/analytics",
        "/admin/lead-suggestions",
        "/admin/leads/{reference}",
        "/admin/leads/{reference}/context",
        "/admin/leads/{reference}/recent",
    }
)


def reads_from_replica(method: str, path_template: str | None) -> bool:
    """True when this request may be answered from the replica."""
    return method in ("GET", "HEAD") and path_template in REPLICA_READS
