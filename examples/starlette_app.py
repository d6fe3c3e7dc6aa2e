"""A plain Starlette app behind an ALB, protected by alb-oidc.

Run it (configuration from ALB_OIDC_* variables, see docs/configuration.md; it routes
`logout_endpoint`, so ALB_OIDC_LOGOUT_URL must be set too):

    uvicorn examples.starlette_app:create_app --factory
"""

from __future__ import annotations

import httpx2
from starlette.applications import Starlette
from starlette.authentication import requires
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from alb_oidc import ALBAuthMiddleware, ALBConfig, logout_endpoint


async def me(request: Request) -> JSONResponse:
    user = request.user
    if not user.is_authenticated:
        return JSONResponse({"detail": "not authenticated"}, status_code=401)
    return JSONResponse(
        {"sub": user.sub, "email": user.email, "scopes": sorted(request.auth.scopes)}
    )


@requires("tasks/read")
async def tasks(request: Request) -> JSONResponse:
    return JSONResponse(["write the docs", "ship it"])


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def bye(request: Request) -> PlainTextResponse:
    """Where the identity provider's logout returns to (ALB_OIDC_LOGOUT_URL's `logout_uri`)."""
    return PlainTextResponse("Logged out.")


#: Served without login: the load balancer's health check, and the page logout returns to (the
#: ALB must forward it without its authenticate action too; see docs/deploy.md).
PUBLIC_PATHS = ["/health", "/bye"]


def create_app(
    config: ALBConfig | None = None, *, http_client: httpx2.AsyncClient | None = None
) -> Starlette:
    """Build the app; `config` defaults to `ALBConfig.from_env()` with `PUBLIC_PATHS` public
    (in place of ALB_OIDC_PUBLIC_PATHS)."""
    config = config or ALBConfig.from_env(public_paths=PUBLIC_PATHS)
    return Starlette(
        routes=[
            Route("/me", me),
            Route("/tasks", tasks),
            Route("/health", health),
            Route("/bye", bye),
            Route("/logout", logout_endpoint, methods=["GET", "POST"]),
        ],
        middleware=[Middleware(ALBAuthMiddleware, config=config, http_client=http_client)],
    )
