"""The example FastAPI app behind an ALB, protected by alb-oidc (and what `alb-oidc demo` runs).

Routes: `/` (HTML: who is logged in, with claims, scopes and groups), `/me` (JSON), `/tasks`
(scope `tasks/read`), `/write` (scope `tasks/write`), `/admin` (group `admins`), `/logout`
(expires every session cookie shard, then the IdP's logout), and the public `/health` and `/bye`.

Behind a real ALB, configure it from the environment (see the README):

    uvicorn alb_oidc.dev.demo_app:create_app --factory
"""

from __future__ import annotations

import html
from typing import Any

import httpx2
from fastapi import FastAPI, Security
from fastapi.responses import HTMLResponse

from ..config import ALBConfig
from ..guards import current_user, optional_user, require_groups, require_scopes
from ..logout import logout_endpoint
from ..middleware import ALBAuthMiddleware
from ..user import ALBUser

__all__ = ["PUBLIC_PATHS", "create_app"]

#: Paths outside the authenticate rule: `/bye` must be, or logging out logs straight back in.
PUBLIC_PATHS = ("/health", "/bye")

_PAGE = (
    "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{title}</title>"
    "<style>body{{font-family:system-ui,sans-serif;max-width:44rem;margin:3rem auto;"
    "padding:0 1rem}}th{{text-align:left;padding-right:1rem}}td,th{{vertical-align:top}}"
    "</style></head><body>{body}</body></html>"
)


def _page(title: str, body: str) -> str:
    return _PAGE.format(title=html.escape(title), body=body)


def _home(user: ALBUser | None) -> str:
    if user is None:
        return _page("Not logged in", "<h1>Not logged in</h1><p><a href='/me'>Log in</a></p>")
    rows = "".join(
        f"<tr><th>{html.escape(str(name))}</th><td>{html.escape(str(value))}</td></tr>"
        for name, value in sorted(user.claims.items())
    )
    scopes = html.escape(" ".join(sorted(user.scopes))) or "(none)"
    groups = html.escape(" ".join(sorted(user.groups))) or "(none)"
    return _page(
        f"Hello, {user.display_name}",
        f"<h1>Hello, {html.escape(user.display_name)}</h1>"
        f"<p>Scopes: <span id='scopes'>{scopes}</span></p>"
        f"<p>Groups: <span id='groups'>{groups}</span></p>"
        f"<h2>Verified claims</h2><table id='claims'>{rows}</table>"
        "<p><a href='/me'>/me</a> · <a href='/write'>/write</a> (scope tasks/write) · "
        "<a href='/admin'>/admin</a> (group admins) · <a href='/logout'>Log out</a></p>",
    )


def create_app(
    config: ALBConfig | None = None, *, http_client: httpx2.AsyncClient | None = None
) -> FastAPI:
    """Build the app; `config` defaults to `ALBConfig.from_env()` with `/health`, `/bye` public."""
    config = config or ALBConfig.from_env(public_paths=list(PUBLIC_PATHS))
    app = FastAPI(title="alb-oidc example")
    app.add_middleware(ALBAuthMiddleware, config=config, http_client=http_client)
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

    @app.get("/bye", response_class=HTMLResponse)
    def bye() -> str:
        return _page("Logged out", "<h1>Logged out</h1><p><a href='/'>Log in again</a></p>")

    return app
