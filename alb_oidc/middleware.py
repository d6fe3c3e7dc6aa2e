"""`ALBAuthMiddleware`: pure ASGI; puts the verified user where Starlette looks for it."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable

import httpx2
from starlette.authentication import AuthCredentials, UnauthenticatedUser
from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocketClose

from .authenticator import ALBAuthenticator
from .config import ALBConfig
from .errors import AuthError, KeyUnavailableError, MissingTokenError, error_payload

__all__ = ["CONFIG_SCOPE_KEY", "ALBAuthMiddleware", "ErrorHandler"]

logger = logging.getLogger("alb_oidc")

#: The ASGI scope key under which the middleware leaves its `ALBConfig` (used by logout).
CONFIG_SCOPE_KEY = "alb_oidc.config"

ErrorHandler = Callable[[HTTPConnection, AuthError], Response | Awaitable[Response]]

# RFC 6455 "policy violation": the close code for a refused websocket handshake.
_WS_POLICY_VIOLATION = 1008


def _loggable(path: str) -> str:
    """The path as one log-safe line: a client controls it, and servers decode %0A into it."""
    text = path[:200].encode("unicode_escape").decode("ascii")
    return text + "..." if len(path) > 200 else text


class ALBAuthMiddleware:
    """Verifies the ALB's headers on every http and websocket request.

    On success `scope["user"]` is an `ALBUser` and `scope["auth"]` an `AuthCredentials` with its
    scopes. Anonymous requests (only on `public_paths`, or with `optional=True`) get Starlette's
    `UnauthenticatedUser`. A refused request gets 401/403/503 with a JSON `{"detail", "error"}`
    body (or whatever `on_error(conn, exc)` returns); a refused websocket is closed with 1008.

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

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, self._on_startup(receive), self._on_shutdown(send))
            return
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        scope[CONFIG_SCOPE_KEY] = self.config
        try:
            user = await self.authenticator.authenticate(scope["headers"])
        except AuthError as exc:
            if not self.config.is_public(scope["path"]):
                await self._refuse(scope, receive, send, exc)
                return
            logger.debug("alb_oidc: anonymous on public path (%s)", exc.code)
            user = None
        if user is None:
            if not (self.config.optional or self.config.is_public(scope["path"])):
                missing = MissingTokenError("not authenticated by the load balancer")
                await self._refuse(scope, receive, send, missing)
                return
            scope["user"], scope["auth"] = UnauthenticatedUser(), AuthCredentials()
        else:
            scope["user"], scope["auth"] = user, AuthCredentials(user.sorted_scopes)
        await self.app(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, exc: AuthError) -> None:
        level = logging.WARNING if exc.status_code >= 500 else logging.INFO
        # The message names the failed check (never a token); for a 503 it also says why the key
        # is unavailable, which the response body deliberately does not.
        reason = exc.reason if isinstance(exc, KeyUnavailableError) else exc.code
        logger.log(
            level,
            "alb_oidc: refused %s %s (%s): %s",
            scope.get("method", "WS"),
            _loggable(scope["path"]),
            reason,
            exc,
        )
        response: Response | WebSocketClose
        if scope["type"] == "websocket":
            response = WebSocketClose(code=_WS_POLICY_VIOLATION, reason=exc.code)
        elif self.on_error is not None:
            result = self.on_error(HTTPConnection(scope, receive), exc)
            response = await result if inspect.isawaitable(result) else result
        else:
            status, body, headers = error_payload(exc)
            response = JSONResponse(body, status_code=status, headers=headers)
        await response(scope, receive, send)

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
