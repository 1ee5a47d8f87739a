"""When the browser's totals come from the event counters."""
