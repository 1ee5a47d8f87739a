"""/admin/watch-rules: add and remove expected-source rules from the health panel (CSRF forms)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Request, post
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath
from litestar.response import Redirect
from litestar.status_codes import HTTP_303_SEE_OTHER

from activitylog.domain.watch.rules import (
    RuleError,
    WatchRule,
    format_duration,
    parse_duration,
    parse_pattern,
    parse_window,
    parse_zone,
)
from activitylog.storage import watch_rules
from activitylog_api import params
from activitylog_api.state import ApiServices
from activitylog_api.ui.guard import SESSION, flash

PATH = "/admin/watch-rules"


@dataclass
class RuleForm:
    source: str = ""
    every: str = ""
    between: str = ""
    tz: str = "UTC"
    back: str = ""


@dataclass
class RemoveForm:
    back: str = ""


def _back(value: str) -> str:
    """Return to the admin page the form was on, never anywhere else."""
    ok = value.startswith("/admin") and not value.startswith("//") and "\\" not in value
    return value if ok else "/admin"


@post(PATH, guards=[SESSION], include_in_schema=False)
async def add_watch_rule(
    request: Request[Any, Any, Any],
    services: NamedDependency[ApiServices],
    data: Annotated[RuleForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
) -> Redirect:
    try:
        rule = WatchRule(
            parse_pattern(data.source, "source"),
            parse_duration(data.every, "every"),
            parse_window(data.between, parse_zone(data.tz, "time zone"), "between"),
        )
    except RuleError as exc:
        flash(request, "error", f"Watch rule not added: {exc.field} {exc.message}")
    else:
        async with services.pool.acquire() as conn:
            kept = await watch_rules.add(conn, rule)
        flash(
            request,
            "success",
            f"Watching {kept.pattern}: at least every {format_duration(kept.max_silence)}"
            + (f" between {kept.window.text()}" if kept.window else "")
            + ".",
        )
    return Redirect(path=_back(data.back), status_code=HTTP_303_SEE_OTHER)


@post(f"{PATH}/{{rule_id:int}}/remove", guards=[SESSION], include_in_schema=False)
async def remove_watch_rule(
    request: Request[Any, Any, Any],
    services: NamedDependency[ApiServices],
    rule_id: FromPath[int],
    data: Annotated[RemoveForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
) -> Redirect:
    gone = None
    if 0 < rule_id <= params.MAX_BIGINT:
        async with services.pool.acquire() as conn:
            gone = await watch_rules.remove(conn, str(rule_id))
    if gone is None:
        flash(request, "error", f"Watch rule #{rule_id} does not exist.")
    else:
        flash(request, "success", f"No longer watching {gone.pattern}.")
    return Redirect(path=_back(data.back), status_code=HTTP_303_SEE_OTHER)
