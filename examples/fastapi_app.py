"""A FastAPI app behind an ALB, protected by alb-oidc.

Run it (configuration from ALB_OIDC_* variables, see the README):

    uvicorn examples.fastapi_app:create_app --factory
"""

from __future__ import annotations

import html
from typing import Any

import httpx2
from fastapi import FastAPI, Request, Security
from fastapi.responses import HTMLResponse

from alb_oidc import ALBAuthMiddleware, ALBConfig, ALBUser, logout_endpoint
from alb_oidc.guards import current_user, optional_user, require_groups, require_scopes


def create_app(
    config: ALBConfig | None = None, *, http_client: httpx2.AsyncClient | None = None
) -> FastAPI:
    """Build the app; `config` defaults to `ALBConfig.from_env()`."""
    config = config or ALBConfig.from_env(public_paths=["/health", "/bye"])
    app = FastAPI(title="alb-oidc example")
    app.add_middleware(ALBAuthMiddleware, config=config, http_client=http_client)
    app.add_route("/logout", logout_endpoint, methods=["GET", "POST"])

    @app.get("/", response_class=HTMLResponse)
    def home(user: ALBUser | None = Security(optional_user)) -> str:
        if user is None:
            return "<h1>Not logged in</h1>"
        rows = "".join(
            f"<tr><th>{html.escape(str(name))}</th><td>{html.escape(str(value))}</td></tr>"
            for name, value in sorted(user.claims.items())
        )
        return (
            f"<h1>Hello, {html.escape(user.display_name)}</h1>"
            f"<p>Scopes: {html.escape(' '.join(sorted(user.scopes)))}</p>"
            f"<p>Groups: {html.escape(' '.join(sorted(user.groups)))}</p>"
            f"<table>{rows}</table><p><a href='/logout'>Log out</a></p>"
        )

    @app.get("/me")
    def me(user: ALBUser = Security(current_user)) -> dict[str, Any]:
        return {
            "sub": user.sub,
            "username": user.username,
            "email": user.email,
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
    def bye(request: Request) -> str:
        # Must be outside the ALB's authenticate rule, or the user is logged straight back in.
        return "<h1>Logged out</h1><p><a href='/'>Log in again</a></p>"

    return app
