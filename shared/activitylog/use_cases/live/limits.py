"""How long a wait may last, how often a live stream looks, and the live metrics."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

# A client may ask to wait at most this long for its events to be stored (Prefer: wait=N).
MAX_WAIT_S = 5.0
# While waiting, the database is asked directly this often (an announcement may be lost).
WAIT_CHECK_S = 1.0
# A live stream looks at the database at least this often, announced or not.
FALLBACK_POLL_S = 5.0
# Rows a live stream reads per statement, and sends per wake-up at most.
TAIL_PAGE = 200
MAX_ROWS_PER_WAKE = 500
# Rows above the horizon a stream remembers having sent; past this (a transaction kept open
# for long elsewhere), it stops looking back below the newest of them.
MAX_BAND = 5_000

LIVE_STREAMS = Gauge(
    "activitylog_api_live_streams",
    "Live event streams (server-sent events) open now",
    multiprocess_mode="livesum",
)
WAITS = Counter(
    "activitylog_api_write_waits",
    "POSTs that waited for their events to be stored (Prefer: wait), by outcome "
    "(stored, parked: in the retry queue, timeout)",
    ["outcome"],
)
