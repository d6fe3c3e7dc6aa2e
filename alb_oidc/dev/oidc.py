"""The emulator's side of the OpenID Connect code flow: discovery, the code exchange, userinfo.

This is what an ALB does with the IdP behind the browser's back: find the endpoints, redeem the
code at the token endpoint with the client secret, check the ID token's claims, and fetch the
user's claims from userinfo (they become the payload of `x-amzn-oidc-data`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx2
import jwt

__all__ = ["IdPError", "Login", "OIDCClient"]

_ENDPOINTS = ("authorization_endpoint", "token_endpoint", "userinfo_endpoint")
_LEEWAY = 30


class IdPError(Exception):
    """The identity provider answered something the emulator cannot use."""


@dataclass(frozen=True)
class Login:
    """What a completed login yields: the userinfo claims, the access token and its lifetime."""

    claims: dict[str, Any]
    access_token: str
    lifetime: int


class OIDCClient:
    """One OAuth client at one issuer. `endpoints` (all three) skip discovery."""

    def __init__(
        self,
        issuer: str,
        client_id: str,
        client_secret: str,
        *,
        endpoints: dict[str, str] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.issuer = issuer
        self.client_id = client_id
        self._secret = client_secret
        self._clock = clock
        self._endpoints = dict(endpoints) if endpoints else None
        self._post_secret = False

    async def endpoints(self, client: httpx2.AsyncClient) -> dict[str, str]:
        """The IdP's endpoints, from discovery on first use (then kept)."""
        if self._endpoints is None:
            url = f"{self.issuer.rstrip('/')}/.well-known/openid-configuration"
            document = await _json(client, "GET", url)
            if document.get("issuer") != self.issuer:
                raise IdPError("discovery names another issuer")
            endpoints = {name: document.get(name) for name in _ENDPOINTS}
            if not all(isinstance(value, str) and value for value in endpoints.values()):
                raise IdPError("the IdP does not publish all of its endpoints")
            methods = document.get("token_endpoint_auth_methods_supported") or []
            self._post_secret = "client_secret_basic" not in methods and (
                "client_secret_post" in methods
            )
            self._endpoints = {name: str(value) for name, value in endpoints.items()}
        return self._endpoints

    async def redeem(
        self, client: httpx2.AsyncClient, code: str, *, redirect_uri: str, nonce: str
    ) -> Login:
        """Code -> tokens -> checked ID token -> userinfo claims."""
        endpoints = await self.endpoints(client)
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "client_id": self.client_id,
        }
        auth: tuple[str, str] | None = (self.client_id, self._secret)
        if self._post_secret:
            form["client_secret"] = self._secret
            auth = None
        tokens = await _json(client, "POST", endpoints["token_endpoint"], data=form, auth=auth)
        access_token, id_token = tokens.get("access_token"), tokens.get("id_token")
        if not isinstance(access_token, str) or not isinstance(id_token, str):
            raise IdPError("the token endpoint did not return an access token and an ID token")
        subject = self._check_id_token(id_token, nonce)
        claims = await _json(
            client,
            "GET",
            endpoints["userinfo_endpoint"],
            headers={"Authorization": f"Bearer {access_token}"},
        )
        if claims.get("sub") != subject:
            raise IdPError("userinfo is about another subject than the ID token")
        expires_in = tokens.get("expires_in", 3600)
        lifetime = expires_in if isinstance(expires_in, int) and expires_in > 0 else 3600
        return Login(claims, access_token, lifetime)

    def _check_id_token(self, id_token: str, nonce: str) -> Any:
        # The ID token came straight from the token endpoint over the back channel, which OIDC
        # Core 3.1.3.7 accepts in place of checking its signature; its claims must still be ours.
        try:
            identity = jwt.decode(
                id_token,
                # Without the signature check PyJWT checks no claim unless told to, one by one.
                options={
                    "verify_signature": False,
                    "verify_aud": True,
                    "verify_iss": True,
                    "verify_exp": False,
                    "require": ["iss", "aud", "exp", "sub"],
                },
                audience=self.client_id,
                issuer=self.issuer,
            )
        except jwt.PyJWTError as exc:
            raise IdPError(f"the ID token was refused ({exc})") from exc
        exp = identity["exp"]
        if not isinstance(exp, int | float) or exp + _LEEWAY <= self._clock():
            raise IdPError("the ID token has expired")
        if identity.get("nonce") != nonce:
            raise IdPError("the ID token's nonce does not match")
        return identity.get("sub")


async def _json(client: httpx2.AsyncClient, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
    try:
        response = await client.request(method, url, **kwargs)
    except httpx2.HTTPError as exc:
        raise IdPError(f"{url} is unreachable") from exc
    if response.status_code != 200:
        raise IdPError(f"{url} answered {response.status_code}")
    try:
        document = response.json()
    except ValueError as exc:
        raise IdPError(f"{url} did not answer JSON") from exc
    if not isinstance(document, dict):
        raise IdPError(f"{url} did not answer a JSON object")
    return document
