"""/admin/preferences: the signed-in admin's own settings (their time zone)."""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from functools import cache
from typing import Annotated, Any

from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER

from activitylog.storage import admin_users
from activitylog_api.state import ApiServices
from activitylog_api.ui.guard import SESSION, flash, page_context, safe_next, user_zone
from activitylog_api.ui.sessions import USER_KEY

PATH = "/admin/preferences"


@cache
def zone_names() -> tuple[str, ...]:
    """Every IANA zone this server knows, UTC first."""
    names = sorted(zoneinfo.available_timezones() - {"UTC"})
    return ("UTC", *names)


@dataclass
class ZoneForm:
    time_zone: str = ""
    back: str = ""


@get(PATH, guards=[SESSION], include_in_schema=False)
async def preferences_page(request: Request[Any, Any, Any]) -> Template:
    context = page_context(
        request,
        "preferences",
        zones=zone_names(),
        zone=user_zone(request),
        back=safe_next(request.query_params.get("back")),
    )
    return Template(template_name="preferences.html", context=context)


@post(PATH, guards=[SESSION], include_in_schema=False)
async def save_preferences(
    request: Request[Any, Any, Any],
    services: NamedDependency[ApiServices],
    data: Annotated[ZoneForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
) -> Redirect:
    name = data.time_zone.strip()
    if name not in zone_names():
        flash(request, "error", f"time_zone: {name!r} is not a time zone name (e.g. Europe/Paris).")
        return Redirect(path=PATH, status_code=HTTP_303_SEE_OTHER)
    async with services.pool.acquire() as conn:
        await admin_users.set_time_zone(conn, int(request.session[USER_KEY]), name)
    flash(request, "success", f"Time zone set to {name}.")
    return Redirect(path=safe_next(data.back or None), status_code=HTTP_303_SEE_OTHER)
