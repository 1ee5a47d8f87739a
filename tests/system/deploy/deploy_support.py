"""Helpers for the deployment tests: compose/.env parsing, free ports, /metrics scraping."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml
from prometheus_client.parser import text_string_to_metric_families

from activitylog.runtime.settings import Settings

REPO = Path(__file__).resolve().parents[3]
COMPOSE = REPO / "compose.yaml"
DOCKERFILE = REPO / "deploy" / "Dockerfile"
ENV_EXAMPLE = REPO / ".env.example"
SETTINGS = {name.upper() for name in Settings.model_fields}

# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?err}, ${NAME?err} (compose interpolation)
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])((?:[^{}]|\{[^{}]*\})*))?\}")


def load_compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def interpolated_variables(text: str) -> dict[str, str | None]:
    """Every variable compose interpolates in `text`, with its default (None if it has none)."""
    found: dict[str, str | None] = {}
    for match in _VAR.finditer(text.replace("$$", "")):
        name, op, default = match.groups()
        found.setdefault(name, default if op in ("-", ":-") else None)
    return found


def with_defaults(value: Any) -> Any:
    """A compose value as `docker compose config` would render it with an empty .env."""
    if isinstance(value, str):
        text = _VAR.sub(lambda m: m.group(3) or "", value.replace("$$", "\0"))
        return text.replace("\0", "$")
    if isinstance(value, list):
        return [with_defaults(v) for v in value]
    if isinstance(value, dict):
        return {k: with_defaults(v) for k, v in value.items()}
    return value


@dataclass(frozen=True)
class EnvLine:
    name: str
    value: str
    active: bool  # False for a commented-out `# NAME=value`
    line: int


def env_example_lines() -> list[EnvLine]:
    lines: list[EnvLine] = []
    pattern = re.compile(r"^(#\s*)?([A-Z][A-Z0-9_]*)=(.*)$")
    for number, raw in enumerate(ENV_EXAMPLE.read_text().splitlines(), 1):
        match = pattern.match(raw.strip())
        if match:
            lines.append(EnvLine(match[2], match[3], match[1] is None, number))
    return lines


def app_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Services that run the activitylog image (they have the build section)."""
    return {name: svc for name, svc in compose["services"].items() if "build" in svc}


def run_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "activitylog_cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        check=False,
    )


class Metrics:
    """One scrape of a /metrics page, parsed by prometheus_client's own parser."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.families = {f.name: f for f in text_string_to_metric_families(text)}

    def samples(self) -> Iterator[Any]:
        for family in self.families.values():
            yield from family.samples

    def value(self, name: str, **labels: str) -> float:
        """Sum of the samples called `name` whose labels include `labels` (0 if none)."""
        total = 0.0
        for sample in self.samples():
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
        return total

    def has(self, name: str) -> bool:
        return any(sample.name == name for sample in self.samples())


async def scrape(url: str) -> Metrics:
    async with httpx.AsyncClient(timeout=5) as client:
        response = await client.get(url)
    response.raise_for_status()
    assert response.headers["content-type"].startswith("text/plain"), response.headers
    return Metrics(response.text)


async def try_scrape(url: str) -> Metrics | None:
    try:
        return await scrape(url)
    except (httpx.HTTPError, OSError):
        return None


async def wait_exit(proc: subprocess.Popen[bytes], timeout: float) -> tuple[int | None, float]:
    """Wait for a process without blocking the loop; (exit code or None, seconds waited)."""
    started = time.monotonic()
    deadline = started + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    return proc.poll(), time.monotonic() - started


def json_log_lines(path: Path) -> list[dict[str, Any]]:
    """Every line of a LOG_FORMAT=json log; a line that is not JSON fails the test."""
    import orjson

    lines = []
    for raw in path.read_bytes().splitlines():
        if raw.strip():
            try:
                lines.append(orjson.loads(raw))
            except orjson.JSONDecodeError as exc:
                raise AssertionError(f"log line is not JSON: {raw[:300]!r}") from exc
    return lines
