"""End to end over real sockets: a key server and the app, each under uvicorn on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import anyio
import httpx2
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from alb_oidc import ALBAuthenticator, ALBAuthMiddleware, ALBConfig, CognitoConfig
from alb_oidc.testing import FakeALB

from .servers import serve

pytestmark = pytest.mark.integration


@dataclass
class KeyServer:
    """Serves a FakeALB's PEM keys and JWKS like AWS does, and can be told to fail."""

    alb: FakeALB
    requests: list[str] = field(default_factory=list)
    failing: bool = False

    async def __call__(self, scope: dict, receive: object, send: object) -> None:
        if scope["type"] != "http":
            return
        self.requests.append(scope["path"])
        if self.failing:
            response = Response("down", status_code=500)
        elif scope["path"] == f"/keys/{self.alb.kid}":
            response = Response(self.alb.public_key_pem(), media_type="application/x-pem-file")
        elif scope["path"] == "/pool/.well-known/jwks.json":
            response = JSONResponse(self.alb.jwks())
        else:
            response = Response("not found", status_code=404)
        await response(scope, receive, send)  # type: ignore[arg-type]


async def me(request: Request) -> JSONResponse:
    user = request.user
    return JSONResponse(
        {"sub": user.sub, "scopes": list(request.auth.scopes), "groups": sorted(user.groups)}
    )


@pytest.fixture
def stack() -> Iterator[tuple[FakeALB, KeyServer, str]]:
    alb = FakeALB()
    keys = KeyServer(alb)
    with serve(keys) as key_base:
        config = ALBConfig(
            alb_arns=[alb.alb_arn],
            client_ids=[alb.client_id],
            issuers=[alb.issuer],
            key_url=f"{key_base}/keys/{{kid}}",
            cognito=CognitoConfig(
                user_pool_id=alb.user_pool_id,
                client_ids=[alb.client_id],
                issuer=alb.pool_issuer,
                jwks_url=f"{key_base}/pool/.well-known/jwks.json",
            ),
            key_failure_ttl=0,
        )
        app = Starlette(routes=[Route("/me", me)])
        app.add_middleware(ALBAuthMiddleware, config=config, warm_up=True)
        with serve(app) as app_base:
            yield alb, keys, app_base


def test_login_headers_verified_over_real_http(stack: tuple[FakeALB, KeyServer, str]) -> None:
    alb, keys, base = stack
    assert keys.requests == ["/pool/.well-known/jwks.json"]  # warm-up on lifespan startup
    with httpx2.Client(base_url=base) as client:
        response = client.get(
            "/me", headers=alb.headers("alice", scopes=["openid", "tasks/read"], groups=["admins"])
        )
        assert response.status_code == 200
        assert response.json() == {
            "sub": "alice",
            "scopes": ["authenticated", "openid", "tasks/read"],
            "groups": ["admins"],
        }
        assert client.get("/me").status_code == 401
        forged = alb.headers("alice")
        forged["x-amzn-oidc-data"] = alb.data_token(
            "admin", header={"signer": alb.alb_arn.replace("test", "evil")}
        )
        assert client.get("/me", headers=forged).status_code == 401
    assert keys.requests == ["/pool/.well-known/jwks.json", f"/keys/{alb.kid}"]


def test_concurrent_first_requests_cause_one_key_fetch(
    stack: tuple[FakeALB, KeyServer, str],
) -> None:
    alb, keys, base = stack
    headers = alb.headers("bob")

    def one(_: int) -> int:
        with httpx2.Client(base_url=base, timeout=10) as client:
            return client.get("/me", headers=headers).status_code

    with ThreadPoolExecutor(max_workers=32) as pool:
        statuses = list(pool.map(one, range(64)))
    assert statuses == [200] * 64
    assert keys.requests.count(f"/keys/{alb.kid}") == 1


def test_key_server_outage_is_503_and_recovers(stack: tuple[FakeALB, KeyServer, str]) -> None:
    alb, keys, base = stack
    keys.failing = True
    with httpx2.Client(base_url=base) as client:
        response = client.get("/me", headers=alb.headers())
        assert response.status_code == 503
        assert response.json()["error"] == "key_unavailable"
        keys.failing = False
        assert client.get("/me", headers=alb.headers()).status_code == 200
        keys.failing = True  # the key is cached now: an outage no longer matters
        assert client.get("/me", headers=alb.headers()).status_code == 200


def test_a_thousand_concurrent_first_requests_cause_one_key_fetch() -> None:
    alb = FakeALB()
    keys = KeyServer(alb)
    with serve(keys) as key_base:
        config = alb.config(cognito=False, key_url=f"{key_base}/keys/{{kid}}")
        requests = [
            [(b"x-amzn-oidc-data", alb.data_token(f"user-{index}").encode())]
            for index in range(1000)
        ]

        async def run() -> list[object]:
            authenticator = ALBAuthenticator(config)
            try:
                return await asyncio.gather(*(authenticator.authenticate(r) for r in requests))
            finally:
                await authenticator.aclose()

        users = anyio.run(run)
    assert sorted(user.sub for user in users) == sorted(f"user-{i}" for i in range(1000))
    assert keys.requests == [f"/keys/{alb.kid}"]
