"""A local ALB: an ASGI reverse proxy that acts like a listener rule with `authenticate-oidc`.

For a request without a valid session it does what `OnUnauthenticatedRequest` says: redirect to
the IdP's authorization endpoint (`authenticate`), forward without identity (`allow`) or answer 401
(`deny`). `/oauth2/idpresponse` takes the IdP's answer: the code is exchanged at the token
endpoint, the ID token's `iss`, `aud`, `exp` and `nonce` are checked, userinfo is called, and the
session goes into an encrypted cookie named like the ALB's, sharded into `-0..-3`.

Every authenticated request is forwarded with any client-sent `x-amzn-oidc-*` headers removed and
the ALB's three headers added: `x-amzn-oidc-data` signed in the exact ALB wire format by
`DevSigner` (a new one per request, as an ALB does), the IdP's access token, and the `sub`. The
public key is served at `/.alb-oidc-dev/keys/{kid}` (one PEM per kid, the ALB key endpoint's
shape), so the unmodified middleware verifies it with `key_url` pointed there. This is a
development tool, not an ALB.
"""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any, Literal

import httpx2
from cachetools import TTLCache
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.types import Receive, Scope, Send

from ..config import _COOKIE_NAME, DEFAULT_SESSION_COOKIE, ALBConfig, _split_url, public_paths_of
from ..errors import ConfigurationError
from .oidc import IdPError, OIDCClient
from .pages import message_page
from .paths import RequestTarget, parse_target, with_query
from .proxy import forward
from .sessions import MAX_SHARDS, CookieTooLargeError, SealedCookie, cookie_header, expire_header
from .signer import DEV_SIGNER_ARN, DevSigner

__all__ = ["CALLBACK_PATH", "KEY_PATH", "ALBEmulator", "EmulatorSettings"]

CALLBACK_PATH = "/oauth2/idpresponse"
KEY_PATH = "/.alb-oidc-dev/keys/"
_LOGIN_COOKIE = "ALBOIDCDevLogin"
_LOGIN_LIFETIME = 900
_ENDPOINT_NAMES = ("authorization_endpoint", "token_endpoint", "userinfo_endpoint")


