"""A real key endpoint on 127.0.0.1 that misbehaves on command.

For every fault: a request whose kid is cached keeps passing; a request that needs the missing
key gets 503 within the configured deadline; nothing is cached that should not be; and once the
endpoint behaves again, service comes back by itself.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

import anyio
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from alb_oidc import ALBAuthenticator, KeyUnavailableError
from alb_oidc.testing import FakeALB

from ..conftest import Clock
from ..servers import serve

pytestmark = pytest.mark.integration

TIMEOUT = 0.5
NEW_KID = "00000000-0000-4000-8000-000000000001"


def _pem(key: object) -> bytes:
    return key.public_bytes(  # type: ignore[attr-defined, no-any-return]
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@dataclass
class KeyEndpoint:
    """Serves the fake ALB's PEM for any kid, unless told to misbehave (`fault`)."""

    alb: FakeALB
    fault: str | None = None
    hits: list[str] = field(default_factory=list)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        self.hits.append(scope["path"])
        await self.respond(Request(scope, receive))(scope, receive, send)

    def respond(self, request: Request) -> Response:
        good = self.alb.public_key_pem()
        match self.fault:
            case None:
                return Response(good, media_type="application/x-pem-file")
            case "500":
                return Response("internal error", status_code=500)
            case "404":
                return Response("no such key", status_code=404)
            case "timeout":
                return StreamingResponse(_after(10.0, good))
            case "slow-drip":
                return StreamingResponse(_drip(good))
            case "10mb":
                return Response(good + b"A" * 10_000_000, media_type="application/x-pem-file")
            case "redirect":
                return RedirectResponse("http://evil.example.com/key.pem", status_code=302)
            case "garbage":
                return Response(b"\x00\xff<html>not a key</html>" * 10)
            case "rsa":
                return Response(_pem(rsa.generate_private_key(65537, 2048).public_key()))
            case "p384":
                return Response(_pem(ec.generate_private_key(ec.SECP384R1()).public_key()))
            case "two-pems":
                other = ec.generate_private_key(ec.SECP256R1()).public_key()
                return Response(good + _pem(other))
        raise AssertionError(self.fault)


async def _after(seconds: float, body: bytes) -> AsyncIterator[bytes]:
    await asyncio.sleep(seconds)
    yield body


async def _drip(body: bytes) -> AsyncIterator[bytes]:
    for byte in body:  # one byte every 50 ms: each read is quick, the whole is not
        yield bytes([byte])
        await asyncio.sleep(0.05)


FAULTS = [
    "500",
    "404",
    "timeout",
    "slow-drip",
    "10mb",
    "redirect",
    "garbage",
    "rsa",
    "p384",
    "two-pems",
]


@pytest.fixture(scope="module")
def endpoint() -> Iterator[tuple[KeyEndpoint, str]]:
    keys = KeyEndpoint(FakeALB())
    with serve(keys) as url:
        yield keys, url


@pytest.mark.parametrize("fault", FAULTS)
def test_key_endpoint_fault(endpoint: tuple[KeyEndpoint, str], fault: str) -> None:
    keys, base = endpoint
    alb, clock = keys.alb, Clock()
    alb.clock = clock
    config = alb.config(
        cognito=False, key_url=f"{base}/keys/{{kid}}", key_fetch_timeout=TIMEOUT, key_failure_ttl=30
    )
    cached = [(b"x-amzn-oidc-data", alb.data_token("cached-user").encode())]
    needs_new = [
        (b"x-amzn-oidc-data", alb.data_token("new-user", header={"kid": NEW_KID}).encode())
    ]

    async def scenario() -> None:
        authenticator = ALBAuthenticator(config, clock=clock)
        try:
            keys.fault = None
            assert await authenticator.authenticate(cached) is not None
            keys.fault = fault
            keys.hits.clear()
            began = time.monotonic()
            with pytest.raises(KeyUnavailableError) as refused:
                await authenticator.authenticate(needs_new)
            elapsed = time.monotonic() - began
            assert refused.value.status_code == 503
            assert elapsed < TIMEOUT + 1.5, f"{fault}: 503 took {elapsed:.2f} s"
            assert keys.hits == [f"/keys/{NEW_KID}"]  # one attempt, no redirect followed
            new_url = config.key_urls[alb.alb_arn].replace("{kid}", NEW_KID)
            assert authenticator.alb_keys.cached(new_url) is None
            # Cached kids are unaffected, and the failure is remembered (no refetch storm).
            assert (await authenticator.authenticate(cached)).sub == "cached-user"  # type: ignore[union-attr]
            with pytest.raises(KeyUnavailableError):
                await authenticator.authenticate(needs_new)
            assert len(keys.hits) == 1
            # The endpoint recovers; after key_failure_ttl, so does the service, by itself.
            keys.fault = None
            clock.advance(31)
            assert (await authenticator.authenticate(needs_new)).sub == "new-user"  # type: ignore[union-attr]
        finally:
            keys.fault = None
            await authenticator.aclose()

    anyio.run(scenario)
