"""The pure bottom layer: the domain's types and rules, no I/O (docs/ARCHITECTURE.md)."""