@dataclass(frozen=True)
class EmulatorSettings:
    """What an `authenticate-oidc` action is configured with, plus where the target is.

    Give `issuer` alone to use OIDC discovery, or all three endpoints explicitly.
    `public_paths` are forwarded without authentication, like a listener rule without the
    authenticate action. They are read as `ALBConfig.public_paths` reads them, so the app behind
    agrees: an exact path (`/health`) or a prefix ending in `*` (`/static/*`); anything else is a
    `ConfigurationError`. They match the normalised path the upstream receives
    (`/static/../admin` is `/admin`).

    An ALB signs a new `x-amzn-oidc-data` for every request, valid `data_token_lifetime` seconds
    from then (captured ALB tokens: `exp` is the request time + 120 s), and so does the emulator.
    `resign_per_request=False` reuses one token per session for half its lifetime instead.

    `timeout` is how many seconds the emulator waits for the upstream (to connect, and for each
    read of its answer) and for the IdP; 60 by default, like an ALB's idle timeout.
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
    resign_per_request: bool = True
    # An ALB waits for its target as long as its idle timeout, which is 60 s unless changed (ALB
    # guide, "Edit attributes for your Application Load Balancer": "By default, ELB sets the idle
    # timeout value for your load balancer to 60 seconds").
    timeout: float = 60.0

    def __post_init__(self) -> None:
        for name in ("upstream", "issuer"):
            value = getattr(self, name)
            parts = _split_url(name, value, value)  # a bad port or bracket: ConfigurationError
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ConfigurationError(f"{name} must be an http(s) URL with a host: {value!r}")
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
        if not isinstance(self.timeout, int | float) or not 0 < self.timeout < math.inf:
            raise ConfigurationError(
                f"timeout must be a positive number of seconds: {self.timeout!r}"
            )
        object.__setattr__(self, "public_paths", public_paths_of(self.public_paths))


class ALBEmulator:
    """The emulator as an ASGI app. `signer` defaults to a new key per instance.

    Sessions are bound to the issuer and client id they were made with, and to `idp_kid` when
    given (the key id the IdP signs access tokens with, if known: `DevStack` passes the built-in
    IdP's): a session cookie from a run with another IdP, client or IdP key counts as no session,
    since the app would refuse its access token.

    Serve it with the server's own `Date` and `Server` headers off (`DevStack` does; uvicorn:
    `--no-date-header --no-server-header`): a proxy passes the target's on and adds none.
    """

    def __init__(
        self,
        settings: EmulatorSettings,
        *,
        signer: DevSigner | None = None,
        http_client: httpx2.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
        idp_kid: str | None = None,
    ) -> None:
        self.settings = settings
        self.signer = signer or DevSigner()
        self._binding = [settings.issuer, settings.client_id, idp_kid]
        self.clock = clock
        self._client = http_client
        # Between lifespan startup and shutdown: requests share one client on one event loop.
        self._in_lifespan = False
        self._upstream = httpx2.URL(settings.upstream)
        self._owns_client = http_client is None
        self._cookies = SealedCookie(self.signer.cookie_key(), clock=clock)
        explicit = {name: getattr(settings, name) for name in _ENDPOINT_NAMES}
        self._oidc = OIDCClient(
            settings.issuer,
            settings.client_id,
            settings.client_secret,
            endpoints=explicit if all(explicit.values()) else None,
            clock=clock,
        )
        self._tokens: TTLCache[str, str] = TTLCache(
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
        """The HTTP client for the IdP and the upstream (created on first use if not given)."""
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
        if self._owns_client and not self._in_lifespan:
            # No lifespan, so maybe no lasting event loop: Starlette's TestClient used without
            # `with` runs each request on a loop of its own, where a client kept from an earlier
            # request cannot be used. One client per request then, closed with it.
            async with httpx2.AsyncClient(timeout=self.settings.timeout) as client:
                await self._handle(client, scope, receive, send)
        else:
            await self._handle(self.client, scope, receive, send)

    async def _handle(
        self, client: httpx2.AsyncClient, scope: Scope, receive: Receive, send: Send
    ) -> None:
        request = Request(scope, receive)
        target = parse_target(scope)
        if target is None:
            # An absolute or authority-form target (`http://host/x`, `@host:port/x`) would make
            # the emulator an open proxy: an ALB listener serves paths only.
            response: Response = PlainTextResponse("400 Bad Request", status_code=400)
        elif target.decoded_path == CALLBACK_PATH:
            response = await self._callback(client, request)
        elif target.decoded_path.startswith(KEY_PATH):
            response = self._public_key(target.decoded_path[len(KEY_PATH) :])
        elif target.is_public(self.settings.public_paths):
            await self._forward(client, target, (scope, receive, send))
            return
        else:
            session = self._session(request)
            if session is not None:
                identity = self._identity(session)
                await self._forward(client, target, (scope, receive, send), identity)
                return
            if self.settings.on_unauthenticated == "allow":
                await self._forward(client, target, (scope, receive, send))
                return
            if self.settings.on_unauthenticated == "deny":
                response = PlainTextResponse("401 Authorization Required", status_code=401)
            else:
                response = await self._start_login(client, request, target)
        # The emulator is served with uvicorn's Date header off, since a proxy must not add one
        # to the target's responses; responses of its own still need one (RFC 9110, 6.6.1).
        response.headers["date"] = formatdate(self.clock(), usegmt=True)
        await response(scope, receive, send)

    async def _forward(
        self,
        client: httpx2.AsyncClient,
        target: RequestTarget,
        asgi: tuple[Scope, Receive, Send],
        identity: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        url = target.upstream_url(self._upstream)
        await forward(client, url, asgi, extra_headers=identity or ())

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self._in_lifespan = True
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self._in_lifespan = False
                await self.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    # -- sessions ----------------------------------------------------------------------------

    def _session(self, request: Request) -> dict[str, Any] | None:
        session = self._cookies.open(self.settings.session_cookie, request.cookies)
        if session is None or session.get("access_exp", 0) <= self.clock():
            # Expired IdP tokens: the ALB would refresh; the emulator logs in again instead.
            return None
        if session.get("binding") != self._binding:
            # From a run with another IdP, client or IdP key (the key file kept the cookie key):
            # the app would refuse its access token, so it is no session.
            return None
        return session

    def _identity(self, session: Mapping[str, Any]) -> list[tuple[bytes, bytes]]:
        token = None if self.settings.resign_per_request else self._tokens.get(session["sid"])
        if token is None:
            exp = int(min(self.clock() + self.settings.data_token_lifetime, session["exp"]))
            token = self.signer.data_token(
                session["claims"],
                issuer=self.settings.issuer,
                client_id=self.settings.client_id,
                exp=exp,
            )
            if not self.settings.resign_per_request:
                self._tokens[session["sid"]] = token
        return [
            (b"x-amzn-oidc-data", token.encode("ascii")),
            (b"x-amzn-oidc-accesstoken", session["access_token"].encode("latin-1")),
            (b"x-amzn-oidc-identity", str(session["claims"]["sub"]).encode("utf-8")),
        ]

    def _public_key(self, kid: str) -> Response:
        if kid != self.signer.kid:
            return PlainTextResponse("not found", status_code=404)
        # The ALB's key endpoint sends the PEM with no Content-Type at all (captured responses).
        return Response(self.signer.public_key_pem)

    # -- login -------------------------------------------------------------------------------

    async def _start_login(
        self, client: httpx2.AsyncClient, request: Request, target: RequestTarget
    ) -> Response:
        try:
            endpoints = await self._oidc.endpoints(client)
        except IdPError as exc:
            return message_page("Bad gateway", f"Identity provider: {exc}.", status_code=502)
        state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        query = {
            **self.settings.extra_params,
            "client_id": self.settings.client_id,
            "redirect_uri": self._redirect_uri(request),
            "response_type": "code",
            "scope": self.settings.scope,
            "state": state,
            "nonce": nonce,
        }
        pending = {
            "state": state,
            "nonce": nonce,
            "target": target.same_origin(),
            "exp": int(self.clock()) + _LOGIN_LIFETIME,
        }
        try:
            shards = self._cookies.seal(_login_cookie(request), pending)
        except CookieTooLargeError:
            # The address to come back to lives in the login cookie, at most four shards. An
            # ALB bounds it too (request lines over 16 KB are refused). A 414 says what is
            # wrong; quietly landing on another page after login would not.
            return message_page(
                "URI too long",
                "This address is too long to come back to after signing in. "
                "Open a shorter one, or sign in first.",
                status_code=414,
                link="/",
            )
        response = RedirectResponse(
            with_query(endpoints["authorization_endpoint"], query), status_code=302
        )
        secure = _secure(request)
        for name, value in shards:
            response.raw_headers.append(
                cookie_header(name, value, max_age=_LOGIN_LIFETIME, secure=secure)
            )
        # A shard left from a longer pending login would be read as part of this one.
        _expire(response, request, _login_cookie(request), first=len(shards), secure=secure)
        return response

    def _redirect_uri(self, request: Request) -> str:
        return f"{request.url.scheme}://{request.url.netloc}{CALLBACK_PATH}"

    async def _callback(self, client: httpx2.AsyncClient, request: Request) -> Response:
        params = request.query_params
        pending = self._cookies.open(_login_cookie(request), request.cookies)
        if pending is None or not secrets.compare_digest(
            params.get("state", "").encode("utf-8"), str(pending["state"]).encode("utf-8")
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
            login = await self._oidc.redeem(
                client,
                params["code"],
                redirect_uri=self._redirect_uri(request),
                nonce=str(pending["nonce"]),
            )
        except IdPError as exc:
            return message_page("Sign-in failed", f"Identity provider: {exc}.", status_code=401)
        now = int(self.clock())
        session = {
            "sid": secrets.token_urlsafe(16),
            "binding": self._binding,
            "claims": login.claims,
            "access_token": login.access_token,
            "access_exp": now + login.lifetime,
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
        _expire(response, request, self.settings.session_cookie, first=len(shards), secure=secure)
        _expire(response, request, _login_cookie(request), first=0, secure=secure)
        return response


def _expire(response: Response, request: Request, name: str, *, first: int, secure: bool) -> None:
    """Expire the shards `name-{first}` to `name-3` that the browser sent."""
    for index in range(first, MAX_SHARDS):
        if f"{name}-{index}" in request.cookies:
            response.raw_headers.append(expire_header(f"{name}-{index}", secure=secure))


def _login_cookie(request: Request) -> str:
    """The pending login's cookie name, with the emulator's port: cookies are scoped by host, not
    port (RFC 6265, section 8.5), so two emulators on one machine would overwrite each other's."""
    server = request.scope.get("server")
    return f"{_LOGIN_COOKIE}-{server[1]}" if server and server[1] is not None else _LOGIN_COOKIE


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"
