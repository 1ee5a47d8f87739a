"""The retry service: re-drives retry_queue, claims stale stream entries, alerts."""
