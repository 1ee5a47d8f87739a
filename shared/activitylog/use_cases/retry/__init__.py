"""Re-driving, replaying, discarding and importing retry-queue rows."""
