"""A FastAPI app as the Lambda target of an ALB, protected by alb-oidc (`pip install mangum`).

Lambda handler: `examples.lambda_app.handler`. Configuration: the ALB_OIDC_* environment
variables (see docs/lambda.md; the CloudFormation example's outputs are exactly these).

The app is built once per execution environment, when Lambda imports this module, so the ALB
public keys, the user pool's JWKS, verified results and the HTTP client stay cached across the
invocations that environment serves.
"""

from __future__ import annotations

from typing import Any

import httpx2
from fastapi import FastAPI, Security
from mangum import Mangum

from alb_oidc import ALBAuthMiddleware, ALBConfig, ALBUser
from alb_oidc.guards import current_user, require_scopes

__all__ = ["app", "create_app", "handler"]

_TASKS = {"write the docs": False, "ship it": False, "set up the ALB": True}


def create_app(
    config: ALBConfig | None = None, *, http_client: httpx2.AsyncClient | None = None
) -> FastAPI:
    """Build the app; `config` defaults to `ALBConfig.from_env()`."""
    app = FastAPI(title="alb-oidc on AWS Lambda")
    app.add_middleware(
        ALBAuthMiddleware, config=config or ALBConfig.from_env(), http_client=http_client
    )

    @app.get("/me")
    async def me(user: ALBUser = Security(current_user)) -> dict[str, Any]:
        return {
            "sub": user.sub,
            "email": user.email,
            "scopes": sorted(user.scopes),
            "groups": sorted(user.groups),
        }

    @app.get("/tasks", dependencies=[Security(require_scopes("tasks/read"))])
    async def tasks(done: bool = False) -> list[str]:
        return [task for task, finished in _TASKS.items() if finished == done]

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


app = create_app()
# lifespan="off": Mangum runs the ASGI lifespan around every single invocation, and the
# middleware's lifespan shutdown closes its HTTP client. The app needs no startup work (keys are
# fetched on first use), so with the lifespan off the client and its connections live as long as
# the execution environment.
handler = Mangum(app, lifespan="off")
