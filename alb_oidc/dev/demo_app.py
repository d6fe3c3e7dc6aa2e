"""The example FastAPI app behind an ALB, protected by alb-oidc (and what `alb-oidc demo` runs).

Routes: `/` (HTML: what the ALB did, who is logged in, with claims, scopes and groups, and a
link to every route), `/me` (JSON), `/tasks` (scope `tasks/read`), `/write` (scope
`tasks/write`), `/admin` (group `admins`), `/logout` (expires every session cookie shard, then
the IdP's logout), and the public `/health` and `/bye`. A browser gets 401 and 403 as HTML pages
with a link back; other clients get the usual JSON.

Behind a real ALB, configure it from the environment (see docs/configuration.md):

    uvicorn alb_oidc.dev.demo_app:create_app --factory
"""

from __future__ import annotations

import dataclasses
import html
from datetime import UTC, datetime
from typing import Any

import httpx2
from fastapi import FastAPI, HTTPException, Request, Security
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.requests import HTTPConnection

from ..config import ALBConfig
from ..errors import AuthError, error_payload
from ..guards import current_user, optional_user, require_groups, require_scopes
from ..logout import logout_endpoint
from ..middleware import CONFIG_SCOPE_KEY, ALBAuthMiddleware
from ..user import ALBUser

__all__ = ["PUBLIC_PATHS", "create_app"]

PUBLIC_PATHS = ("/health", "/bye")
"""Paths outside the authenticate rule: `/bye` must be, or logging out logs straight back in."""

_PAGE = (
    "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{title}</title>"
    "<style>body{{font-family:system-ui,sans-serif;max-width:44rem;margin:3rem auto;"
    "padding:0 1rem}}th{{text-align:left;padding-right:1rem}}td,th{{vertical-align:top}}"
    "</style></head><body>{body}</body></html>"
)


def _page(title: str, body: str) -> str:
    return _PAGE.format(title=html.escape(title), body=body)


#: Every route of the app, with what it needs: the home page links them all.
_ROUTES = (
    ("/me", "JSON: the verified user"),
    ("/tasks", "scope tasks/read"),
    ("/write", "scope tasks/write"),
    ("/admin", "group admins"),
    ("/health", "public: no login"),
    ("/docs", "the OpenAPI page, with the scopes each route needs"),
    ("/logout", "expires every session cookie shard, then the IdP's logout"),
)


def _links() -> str:
    items = "".join(
        f"<li><a href='{path}'>{path}</a>: {html.escape(note)}</li>" for path, note in _ROUTES
    )
    return f"<h2>Routes</h2><ul id='routes'>{items}</ul>"


def _claim(name: str, value: object) -> str:
    if name == "exp" and isinstance(value, int | float) and not isinstance(value, bool):
        when = datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        return f"{value} ({when}: the data token's expiry; the ALB signs a new one per request)"
    return str(value)


def _home(user: ALBUser | None) -> str:
    if user is None:
        return _page(
            "Not logged in",
            "<h1>Not logged in</h1><p>This page is public, so the load balancer forwarded the "
            "request without a login. <a href='/me'>Log in</a></p>" + _links(),
        )
    rows = "".join(
        f"<tr><th>{html.escape(str(name))}</th><td>{html.escape(_claim(name, value))}</td></tr>"
        for name, value in sorted(user.claims.items())
    )
    scopes = html.escape(" ".join(sorted(user.scopes))) or "(none)"
    groups = html.escape(" ".join(sorted(user.groups))) or "(none)"
    return _page(
        f"Hello, {user.display_name}",
        f"<h1>Hello, {html.escape(user.display_name)}</h1>"
        "<p id='what-happened'>The load balancer (here the alb-oidc emulator) logged you in at "
        "the identity provider and forwarded this request with three headers: "
        "<code>x-amzn-oidc-data</code> (your claims, signed by the ALB), "
        "<code>x-amzn-oidc-accesstoken</code> (the IdP's access token, with your scopes and "
        "groups) and <code>x-amzn-oidc-identity</code>. <code>ALBAuthMiddleware</code> verified "
        "them; what follows is <code>request.user</code>.</p>"
        f"<p>Scopes: <span id='scopes'>{scopes}</span></p>"
        f"<p>Groups: <span id='groups'>{groups}</span></p>"
        f"<h2>Verified claims</h2><table id='claims'>{rows}</table>"
        + _links()
        + "<p><a href='/logout'>Log out</a></p>",
    )


