"""The admin UI, served by the api: server-rendered pages, a session login, CSRF forms.

`create_app` adds `ui_route_handlers(settings)` to its routes and `template_config()` as its
templates; the UI's own middleware (sessions, CSRF) and error pages apply to its routes only.
"""

from __future__ import annotations

from litestar import Router
from litestar.datastructures import CacheControlHeader, ResponseHeader
from litestar.static_files import create_static_files_router
from litestar.types import ControllerRouterHandler

from activitylog.runtime.settings import Settings
from activitylog_api.ui.activity import activity_logs
from activitylog_api.ui.analytics_page import analytics_page
from activitylog_api.ui.csrf import csrf_middleware
from activitylog_api.ui.dashboard import dashboard
from activitylog_api.ui.errors import EXCEPTION_HANDLERS
from activitylog_api.ui.export import export_csv
from activitylog_api.ui.lead_page import lead_context, lead_page, lead_suggestions
from activitylog_api.ui.login import login_page, login_submit, logout
from activitylog_api.ui.preferences import preferences_page, save_preferences
from activitylog_api.ui.reconcile_page import reconcile_page, reconcile_submit
from activitylog_api.ui.retry_page import discard_row, raw_payload, replay_row, retry_queue_page
from activitylog_api.ui.sessions import AdminSessionConfig
from activitylog_api.ui.templating import STATIC_DIR, STATIC_PATH, template_config
from activitylog_api.ui.watch_rules import add_watch_rule, remove_watch_rule

__all__ = ["template_config", "ui_route_handlers"]

_SECURITY_HEADERS = [
    ResponseHeader(
        name="Content-Security-Policy",
        value="default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; frame-ancestors 'none'; base-uri 'self'; form-action 'self'",
    ),
    ResponseHeader(name="X-Frame-Options", value="DENY"),
    ResponseHeader(name="X-Content-Type-Options", value="nosniff"),
    ResponseHeader(name="Referrer-Policy", value="same-origin"),
]


def ui_route_handlers(settings: Settings) -> list[ControllerRouterHandler]:
    """The admin pages (one router with the session and CSRF middleware) and static files."""
    sessions = AdminSessionConfig(
        key="activitylog_session",
        path="/admin",
        max_age=settings.session_max_age_s,
        renew_on_access=True,
        secure=settings.session_secure_cookie,
        httponly=True,
        samesite="lax",
    )
    pages = Router(
        path="/",
        route_handlers=[
            login_page,
            login_submit,
            logout,
            dashboard,
            analytics_page,
            activity_logs,
            export_csv,
            lead_page,
            lead_context,
            lead_suggestions,
            preferences_page,
            save_preferences,
            retry_queue_page,
            raw_payload,
            replay_row,
            discard_row,
            add_watch_rule,
            remove_watch_rule,
            reconcile_page,
            reconcile_submit,
        ],
        middleware=[sessions.middleware, csrf_middleware(settings.session_secure_cookie)],
        exception_handlers=EXCEPTION_HANDLERS,
        response_headers=_SECURITY_HEADERS,
        include_in_schema=False,
    )
    static = create_static_files_router(
        path=STATIC_PATH,
        directories=[STATIC_DIR],
        cache_control=CacheControlHeader(max_age=86_400 * 30, public=True),
        include_in_schema=False,
    )
    return [pages, static]
