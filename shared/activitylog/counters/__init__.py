"""Counters of stored events: what the write path keeps, so reads cost buckets, not rows."""
