"""Key sources under the traffic every deployment sees: cold starts, rotations and kid floods.

Each scenario runs against a real, slow key server on 127.0.0.1 (the clock that decides expiry
and cooldowns is the test's; network delays are real).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import anyio
import httpx2
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from alb_oidc import ALBAuthenticator, ALBConfig, AuthError, CognitoConfig
from alb_oidc.testing import FakeALB

from .conftest import Clock, asgi_headers
from .servers import serve

pytestmark = pytest.mark.integration

USERS = 16
ARRIVAL_GAP = 0.02  # 16 users 20 ms apart: all of them arrive while one 300 ms fetch runs
SLOW = 0.3


class KeyServer:
    """The ALB key endpoint and the user pool's JWKS on loopback; the JWKS answers slowly."""

    def __init__(self, alb: FakeALB) -> None:
        self.alb = alb
        self.jwks_requests = 0
        self.alb_requests = 0
        self.jwks_status = 200

    async def jwks(self, request: Request) -> Response:
        self.jwks_requests += 1
        await asyncio.sleep(SLOW)
        if self.jwks_status != 200:
            return Response(status_code=self.jwks_status)
        return JSONResponse(self.alb.jwks())

    async def alb_key(self, request: Request) -> Response:
        self.alb_requests += 1
        if request.path_params["kid"] != self.alb.kid:
            return Response("not found", status_code=404)
        return Response(self.alb.public_key_pem())

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/pool/.well-known/jwks.json", self.jwks),
                Route("/alb/{kid}", self.alb_key),
            ]
        )


@pytest.fixture
def key_server(alb: FakeALB) -> Iterator[tuple[KeyServer, str]]:
    server = KeyServer(alb)
    with serve(server.app()) as url:
        yield server, url


def config_for(alb: FakeALB, url: str) -> ALBConfig:
    return ALBConfig(
        alb_arns=[alb.alb_arn],
        client_ids=[alb.client_id],
        issuers=[alb.issuer],
        key_url=f"{url}/alb/{{kid}}",
        cognito=CognitoConfig(
            user_pool_id=alb.user_pool_id,
            client_ids=[alb.client_id],
            jwks_url=f"{url}/pool/.well-known/jwks.json",
            issuer=alb.pool_issuer,
        ),
    )


async def staggered(authenticator: ALBAuthenticator, requests: list[dict[str, str]]) -> list[str]:
    """Send each request ARRIVAL_GAP after the previous one; the outcome of each, in order."""
    outcomes = [""] * len(requests)

    async def one(index: int, headers: dict[str, str]) -> None:
        await anyio.sleep(index * ARRIVAL_GAP)
        try:
            user = await authenticator.authenticate(asgi_headers(headers))
            outcomes[index] = "200" if user is not None else "anonymous"
        except AuthError as exc:
            outcomes[index] = f"{exc.status_code} {exc.code}"

    async with anyio.create_task_group() as group:
        for index, headers in enumerate(requests):
            group.start_soon(one, index, headers)
    return outcomes


def test_cold_start_requests_arriving_during_the_jwks_fetch_wait_for_it(
    alb: FakeALB, clock: Clock, key_server: tuple[KeyServer, str]
) -> None:
    server, url = key_server
    requests = [alb.headers(f"user-{index}") for index in range(USERS)]

    async def run() -> list[str]:
        authenticator = ALBAuthenticator(config_for(alb, url), clock=clock)
        try:
            return await staggered(authenticator, requests)
        finally:
            await authenticator.aclose()

    assert anyio.run(run) == ["200"] * USERS
    assert server.jwks_requests == 1
    assert server.alb_requests == 1


