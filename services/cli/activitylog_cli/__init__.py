"""The `activitylog` command: composition root that wires the services together."""
