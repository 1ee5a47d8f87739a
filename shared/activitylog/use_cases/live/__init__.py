"""Live: what the ingest stored, told at once to the API that waits for it.

- The ingest announces each committed batch on a Redis pub/sub channel beside its stream
  (`StoredAnnouncer`, called by `activitylog.ingest.reporting` after the batch's report):
  the ids stored (or found already there), the ids parked in the retry queue, the leads
  they named. Best effort: a lost announcement only makes a reader look later.
- Each API process holds one subscription (`LiveHub`): a POST with `Prefer: wait` waits on
  it for its ids to be stored (docs/CONTRACT.md §5), and each live stream (server-sent
  events) wakes on it to read what is new for it.
- A live stream reads the log in its own order (`LogFollower`, over storage.live): rows
  above a horizon below which every transaction has ended, each row sent once; a slow
  look at the database every few seconds catches what no announcement told (events stored
  by the retry service, the API's direct fallback, a backfill).
"""

from activitylog.use_cases.live.announcements import Announcement, StoredAnnouncer, announcement_of
from activitylog.use_cases.live.following import LogFollower, follow
from activitylog.use_cases.live.hub import LiveHub, stored_among
from activitylog.use_cases.live.limits import MAX_ROWS_PER_WAKE, MAX_WAIT_S

__all__ = [
    "MAX_ROWS_PER_WAKE",
    "MAX_WAIT_S",
    "Announcement",
    "LiveHub",
    "LogFollower",
    "StoredAnnouncer",
    "announcement_of",
    "follow",
    "stored_among",
]
