"""Cold start: 1,000 concurrent first requests for one not-yet-cached kid cause exactly one fetch.

The key endpoint is a real uvicorn server on 127.0.0.1 that takes 50 ms to answer (so all the
requests really are waiting at once) and counts what it serves. The 1,000 requests come from
1,000 different users, all signed with the same new kid.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from alb_oidc import ALBAuthenticator
from alb_oidc.dev.serving import serving

from .fixtures import TokenSet


def measure(tokens: TokenSet) -> dict[str, Any]:
    """Fetch count and wall time for `tokens.count` concurrent first requests."""
    served: list[str] = []
    pem = tokens.alb.public_key_pem()

    async def key(request: Request) -> Response:
        served.append(request.path_params["kid"])
        await asyncio.sleep(0.05)
        return Response(pem, media_type="application/x-pem-file")

    app = Starlette(routes=[Route("/keys/{kid}", key)])
    with serving(app) as url:
        config = tokens.alb.config(cognito=False, key_url=f"{url}/keys/{{kid}}")
        requests = [
            [
                (name, value)
                for name, value in tokens.headers(index)
                if name != b"x-amzn-oidc-accesstoken"
            ]
            for index in range(tokens.count)
        ]

        async def run() -> tuple[int, float]:
            authenticator = ALBAuthenticator(config)
            began = time.perf_counter()
            users = await asyncio.gather(*(authenticator.authenticate(r) for r in requests))
            elapsed = time.perf_counter() - began
            await authenticator.aclose()
            return sum(user is not None for user in users), elapsed

        verified, elapsed = asyncio.run(run())
    return {
        "requests": tokens.count,
        "verified": verified,
        "fetches": len(served),
        "seconds": elapsed,
    }
