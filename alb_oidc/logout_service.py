"""A logout service for apps behind the ALB that cannot expire the ALB's session cookie.

Grafana, Argo CD and other apps you do not write end only their own session on "log out": the
ALB's cookie shards (`AWSELBAuthSessionCookie-0` ... `-3`) survive, and the next request logs the
user straight back in. Route a path to this service and point the app's sign-out redirect at it:
on GET or POST (any path) it expires every shard, like `logout_response`, and redirects to the
IdP's logout; other methods get 405.

Configuration comes from the environment and is checked when the service starts:

- `ALB_OIDC_SESSION_COOKIE`: the listener rule's session cookie name (default
  `AWSELBAuthSessionCookie`);
- where to send the browser, one of:
  `ALB_OIDC_LOGOUT_URL` (the IdP's complete logout URL, as the app's `ALBConfig.from_env` reads
  it); or `ALB_OIDC_LOGOUT_COGNITO_DOMAIN` + `ALB_OIDC_LOGOUT_CLIENT_ID` +
  `ALB_OIDC_LOGOUT_REDIRECT_URI` (Cognito, see `cognito_logout_url`); or
  `ALB_OIDC_LOGOUT_END_SESSION_ENDPOINT` + `ALB_OIDC_LOGOUT_REDIRECT_URI`, optionally
  `ALB_OIDC_LOGOUT_CLIENT_ID` (OIDC RP-initiated logout, see `oidc_logout_url`).

Run it with `uvicorn alb_oidc.logout_service:create_app --factory` (or `...:app`), or as a Lambda
target with the handler `alb_oidc.logout_service.handler` (needs `pip install mangum`).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from .config import (
    _COOKIE_NAME,
    DEFAULT_SESSION_COOKIE,
    _unknown_variables,
    _warn_unknown,
    check_redirect_url,
)
from .errors import ConfigurationError
from .logout import _not_configured, cognito_logout_url, logout_response, oidc_logout_url
from .middleware import logger

__all__ = ["HEALTH_PATH", "app", "create_app", "handler", "logout_settings"]

_COGNITO_DOMAIN = "ALB_OIDC_LOGOUT_COGNITO_DOMAIN"
_END_SESSION = "ALB_OIDC_LOGOUT_END_SESSION_ENDPOINT"
_CLIENT_ID = "ALB_OIDC_LOGOUT_CLIENT_ID"
_REDIRECT_URI = "ALB_OIDC_LOGOUT_REDIRECT_URI"
_LOGOUT_URL = "ALB_OIDC_LOGOUT_URL"
_SESSION_COOKIE = "ALB_OIDC_SESSION_COOKIE"
#: The path that answers 200 "ok" without logging out, for the target group's health check.
HEALTH_PATH = "/.alb-oidc/health"


def logout_settings(environ: Mapping[str, str] | None = None) -> tuple[str, str]:
    """`(IdP logout URL, session cookie name)` from `environ` (default `os.environ`).

    Raises `ConfigurationError` naming the variable that is missing, conflicting or wrong.
    """
    env = os.environ if environ is None else environ
    _refuse_unknown_logout_variables(env)

    def get(name: str) -> str | None:
        value = env.get(name)
        return value.strip() if value is not None and value.strip() else None

    cookie_name = get(_SESSION_COOKIE) or DEFAULT_SESSION_COOKIE
    if not _COOKIE_NAME.fullmatch(cookie_name):
        raise ConfigurationError(f"{_SESSION_COOKIE} is not a cookie name: {cookie_name!r}")

    chosen = [name for name in (_LOGOUT_URL, _COGNITO_DOMAIN, _END_SESSION) if get(name)]
    if len(chosen) != 1:
        found = f" (found {' and '.join(chosen)})" if chosen else ""
        raise ConfigurationError(
            f"set exactly one of {_LOGOUT_URL} (the IdP's logout URL), {_COGNITO_DOMAIN} "
            f"(Cognito) or {_END_SESSION} (OIDC){found}"
        )
    client_id, redirect_uri = get(_CLIENT_ID), get(_REDIRECT_URI)
    if chosen[0] == _LOGOUT_URL:
        extra = [name for name in (_CLIENT_ID, _REDIRECT_URI) if get(name)]
        if extra:
            raise ConfigurationError(
                f"{' and '.join(extra)} would be ignored: {_LOGOUT_URL} is the complete URL "
                f"(they go with {_COGNITO_DOMAIN} or {_END_SESSION})"
            )
        url = get(_LOGOUT_URL) or ""
        check_redirect_url(_LOGOUT_URL, url)
        return url, cookie_name
    if redirect_uri is None:
        raise ConfigurationError(
            f"{_REDIRECT_URI} is not set: where the IdP sends the browser after logout "
            "(a page outside the ALB's authenticate rule)"
        )
    if chosen[0] == _COGNITO_DOMAIN:
        if client_id is None:
            raise ConfigurationError(f"{_CLIENT_ID} is not set (the Cognito app client id)")
        names = {"domain": _COGNITO_DOMAIN, "client_id": _CLIENT_ID, "logout_uri": _REDIRECT_URI}
        build = functools.partial(cognito_logout_url, get(_COGNITO_DOMAIN) or "", client_id)
    else:
        names = {"end_session_endpoint": _END_SESSION, "post_logout_redirect_uri": _REDIRECT_URI}
        build = functools.partial(oidc_logout_url, get(_END_SESSION) or "", client_id=client_id)
    try:
        return build(redirect_uri), cookie_name
    except ConfigurationError as exc:
        raise _renamed(exc, names) from exc


_OWN_PREFIX = "ALB_OIDC_LOGOUT_"


def _refuse_unknown_logout_variables(env: Mapping[str, str]) -> None:
    """Refuse an `ALB_OIDC_LOGOUT_*` variable the service does not read: a misspelt setting
    (`ALB_OIDC_LOGOUT_SESSION_COOKIE` for `ALB_OIDC_SESSION_COOKIE`) would leave the session's
    cookies alive, a logout that does nothing. Other unknown `ALB_OIDC_*` variables are warned
    about, as `ALBConfig.from_env` does (the service may share an app's environment)."""
    unknown = _unknown_variables(env)
    for name, hint in unknown:
        if name.startswith(_OWN_PREFIX):
            raise ConfigurationError(f"{name} is not a setting of the logout service{hint}")
    _warn_unknown(unknown)


def _renamed(exc: ConfigurationError, names: Mapping[str, str]) -> ConfigurationError:
    """The same message with the argument name replaced by the variable that supplied it."""
    message = str(exc)
    for argument, variable in names.items():
        if message.startswith(f"{argument} "):
            return ConfigurationError(variable + message[len(argument) :])
    return ConfigurationError(f"{', '.join(names.values())}: {message}")


def create_app(environ: Mapping[str, str] | None = None) -> Starlette:
    """The logout service, configured from `environ` (default `os.environ`).

    For `uvicorn alb_oidc.logout_service:create_app --factory`: a bad configuration raises
    `ConfigurationError` here, so the server does not start.
    """
    redirect_url, cookie_name = logout_settings(environ)

    async def logout(request: Request) -> Response:
        return logout_response(request, redirect_url=redirect_url, cookie_name=cookie_name)

    async def health(request: Request) -> Response:
        return PlainTextResponse("ok", headers={"Cache-Control": "no-store"})

    # GET also answers HEAD; any other method gets Starlette's 405 with an Allow header. The
    # load balancer's health checks (always on for instance and IP targets, 200 expected) get
    # HEALTH_PATH; every other path logs out.
    return Starlette(
        routes=[
            Route(HEALTH_PATH, health, methods=["GET"]),
            Route("/{path:path}", logout, methods=["GET", "POST"]),
        ]
    )


@functools.cache
def _from_environment() -> Starlette:
    return create_app()


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """`uvicorn alb_oidc.logout_service:app`: `create_app()` on first use.

    A bad configuration fails the server's startup (the lifespan), with the message.
    """
    if scope["type"] == "lifespan":
        try:
            _from_environment()
        except Exception as exc:  # whatever it is, the server must not start
            message = str(exc) if isinstance(exc, ConfigurationError) else repr(exc)
            await receive()
            await send({"type": "lifespan.startup.failed", "message": message})
            return
    try:
        service = _from_environment()
    except ConfigurationError as exc:
        # Served without a lifespan (`--lifespan off`): no startup could refuse it.
        logger.error("logout service misconfigured: %s", exc)
        if scope["type"] == "http":
            await _not_configured()(scope, receive, send)
        return
    await service(scope, receive, send)


@functools.cache
def _lambda_handler() -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    from mangum import Mangum  # noqa: PLC0415 - optional: only Lambda deployments install it

    # lifespan="off": Mangum would run the lifespan around every invocation, for nothing here.
    return Mangum(create_app(), lifespan="off")


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """AWS Lambda entry point for an ALB target group: `alb_oidc.logout_service.handler`.

    Built on the first invocation and reused while the execution environment lives. Enable
    multi-value headers on the target group: the response has one Set-Cookie per shard.
    """
    return _lambda_handler()(event, context)