def _wants_html(conn: HTTPConnection) -> bool:
    return "text/html" in conn.headers.get("accept", "")


def _error_page(status: int, detail: str) -> HTMLResponse:
    title = "Not logged in" if status == 401 else "Not allowed" if status == 403 else "Error"
    return HTMLResponse(
        _page(
            f"{status} {title}",
            f"<h1>{status} {title}</h1><p id='detail'>{html.escape(detail)}</p>"
            "<p><a href='/'>Back to the home page</a></p>",
        ),
        status_code=status,
        headers={"Cache-Control": "no-store"},
    )


def _refused(conn: HTTPConnection, exc: AuthError) -> Response:
    """The middleware's refusals: an HTML page for a browser, the usual JSON otherwise."""
    config = conn.scope.get(CONFIG_SCOPE_KEY)
    bearer = isinstance(config, ALBConfig) and config.bearer is not None
    status, body, headers = error_payload(exc, bearer=bearer)
    if not _wants_html(conn):
        return JSONResponse(body, status_code=status, headers=headers)
    page = _error_page(status, body["detail"])
    page.headers.update(headers)
    return page


async def _guard_refused(request: Request, exc: Exception) -> Response:
    """The guards' 401 and 403, as HTML for a browser; FastAPI's JSON otherwise."""
    if isinstance(exc, HTTPException) and exc.status_code in (401, 403) and _wants_html(request):
        page = _error_page(exc.status_code, str(exc.detail))
        page.headers.update(exc.headers or {})
        return page
    return await http_exception_handler(request, exc)  # type: ignore[arg-type]


def create_app(
    config: ALBConfig | None = None, *, http_client: httpx2.AsyncClient | None = None
) -> FastAPI:
    """Build the app. `config` defaults to `ALBConfig.from_env()`, with `/health` and `/bye`
    public besides the paths of `ALB_OIDC_PUBLIC_PATHS`. The signed-out page is served at `/bye`
    and at every other exact public path no route takes (the CloudFormation stack's
    `SignedOutPage`, which it lists there)."""
    config = config or _config_from_env()
    app = FastAPI(title="alb-oidc example")
    app.add_middleware(ALBAuthMiddleware, config=config, http_client=http_client, on_error=_refused)
    app.add_exception_handler(HTTPException, _guard_refused)
    app.add_route("/logout", logout_endpoint, methods=["GET", "POST"])

    @app.get("/", response_class=HTMLResponse)
    def home(user: ALBUser | None = Security(optional_user)) -> str:
        return _home(user)

    @app.get("/me")
    def me(user: ALBUser = Security(current_user)) -> dict[str, Any]:
        return {
            "sub": user.sub,
            "username": user.username,
            "email": user.email,
            "name": user.name,
            "scopes": sorted(user.scopes),
            "groups": sorted(user.groups),
            "is_bearer": user.is_bearer,
        }

    @app.get("/tasks", dependencies=[Security(require_scopes("tasks/read"))])
    def tasks() -> list[str]:
        return ["write the docs", "ship it"]

    @app.get("/write", dependencies=[Security(require_scopes("tasks/write"))])
    def write() -> dict[str, str]:
        return {"status": "written"}

    @app.get("/admin", dependencies=[Security(require_groups("admins"))])
    def admin() -> dict[str, str]:
        return {"status": "admin area"}

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    def bye() -> str:
        return _page("Logged out", "<h1>Logged out</h1><p><a href='/'>Log in again</a></p>")

    routed = {getattr(route, "path", None) for route in app.routes}
    for path in dict.fromkeys(["/bye", *config.public_paths]):
        if not path.endswith("*") and path not in routed:
            app.add_api_route(path, bye, methods=["GET"], response_class=HTMLResponse)
    return app


def _config_from_env() -> ALBConfig:
    """`ALBConfig.from_env()` with `PUBLIC_PATHS` added to the environment's public paths."""
    config = ALBConfig.from_env()
    extra = [path for path in config.public_paths if path not in PUBLIC_PATHS]
    return dataclasses.replace(config, public_paths=[*PUBLIC_PATHS, *extra])
