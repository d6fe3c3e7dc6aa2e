"""The hello-world apps the load test serves with uvicorn: `plain`, `passthrough` and `protected`.

`protected` is the same app behind `ALBAuthMiddleware`. Its config comes from the JSON file named
by `ALB_OIDC_BENCH_SETUP` (written by bench/http.py): the ALB's PEM and the pool's JWKS are
served to it by an in-process transport, so the one key fetch of the run costs no network.
"""

from __future__ import annotations

import json
import os

import httpx2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from alb_oidc import ALBAuthMiddleware, ALBConfig, CognitoConfig


async def hello(request: Request) -> Response:
    """The whole app: one short plain-text answer."""
    return PlainTextResponse("hello")


plain = Starlette(routes=[Route("/", hello)])


def _protected() -> ALBAuthMiddleware:
    with open(os.environ["ALB_OIDC_BENCH_SETUP"], encoding="utf-8") as handle:
        setup = json.load(handle)

    def answer(request: httpx2.Request) -> httpx2.Response:
        if str(request.url) == setup["key_url"]:
            return httpx2.Response(200, content=setup["pem"].encode())
        if str(request.url) == setup["jwks_url"]:
            return httpx2.Response(200, json=setup["jwks"])
        return httpx2.Response(404)

    config = ALBConfig(
        alb_arns=[setup["alb_arn"]],
        client_ids=[setup["client_id"]],
        issuers=[setup["issuer"]],
        cognito=CognitoConfig(user_pool_id=setup["user_pool_id"], client_ids=[setup["client_id"]]),
    )
    client = httpx2.AsyncClient(transport=httpx2.MockTransport(answer))
    return ALBAuthMiddleware(Starlette(routes=[Route("/", hello)]), config, http_client=client)


protected = _protected() if "ALB_OIDC_BENCH_SETUP" in os.environ else None


class _Floor:
    """One raw P-256 ECDSA verification per request (cryptography, DER signature ready), then
    the plain app: the floor, measured under the same server and load as the middleware."""

    def __init__(self, app: ASGIApp, setup: dict[str, str]) -> None:
        self.app = app
        self.key = load_pem_public_key(setup["pem"].encode())
        self.signature = bytes.fromhex(setup["floor_signature"])
        self.message = setup["floor_message"].encode()
        self.algorithm = ec.ECDSA(hashes.SHA256())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.key.verify(self.signature, self.message, self.algorithm)  # type: ignore[union-attr, call-arg]
        await self.app(scope, receive, send)


def _floor() -> _Floor:
    with open(os.environ["ALB_OIDC_BENCH_SETUP"], encoding="utf-8") as handle:
        return _Floor(Starlette(routes=[Route("/", hello)]), json.load(handle))


floor = _floor() if "ALB_OIDC_BENCH_SETUP" in os.environ else None


class _PassThrough:
    """An ASGI middleware that does nothing: the price of one layer, for comparison."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


passthrough = _PassThrough(Starlette(routes=[Route("/", hello)]))
