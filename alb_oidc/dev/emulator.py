"""A local ALB: an ASGI reverse proxy that acts like a listener rule with `authenticate-oidc`.

For a request without a valid session it does what `OnUnauthenticatedRequest` says: redirect to
the IdP's authorization endpoint (`authenticate`), forward without identity (`allow`) or answer 401
(`deny`). `/oauth2/idpresponse` takes the IdP's answer: the code is exchanged at the token
endpoint, the ID token's `iss`, `aud`, `exp` and `nonce` are checked, userinfo is called, and the
session goes into an encrypted cookie named like the ALB's, sharded into `-0..-3`.

Every authenticated request is forwarded with any client-sent `x-amzn-oidc-*` headers removed and
the ALB's three headers added: `x-amzn-oidc-data` signed in the exact ALB wire format by
`DevSigner`, the IdP's access token, and the `sub`. The public key is served at
`/.alb-oidc-dev/keys/{kid}` (one PEM per kid, the ALB key endpoint's shape), so the unmodified
middleware verifies it with `key_url` pointed there. This is a development tool, not an ALB.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any, Literal
from urllib.parse import urlencode, urlsplit

import httpx2
import jwt
from cachetools import TTLCache
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.types import Receive, Scope, Send

from ..config import _COOKIE_NAME, DEFAULT_SESSION_COOKIE, ALBConfig
from ..errors import ConfigurationError
from .pages import message_page
from .proxy import forward
from .sessions import MAX_SHARDS, CookieTooLargeError, SealedCookie, cookie_header, expire_header
from .signer import DEV_SIGNER_ARN, DevSigner

__all__ = ["CALLBACK_PATH", "KEY_PATH", "ALBEmulator", "EmulatorSettings"]

CALLBACK_PATH = "/oauth2/idpresponse"
KEY_PATH = "/.alb-oidc-dev/keys/"
_LOGIN_COOKIE = "ALBOIDCDevLogin"
_LOGIN_LIFETIME = 900


class IdPError(Exception):
    """The identity provider answered something the emulator cannot use."""


@dataclass(frozen=True)
class EmulatorSettings:
    """What an `authenticate-oidc` action is configured with, plus where the target is.

    Give `issuer` alone to use OIDC discovery, or all three endpoints explicitly.
    `public_paths` are glob patterns (`/health`, `/static/*`) forwarded without authentication,
    like a listener rule without the authenticate action.
    """

    upstream: str
    issuer: str
    client_id: str
    client_secret: str
    authorization_endpoint: str | None = None
    token_endpoint: str | None = None
    userinfo_endpoint: str | None = None
    scope: str = "openid"
    on_unauthenticated: Literal["authenticate", "allow", "deny"] = "authenticate"
    session_cookie: str = DEFAULT_SESSION_COOKIE
    session_timeout: int = 604_800
    public_paths: Sequence[str] = ()
    extra_params: Mapping[str, str] = field(default_factory=dict)
    data_token_lifetime: int = 120
    timeout: float = 30.0

    def __post_init__(self) -> None:
        for name in ("upstream", "issuer"):
            if urlsplit(getattr(self, name)).scheme not in ("http", "https"):
                raise ConfigurationError(f"{name} must be an http(s) URL: {getattr(self, name)!r}")
        endpoints = [self.authorization_endpoint, self.token_endpoint, self.userinfo_endpoint]
        if any(endpoints) and not all(endpoints):
            raise ConfigurationError(
                "give all of authorization, token and userinfo endpoints, or none (discovery)"
            )
        if not self.client_id:
            raise ConfigurationError("client_id must not be empty")
        if "openid" not in self.scope.split():
            raise ConfigurationError(f"scope must include openid: {self.scope!r}")
        if self.on_unauthenticated not in ("authenticate", "allow", "deny"):
            raise ConfigurationError(
                "on_unauthenticated must be authenticate, allow or deny: "
                f"{self.on_unauthenticated!r}"
            )
        if not _COOKIE_NAME.fullmatch(self.session_cookie):
            raise ConfigurationError(
                f"session_cookie is not a cookie name: {self.session_cookie!r}"
            )
        if not 1 <= self.session_timeout <= 604_800:
            raise ConfigurationError("session_timeout must be 1 to 604800 seconds (7 days)")
        object.__setattr__(self, "public_paths", tuple(self.public_paths))


class ALBEmulator:
    """The emulator as an ASGI app. `signer` defaults to a new key per instance."""

    def __init__(
        self,
        settings: EmulatorSettings,
        *,
        signer: DevSigner | None = None,
        http_client: httpx2.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.signer = signer or DevSigner()
        self.clock = clock
        self._client = http_client
        self._owns_client = http_client is None
        self._cookies = SealedCookie(self.signer.cookie_key(), clock=clock)
        self._endpoints: dict[str, str] | None = None
        self._tokens: TTLCache[str, tuple[str, int]] = TTLCache(
            maxsize=4096, ttl=settings.data_token_lifetime / 2, timer=clock
        )

    # -- what apps behind the emulator need --------------------------------------------------

    def key_url(self, base_url: str) -> str:
        """The `key_url` template for apps behind the emulator listening at `base_url`."""
        return f"{base_url.rstrip('/')}{KEY_PATH}{{kid}}"

    def app_config(self, base_url: str, **overrides: Any) -> ALBConfig:
        """An `ALBConfig` that trusts this emulator (and only it) at `base_url`."""
        settings: dict[str, Any] = {
            "alb_arns": [DEV_SIGNER_ARN],
            "client_ids": [self.settings.client_id],
            "issuers": [self.settings.issuer],
            "key_url": self.key_url(base_url),
            "session_cookie": self.settings.session_cookie,
        }
        settings.update(overrides)
        return ALBConfig(**settings)

    def app_environment(self, base_url: str) -> dict[str, str]:
        """The `ALB_OIDC_*` variables for `ALBConfig.from_env()` in an app behind the emulator."""
        return {
            "ALB_OIDC_ALB_ARNS": DEV_SIGNER_ARN,
            "ALB_OIDC_CLIENT_IDS": self.settings.client_id,
            "ALB_OIDC_ISSUERS": self.settings.issuer,
            "ALB_OIDC_KEY_URL": self.key_url(base_url),
            "ALB_OIDC_SESSION_COOKIE": self.settings.session_cookie,
        }

    # -- ASGI --------------------------------------------------------------------------------

    @property
    def client(self) -> httpx2.AsyncClient:
        if self._client is None:
            self._client = httpx2.AsyncClient(timeout=self.settings.timeout)
        return self._client

    async def aclose(self) -> None:
        """Close the HTTP client if the emulator created it."""
        if self._owns_client and self._client is not None:
            await self._client.aclose()
            self._client = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] == "websocket":
            # Not emulated: refuse the upgrade rather than pass it through unauthenticated.
            await send({"type": "websocket.close", "code": 1008})
            return
        request = Request(scope, receive)
        path = scope["path"]
        if path == CALLBACK_PATH:
            response = await self._callback(request)
        elif path.startswith(KEY_PATH):
            response = self._public_key(path[len(KEY_PATH) :])
        elif any(fnmatchcase(path, pattern) for pattern in self.settings.public_paths):
            await self._forward(scope, receive, send)
            return
        else:
            session = self._session(request)
            if session is not None:
                await self._forward(scope, receive, send, self._identity(session))
                return
            if self.settings.on_unauthenticated == "allow":
                await self._forward(scope, receive, send)
                return
            if self.settings.on_unauthenticated == "deny":
                response = PlainTextResponse("401 Authorization Required", status_code=401)
            else:
                response = await self._start_login(request)
        await response(scope, receive, send)

    async def _forward(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        identity: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        request = (scope, receive, send)
        await forward(self.client, self.settings.upstream, request, extra_headers=identity or ())

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    # -- sessions ----------------------------------------------------------------------------

    def _session(self, request: Request) -> dict[str, Any] | None:
        session = self._cookies.open(self.settings.session_cookie, request.cookies)
        if session is None or session.get("access_exp", 0) <= self.clock():
            # Expired IdP tokens: the ALB would refresh; the emulator logs in again instead.
            return None
        return session

    def _identity(self, session: Mapping[str, Any]) -> list[tuple[bytes, bytes]]:
        cached = self._tokens.get(session["sid"])
        if cached is None:
            exp = int(min(self.clock() + self.settings.data_token_lifetime, session["exp"]))
            token = self.signer.data_token(
                session["claims"],
                issuer=self.settings.issuer,
                client_id=self.settings.client_id,
                exp=exp,
            )
            cached = self._tokens[session["sid"]] = (token, exp)
        return [
            (b"x-amzn-oidc-data", cached[0].encode("ascii")),
            (b"x-amzn-oidc-accesstoken", session["access_token"].encode("latin-1")),
            (b"x-amzn-oidc-identity", str(session["claims"]["sub"]).encode("utf-8")),
        ]

    def _public_key(self, kid: str) -> Response:
        if kid != self.signer.kid:
            return PlainTextResponse("not found", status_code=404)
        return Response(self.signer.public_key_pem, media_type="application/x-pem-file")

    # -- login -------------------------------------------------------------------------------

    async def _discover(self) -> dict[str, str]:
        if self._endpoints is None:
            settings = self.settings
            if settings.authorization_endpoint and settings.token_endpoint:
                endpoints = {
                    "authorization_endpoint": settings.authorization_endpoint,
                    "token_endpoint": settings.token_endpoint,
                    "userinfo_endpoint": settings.userinfo_endpoint or "",
                    "token_endpoint_auth": "client_secret_basic",
                }
            else:
                document = await self._json(
                    "GET", f"{settings.issuer.rstrip('/')}/.well-known/openid-configuration"
                )
                if document.get("issuer") != settings.issuer:
                    raise IdPError("discovery names another issuer")
                methods = document.get("token_endpoint_auth_methods_supported", [])
                endpoints = {
                    name: str(document.get(name, ""))
                    for name in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint")
                }
                endpoints["token_endpoint_auth"] = (
                    "client_secret_post"
                    if methods and "client_secret_basic" not in methods
                    else "client_secret_basic"
                )
            if not all(endpoints.values()):
                raise IdPError("the IdP does not publish all of its endpoints")
            self._endpoints = endpoints
        return self._endpoints

    async def _json(self, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = await self.client.request(method, url, **kwargs)
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

    async def _start_login(self, request: Request) -> Response:
        try:
            endpoints = await self._discover()
        except IdPError as exc:
            return message_page("Bad gateway", f"Identity provider: {exc}.", status_code=502)
        state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        query = {
            **self.settings.extra_params,
            "client_id": self.settings.client_id,
            "redirect_uri": self._redirect_uri(request),
            "response_type": "code",
            "scope": self.settings.scope,
            "state": state,
            "nonce": nonce,
        }
        response = RedirectResponse(
            f"{endpoints['authorization_endpoint']}?{urlencode(query)}", status_code=302
        )
        pending = {"state": state, "nonce": nonce, "target": target}
        pending["exp"] = int(self.clock()) + _LOGIN_LIFETIME  # type: ignore[assignment]
        for name, value in self._cookies.seal(_LOGIN_COOKIE, pending):
            response.raw_headers.append(
                cookie_header(name, value, max_age=_LOGIN_LIFETIME, secure=_secure(request))
            )
        return response

    def _redirect_uri(self, request: Request) -> str:
        return f"{request.url.scheme}://{request.url.netloc}{CALLBACK_PATH}"

    async def _callback(self, request: Request) -> Response:
        params = request.query_params
        pending = self._cookies.open(_LOGIN_COOKIE, request.cookies)
        if pending is None or not secrets.compare_digest(
            params.get("state", ""), str(pending["state"])
        ):
            return message_page(
                "Sign-in failed",
                "The sign-in state is missing, expired or does not match. Start again.",
                status_code=401,
                link="/",
            )
        if "error" in params or "code" not in params:
            reason = params.get("error_description") or params.get("error") or "no code"
            return message_page(
                "Sign-in failed", f"The IdP said: {reason}", status_code=401, link="/"
            )
        try:
            claims, access_token, lifetime = await self._redeem(request, params["code"], pending)
        except IdPError as exc:
            return message_page("Sign-in failed", f"Identity provider: {exc}.", status_code=401)
        now = int(self.clock())
        session = {
            "sid": secrets.token_urlsafe(16),
            "claims": claims,
            "access_token": access_token,
            "access_exp": now + lifetime,
            "exp": now + self.settings.session_timeout,
        }
        try:
            shards = self._cookies.seal(self.settings.session_cookie, session)
        except CookieTooLargeError:
            # An ALB bounds the claims it keeps too; this bound (four shards) is the emulator's.
            return message_page(
                "Claims too large",
                f"The user's claims do not fit in {MAX_SHARDS} session cookie shards.",
                status_code=500,
            )
        response = RedirectResponse(str(pending["target"]), status_code=302)
        secure = _secure(request)
        for name, value in shards:
            response.raw_headers.append(cookie_header(name, value, max_age=604_800, secure=secure))
        stale = [f"{self.settings.session_cookie}-{i}" for i in range(len(shards), MAX_SHARDS)]
        for name in stale:
            if name in request.cookies:
                response.raw_headers.append(expire_header(name, secure=secure))
        response.raw_headers.append(expire_header(f"{_LOGIN_COOKIE}-0", secure=secure))
        return response

    async def _redeem(
        self, request: Request, code: str, pending: Mapping[str, Any]
    ) -> tuple[dict[str, Any], str, int]:
        """Code -> tokens -> checked ID token -> userinfo claims, access token, its lifetime."""
        endpoints = await self._discover()
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self._redirect_uri(request),
            "client_id": self.settings.client_id,
        }
        auth: tuple[str, str] | None = (self.settings.client_id, self.settings.client_secret)
        if endpoints["token_endpoint_auth"] == "client_secret_post":  # noqa: S105 - a method
            form["client_secret"] = self.settings.client_secret
            auth = None
        tokens = await self._json("POST", endpoints["token_endpoint"], data=form, auth=auth)
        access_token, id_token = tokens.get("access_token"), tokens.get("id_token")
        if not isinstance(access_token, str) or not isinstance(id_token, str):
            raise IdPError("the token endpoint did not return an access token and an ID token")
        # The ID token came straight from the token endpoint (OIDC Core 3.1.3.7: the channel
        # stands in for the signature); its claims must still be ours.
        try:
            identity = jwt.decode(
                id_token,
                options={"verify_signature": False},
                audience=self.settings.client_id,
                issuer=self.settings.issuer,
                leeway=30,
            )
        except jwt.PyJWTError as exc:
            raise IdPError(f"the ID token was refused ({exc})") from exc
        if identity.get("nonce") != pending["nonce"]:
            raise IdPError("the ID token's nonce does not match")
        claims = await self._json(
            "GET",
            endpoints["userinfo_endpoint"],
            headers={"Authorization": f"Bearer {access_token}"},
        )
        if claims.get("sub") != identity.get("sub"):
            raise IdPError("userinfo is about another subject than the ID token")
        expires_in = tokens.get("expires_in", 3600)
        lifetime = expires_in if isinstance(expires_in, int) and expires_in > 0 else 3600
        return claims, access_token, lifetime


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"
