"""Fault injection for the poison test, outside the product: a worker that exits mid-batch.

A child process whose PYTHONPATH starts with this folder imports it at start-up. When
FAULT_CRASH_MARKER is set, the stream processor exits at once (code 70, as a crash would,
with nothing acknowledged) whenever a batch holds an entry carrying the marker.
"""

from __future__ import annotations

import os

_MARKER = os.environ.get("FAULT_CRASH_MARKER", "").encode()

if _MARKER:
    from activitylog.ingest.processor import StreamProcessor

    _handle = StreamProcessor.handle

    async def _crashing_handle(self, entries, **options):  # type: ignore[no-untyped-def]
        for _, fields in entries:
            if fields and any(_MARKER in value for value in fields.values()):
                os._exit(70)
        return await _handle(self, entries, **options)

    StreamProcessor.handle = _crashing_handle  # type: ignore[method-assign]
