"""`ALBAuthMiddleware`: pure ASGI; puts the verified user where Starlette looks for it."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from types import CoroutineType

import httpx2
from starlette.authentication import AuthCredentials, UnauthenticatedUser
from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocketClose

from .authenticator import ALBAuthenticator
from .config import ALBConfig
from .errors import (
    AuthError,
    ConfigurationError,
    MissingTokenError,
    error_payload,
    loggable,
)
from .user import ALBUser

__all__ = ["CONFIG_SCOPE_KEY", "ALBAuthMiddleware", "ErrorHandler"]

logger = logging.getLogger("alb_oidc")

#: The ASGI scope key under which the middleware leaves its `ALBConfig` (used by logout).
CONFIG_SCOPE_KEY = "alb_oidc.config"

#: The type of `on_error`: given the request and the refusal, the response (or an awaitable of it).
ErrorHandler = Callable[[HTTPConnection, AuthError], Response | Awaitable[Response]]

# RFC 6455 "policy violation": the close code for a refused websocket handshake.
_WS_POLICY_VIOLATION = 1008
#: Starlette's scope for "a user is signed in" (`@requires("authenticated")`), before the user's
#: own scopes in `request.auth.scopes`.
_AUTHENTICATED = ("authenticated",)


#: Set on an endpoint that cannot work without `ALBConfig.logout_url` (see `logout_endpoint`).
NEEDS_LOGOUT_URL = "__alb_oidc_needs_logout_url__"


def _routes_needing_logout_url(app: object) -> dict[str, frozenset[str] | None]:
    """The paths of routes under `app` whose endpoint needs `logout_url`, each with the HTTP
    methods its route answers (None: any). Starlette and FastAPI routers, mounts and the
    middleware between them are followed through their `app`, `router` and `routes`
    attributes; only routes and mounts add to the path (a middleware's `path`, such as
    `SessionMiddleware`'s cookie path, is not a route's)."""
    found: dict[str, frozenset[str] | None] = {}
    seen: set[int] = set()
    pending: list[tuple[str, object]] = [("", app)]
    while pending:
        prefix, node = pending.pop()
        if node is None or id(node) in seen or len(seen) > 10_000:
            continue
        seen.add(id(node))
        path = prefix
        if isinstance(node, BaseRoute):
            path += str(getattr(node, "path", ""))
            if getattr(getattr(node, "endpoint", None), NEEDS_LOGOUT_URL, False):
                where, methods = path or "/", getattr(node, "methods", None)
                known = found.get(where, frozenset())
                found[where] = None if methods is None or known is None else known | methods
        routes = getattr(node, "routes", None)
        if isinstance(routes, list):
            pending.extend((path, route) for route in routes)
        pending.extend((path, getattr(node, name, None)) for name in ("app", "router"))
    return dict(sorted(found.items()))


def log_refusal(scope: Scope, exc: AuthError) -> None:
    """Log a refused request on the `alb_oidc` logger: INFO for a 401 or 403, WARNING for a 503
    (the middleware's refusals and the guards' alike)."""
    level = logging.WARNING if exc.status_code >= 500 else logging.INFO
    # The message names the failed check (never a token); for a 503 it also says why the key is
    # unavailable, which the response body deliberately does not.
    reason = exc.reason
    path = loggable(scope["path"])
    logger.log(
        level,
        "refused %s %s (%s): %s",
        scope.get("method", "WS"),
        path,
        reason,
        exc,
        # For JSON log formatters: the same facts as fields (the path escaped as above).
        extra={
            "alb_oidc_code": exc.code,
            "alb_oidc_reason": reason,
            "alb_oidc_path": path,
            "alb_oidc_status": exc.status_code,
        },
    )


class ALBAuthMiddleware:
    """Verifies the ALB's headers on every http and websocket request.

    On success `scope["user"]` is an `ALBUser` and `scope["auth"]` an `AuthCredentials` whose
    scopes are Starlette's `"authenticated"` and then the user's scopes. Anonymous requests
    (only on `public_paths`, or with `optional=True`) get Starlette's `UnauthenticatedUser`. A
    refused request gets 401/403/503 with a JSON `{"detail", "error"}`
    body (or whatever `on_error(conn, exc)` returns); a refused websocket is closed with 1008.
    With `ALBConfig.bearer` set, requests without the ALB's headers may authenticate with
    `Authorization: Bearer`, and 401s carry an RFC 6750 `WWW-Authenticate: Bearer` challenge.

    With `warm_up=True` the user pool's JWKS is fetched during lifespan startup. The HTTP client
    the middleware creates for itself is closed on lifespan shutdown.
    """

    def __init__(
        self,
        app: ASGIApp,
        config: ALBConfig,
        *,
        http_client: httpx2.AsyncClient | None = None,
        clock: Callable[[], float] | None = None,
        on_error: ErrorHandler | None = None,
        warm_up: bool = False,
    ) -> None:
        self.app = app
        self.config = config
        self.authenticator = ALBAuthenticator(config, http_client=http_client, clock=clock)
        self.on_error = on_error
        self.warm_up = warm_up
        self._startup_error: str | None = None
        paths = _routes_needing_logout_url(app)
        # Logging out needs no identity, and must work when the headers no longer verify (an
        # expired data token, the key endpoint down): `logout_endpoint`'s routes are public
        # (their paths, for the methods they answer).
        self._logout_paths = paths
        if config.logout_url is None and paths:
            # Refuse at startup rather than fail when someone clicks "log out". Lifespan
            # startup is the only place an ASGI app can refuse to start; without lifespan
            # (Lambda, a bare TestClient) the warning and the endpoint's 503 remain.
            self._startup_error = (
                f"logout_endpoint is routed at {', '.join(paths)} but ALBConfig.logout_url "
                "is not set (ALB_OIDC_LOGOUT_URL; see cognito_logout_url and oidc_logout_url)"
            )
            logger.warning("%s", self._startup_error)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http" and kind != "websocket":  # noqa: PLR1714 - two compares beat a tuple
            await self._other(scope, receive, send)
            return
        scope[CONFIG_SCOPE_KEY] = self.config
        try:
            # `authenticate` without its coroutine: one fewer per request when nothing waits.
            outcome = self.authenticator._authenticate(scope["headers"])
            if type(outcome) is CoroutineType:
                outcome = await outcome
            user: ALBUser | None = outcome  # type: ignore[assignment]  # a coroutine was awaited
        except AuthError as exc:
            if not self._public(scope):
                await self._refuse(scope, receive, send, exc)
                return
            logger.debug("anonymous on public path (%s)", exc.code)
            user = None
        if user is None:
            if not (self.config.optional or self._public(scope)):
                missing = MissingTokenError("not authenticated by the load balancer")
                await self._refuse(scope, receive, send, missing)
                return
            scope["user"], scope["auth"] = UnauthenticatedUser(), AuthCredentials()
        else:
            credentials = AuthCredentials(_AUTHENTICATED + user.sorted_scopes)
            scope["user"], scope["auth"] = user, credentials
        await self.app(scope, receive, send)

    def _public(self, scope: Scope) -> bool:
        """Whether the request is served without a verified user: `public_paths`, and the
        routes of `logout_endpoint` (their paths, with the methods they answer)."""
        path = scope["path"]
        if self.config.is_public(path):
            return True
        if path not in self._logout_paths:
            return False
        methods = self._logout_paths[path]
        return scope["type"] == "http" and (methods is None or scope["method"] in methods)

    async def _other(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Lifespan (startup may fail on a configuration error, and warms up and closes the
        key fetching), and any other scope type passed through as it is."""
        if scope["type"] == "lifespan":
            if self._startup_error is not None:
                await self._refuse_startup(receive, send)
                return
            await self.app(scope, self._on_startup(receive), self._on_shutdown(send))
            return
        await self.app(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, exc: AuthError) -> None:
        log_refusal(scope, exc)
        response: Response | WebSocketClose | None = None
        if scope["type"] == "websocket":
            if "websocket.http.response" not in scope.get("extensions", {}):
                # Closed before it was accepted: the server answers the handshake with a 403.
                response = WebSocketClose(code=_WS_POLICY_VIOLATION, reason=exc.code)
            # Else the handshake gets the refusal a request gets (its status and JSON body), as
            # a denial response: Starlette's responses send it under the websocket's names.
        elif self.on_error is not None:
            response = await self._own_response(self.on_error, scope, receive, exc)
        if response is None:
            status, body, headers = error_payload(exc, bearer=self.config.bearer is not None)
            response = JSONResponse(body, status_code=status, headers=headers)
        await response(scope, receive, send)

    async def _own_response(
        self, on_error: ErrorHandler, scope: Scope, receive: Receive, exc: AuthError
    ) -> Response | None:
        """`on_error`'s response, or None (the default refusal instead) when it raises or
        returns anything but a response: a refusal must not become a 500."""
        try:
            result = on_error(HTTPConnection(scope, receive), exc)
            response = await result if inspect.isawaitable(result) else result
        except Exception:
            logger.exception("on_error raised; the default refusal is sent instead")
            return None
        if not isinstance(response, Response):
            logger.error(
                "on_error returned %s, not a Response; the default refusal is sent instead",
                type(response).__name__,
            )
            return None
        return response

    async def _refuse_startup(self, receive: Receive, send: Send) -> None:
        """Fail lifespan startup with the configuration error, so the server does not start."""
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.failed", "message": self._startup_error})
        # As Starlette's router does after a failed startup: servers and TestClient expect it.
        raise ConfigurationError(str(self._startup_error))

    def _on_startup(self, receive: Receive) -> Receive:
        async def wrapped() -> Message:
            message = await receive()
            if message["type"] == "lifespan.startup" and self.warm_up:
                await self.authenticator.warm_up()
            return message

        return wrapped

    def _on_shutdown(self, send: Send) -> Send:
        async def wrapped(message: Message) -> None:
            if message["type"] in ("lifespan.shutdown.complete", "lifespan.shutdown.failed"):
                await self.authenticator.aclose()
            await send(message)

        return wrapped

    def __repr__(self) -> str:
        return f"ALBAuthMiddleware(config={self.config!r})"
