"""The UI's Jinja templates and static files: paths, filters and cache-busted asset URLs."""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.template.config import TemplateConfig

from activitylog_api.auth import ADMIN_STATIC_PATH as STATIC_PATH
from activitylog_api.ui.present import FILTERS

HERE = Path(__file__).parent
TEMPLATES_DIR = HERE / "templates"
STATIC_DIR = HERE / "static"


@cache
def _fingerprint(name: str) -> str:
    path = (STATIC_DIR / name).resolve()
    if not path.is_relative_to(STATIC_DIR.resolve()) or not path.is_file():
        raise ValueError(f"no static file {name!r}")
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def static_url(name: str) -> str:
    """`/admin/static/NAME?v=HASH`: browsers may cache it for long, a new build busts it."""
    return f"{STATIC_PATH}/{name}?v={_fingerprint(name)}"


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(default=True, default_for_string=True),
        # A misspelt variable should fail in the tests, not render as an empty string.
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(FILTERS)
    env.globals["static_url"] = static_url
    return env


def template_config() -> TemplateConfig[Any]:
    """The app's template config (the UI's are the only HTML templates of the api)."""
    return TemplateConfig(instance=JinjaTemplateEngine.from_environment(_environment()))
