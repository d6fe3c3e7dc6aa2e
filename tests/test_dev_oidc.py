"""The emulator's OIDC client against a scripted IdP (httpx2.MockTransport at the edge)."""

from __future__ import annotations

import asyncio
import base64
from typing import Any
from urllib.parse import parse_qs

import httpx2
import jwt
import pytest

from alb_oidc.dev.oidc import IdPError, Login, OIDCClient

from .conftest import START, Clock

ISSUER = "https://idp.example"


def id_token(**changes: Any) -> str:
    claims = {"iss": ISSUER, "aud": "app", "sub": "s1", "exp": int(START) + 300, "nonce": "n"}
    claims.update(changes)
    return jwt.encode(
        {k: v for k, v in claims.items() if v is not None}, "k" * 32, algorithm="HS256"
    )


class IdP:
    """Answers discovery, token and userinfo; records the token requests."""

    def __init__(self, **overrides: Any) -> None:
        self.discovery: dict[str, Any] = {
            "issuer": ISSUER,
            "authorization_endpoint": f"{ISSUER}/authorize",
            "token_endpoint": f"{ISSUER}/token",
            "userinfo_endpoint": f"{ISSUER}/userinfo",
        }
        self.tokens: dict[str, Any] = {
            "access_token": "at",
            "id_token": id_token(),
            "expires_in": 600,
        }
        self.userinfo: dict[str, Any] = {"sub": "s1", "email": "e@example.com"}
        self.token_status = 200
        self.userinfo_requests = 0
        self.token_requests: list[httpx2.Request] = []
        for name, value in overrides.items():
            setattr(self, name, value)

    def handle(self, request: httpx2.Request) -> httpx2.Response:
        path = request.url.path
        if path == "/.well-known/openid-configuration":
            return httpx2.Response(200, json=self.discovery)
        if path == "/token":
            self.token_requests.append(request)
            return httpx2.Response(self.token_status, json=self.tokens)
        if path == "/userinfo" and request.headers.get("authorization") == "Bearer at":
            self.userinfo_requests += 1
            return httpx2.Response(200, json=self.userinfo)
        return httpx2.Response(404)


def redeem(idp: IdP, clock: Clock, **client_options: Any) -> Login:
    async def run() -> Login:
        async with httpx2.AsyncClient(transport=httpx2.MockTransport(idp.handle)) as http:
            client = OIDCClient(ISSUER, "app", "secret", clock=clock, **client_options)
            return await client.redeem(
                http, "code-1", redirect_uri="http://127.0.0.1/cb", nonce="n"
            )

    return asyncio.run(run())


def test_a_code_becomes_userinfo_claims_and_the_access_token(clock: Clock) -> None:
    idp = IdP()
    login = redeem(idp, clock)
    assert idp.userinfo_requests == 1
    assert login == Login({"sub": "s1", "email": "e@example.com"}, "at", 600)
    (request,) = idp.token_requests
    basic = base64.b64encode(b"app:secret").decode()
    assert request.headers["authorization"] == f"Basic {basic}"
    form = parse_qs(request.content.decode())
    assert form == {
        "grant_type": ["authorization_code"],
        "code": ["code-1"],
        "redirect_uri": ["http://127.0.0.1/cb"],
        "client_id": ["app"],
    }


def test_the_secret_is_posted_when_the_idp_only_takes_it_so(clock: Clock) -> None:
    idp = IdP()
    idp.discovery["token_endpoint_auth_methods_supported"] = ["client_secret_post"]
    redeem(idp, clock)
    (request,) = idp.token_requests
    assert "authorization" not in request.headers
    assert parse_qs(request.content.decode())["client_secret"] == ["secret"]


def test_explicit_endpoints_skip_discovery(clock: Clock) -> None:
    idp = IdP(discovery={})
    endpoints = {
        "authorization_endpoint": f"{ISSUER}/authorize",
        "token_endpoint": f"{ISSUER}/token",
        "userinfo_endpoint": f"{ISSUER}/userinfo",
    }
    assert redeem(idp, clock, endpoints=endpoints).access_token == "at"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"discovery": {"issuer": "https://other.example"}}, "another issuer"),
        ({"discovery": {"issuer": ISSUER}}, "all of its endpoints"),
        ({"token_status": 400}, "answered 400"),
        ({"tokens": {"access_token": "at"}}, "access token and an ID token"),
        (
            {"tokens": {"access_token": "at", "id_token": id_token(aud="other")}},
            "ID token was refused",
        ),
        ({"tokens": {"access_token": "at", "id_token": id_token(iss="https://x")}}, "refused"),
        ({"tokens": {"access_token": "at", "id_token": id_token(exp=None)}}, "refused"),
        ({"tokens": {"access_token": "at", "id_token": id_token(sub=None)}}, "refused"),
        ({"tokens": {"access_token": "at", "id_token": id_token(aud=None)}}, "refused"),
        ({"tokens": {"access_token": "at", "id_token": id_token(exp=int(START) - 31)}}, "expired"),
        ({"tokens": {"access_token": "at", "id_token": id_token(nonce="other")}}, "nonce"),
        ({"tokens": {"access_token": "at", "id_token": "not a jwt"}}, "refused"),
        ({"userinfo": {"sub": "someone-else"}}, "another subject"),
        ({"userinfo": ["not", "an", "object"]}, "JSON object"),
    ],
)
def test_what_the_idp_gets_wrong_is_an_idp_error(
    clock: Clock, change: dict[str, Any], message: str
) -> None:
    with pytest.raises(IdPError, match=message):
        redeem(IdP(**change), clock)


def test_an_unreachable_idp_is_an_idp_error(clock: Clock) -> None:
    def refuse(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ConnectError("refused", request=request)

    async def run() -> None:
        async with httpx2.AsyncClient(transport=httpx2.MockTransport(refuse)) as http:
            await OIDCClient(ISSUER, "app", "s", clock=clock).endpoints(http)

    with pytest.raises(IdPError, match="unreachable"):
        asyncio.run(run())


def test_expiry_uses_the_injected_clock(clock: Clock) -> None:
    idp = IdP()
    clock.advance(300 + 30)
    with pytest.raises(IdPError, match="expired"):
        redeem(idp, clock)
    assert idp.userinfo_requests == 0
