"""Every attack of the corpus gets 401 from the middleware, and causes no outbound fetch."""

from __future__ import annotations

import json
from typing import Any

import anyio
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from alb_oidc import ALBAuthMiddleware
from alb_oidc.testing import FakeALB

from ..conftest import asgi_get, asgi_headers
from .attacks import ATTACKS, EXPECTED_ERROR, LEEWAY, Attack, Headers


async def me(request: Request) -> JSONResponse:
    return JSONResponse({"sub": request.user.sub})


def protected(alb: FakeALB) -> ALBAuthMiddleware:
    app = Starlette(routes=[Route("/me", me)])
    return ALBAuthMiddleware(
        app, alb.config(leeway=LEEWAY), http_client=alb.http_client(), clock=alb.clock
    )


async def call(app: ALBAuthMiddleware, headers: Headers) -> tuple[int, dict[str, Any]]:
    """One GET /me through the ASGI app with exactly these header bytes."""
    status, body = await asgi_get(app, "/me", headers)
    return status, json.loads(body)


def test_the_corpus_is_large_and_every_case_is_distinct() -> None:
    assert len(ATTACKS) >= 40
    assert len({attack.name for attack in ATTACKS}) == len(ATTACKS)
    assert all(attack.reason for attack in ATTACKS)
    assert set(EXPECTED_ERROR) == {attack.name for attack in ATTACKS}


def test_the_victims_own_request_is_accepted(alb: FakeALB) -> None:
    app = protected(alb)
    headers = asgi_headers(alb.headers("victim"))
    assert anyio.run(call, app, headers) == (200, {"sub": "victim"})


@pytest.mark.parametrize("attack", ATTACKS, ids=[attack.name for attack in ATTACKS])
def test_attack_is_refused_with_401_and_no_fetch(alb: FakeALB, attack: Attack) -> None:
    app = protected(alb)

    async def scenario() -> tuple[int, dict[str, Any], int]:
        # The victim logs in first, so the ALB key and the JWKS are cached.
        valid = asgi_headers(alb.headers("victim"))
        assert (await call(app, valid))[0] == 200
        fetched = len(alb.requests)
        status, body = await call(app, attack.build(alb))
        return status, body, len(alb.requests) - fetched

    status, body, new_fetches = anyio.run(scenario)
    assert status == 401, f"{attack.reason}: got {status} {body}"
    assert body["error"] == EXPECTED_ERROR[attack.name], attack.reason
    assert "sub" not in body
    assert new_fetches == 0, f"{attack.reason}: caused {new_fetches} fetch(es)"
