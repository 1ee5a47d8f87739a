"""What the event counters count: pure rules."""
