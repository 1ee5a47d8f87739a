"""Container health probe: exit 0 when GET URL answers 2xx in time, else 1 (stdlib only)."""

from __future__ import annotations

import sys
import urllib.error
import urllib.request


def probe(url: str, timeout_s: float = 3.0) -> bool:
    """True when `url` answers with a 2xx status within `timeout_s` seconds."""
    try:
        # The URL comes from compose.yaml, never from a request: no scheme to audit.
        with urllib.request.urlopen(url, timeout=timeout_s) as response:  # noqa: S310
            return 200 <= response.status < 300
    except (urllib.error.URLError, OSError, ValueError) as exc:
        print(f"unhealthy: {url}: {exc}", file=sys.stderr)
        return False


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 3):
        print("usage: healthcheck.py URL [TIMEOUT_S]", file=sys.stderr)
        return 2
    return 0 if probe(argv[1], float(argv[2]) if len(argv) == 3 else 3.0) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