def test_pool_key_rotation_requests_arriving_during_the_refresh_wait_for_it(
    alb: FakeALB, clock: Clock, key_server: tuple[KeyServer, str]
) -> None:
    server, url = key_server
    first = alb.headers("early-user")

    async def run() -> list[str]:
        authenticator = ALBAuthenticator(config_for(alb, url), clock=clock)
        try:
            assert await authenticator.authenticate(asgi_headers(first)) is not None
            # The pool signs with a new key from now on; its JWKS publishes the new kid.
            alb._pool_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            alb.pool_kid = f"rotated-{uuid.uuid4().hex[:8]}"
            clock.advance(31)  # past refresh_cooldown
            requests = [alb.headers(f"user-{index}") for index in range(USERS)]
            return await staggered(authenticator, requests)
        finally:
            await authenticator.aclose()

    assert anyio.run(run) == ["200"] * USERS
    assert server.jwks_requests == 2


def test_keys_held_keep_working_while_and_after_a_refresh_fails(
    alb: FakeALB, clock: Clock, key_server: tuple[KeyServer, str]
) -> None:
    server, url = key_server

    async def run() -> list[str]:
        authenticator = ALBAuthenticator(config_for(alb, url), clock=clock)
        try:
            assert await authenticator.authenticate(asgi_headers(alb.headers())) is not None
            server.jwks_status = 500
            clock.advance(3601)  # the JWKS is stale: the next request refreshes it, and fails
            users = [alb.headers(f"user-{index}") for index in range(USERS)]
            return await staggered(authenticator, users)
        finally:
            await authenticator.aclose()

    assert anyio.run(run) == ["200"] * USERS
    assert server.jwks_requests == 2


# --- the first request is cancelled (a client that went away, a timeout around the app) -------


def _cancel_the_first_request(
    alb: FakeALB, clock: Clock, config: ALBConfig, slow_url: str | None
) -> tuple[list[str], ALBAuthenticator]:
    """Three requests wait on the first one's slow fetch; asyncio cancels the first (what a
    timeout around the app, or a server whose client went away, does); then one more request.
    The outcome of every request but the cancelled one."""

    async def slow(request: httpx2.Request) -> httpx2.Response:
        if slow_url is None or str(request.url) == slow_url:
            await asyncio.sleep(0.6)  # wide margins: the cancel must land mid-fetch
        return alb.handle(request)

    client = httpx2.AsyncClient(transport=httpx2.MockTransport(slow))
    authenticator = ALBAuthenticator(config, http_client=client, clock=clock)

    async def run() -> list[str]:
        outcomes: list[str] = []

        async def one(name: str, delay: float) -> None:
            await asyncio.sleep(delay)
            try:
                user = await authenticator.authenticate(asgi_headers(alb.headers(name)))
                outcomes.append("200" if user else "anonymous")
            except AuthError as exc:
                outcomes.append(f"{exc.status_code} {exc.code}")

        first = asyncio.create_task(one("first", 0))
        waiters = [asyncio.create_task(one(f"user-{index}", 0.05)) for index in range(3)]
        await asyncio.sleep(0.25)
        first.cancel()
        await asyncio.gather(first, *waiters, return_exceptions=True)
        await one("later", 0)  # for the JWKS: within refresh_cooldown of the cancelled attempt
        return outcomes

    return asyncio.run(run()), authenticator


def test_cancelling_the_request_that_started_a_key_fetch_refuses_nobody_else(
    alb: FakeALB, clock: Clock
) -> None:
    outcomes, authenticator = _cancel_the_first_request(
        alb, clock, alb.config(cognito=False), slow_url=None
    )
    assert outcomes == ["200"] * 4
    assert authenticator.alb_keys.fetch_count == 1  # run to its end for everybody


def test_cancelling_the_request_that_started_a_jwks_fetch_refuses_nobody_else(
    alb: FakeALB, clock: Clock
) -> None:
    outcomes, authenticator = _cancel_the_first_request(
        alb, clock, alb.config(), slow_url=alb.jwks_url
    )
    assert outcomes == ["200"] * 4
    assert authenticator.jwks is not None
    assert authenticator.jwks.fetch_count == 1
