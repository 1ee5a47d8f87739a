"""The retry service (§6): re-drives retry_queue, claims stale stream entries, alerts."""
