"""Keeping the analytics current (keeping), the four answers (reports), the demo history."""
