"""FastAPI dependencies: who the user is, and whether they may (install `alb-oidc[fastapi]`).

Use them with `Security(...)` so the scopes appear in the OpenAPI schema:

    @app.get("/me")
    def me(user: ALBUser = Security(current_user)): ...

    @app.get("/tasks", dependencies=[Security(require_scopes("tasks/read"))])
    def tasks(): ...

All of them read what `ALBAuthMiddleware` verified; none verifies anything itself. Not
authenticated: 401. Authenticated without the scope or group: 403 naming what is missing. On a
websocket route the connection is closed with 1008 instead.

`require_scopes(...)` and `require_groups(...)` return the same dependency for the same
arguments, so tests can replace one with `app.dependency_overrides[require_scopes("x")] = ...`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine, Iterable
from functools import cache
from typing import Any

try:
    from fastapi import HTTPException, Security, WebSocketException
    from fastapi.security import APIKeyHeader, HTTPBearer, SecurityScopes
except ModuleNotFoundError as exc:  # pragma: no cover - tested in a subprocess without fastapi
    if exc.name != "fastapi":
        raise
    raise ModuleNotFoundError(
        'alb_oidc.guards needs FastAPI: pip install "alb-oidc[fastapi]"', name="fastapi"
    ) from exc
from starlette.requests import HTTPConnection

from .config import ALBConfig
from .errors import AuthError, MissingTokenError, PermissionDeniedError, error_payload, loggable
from .middleware import CONFIG_SCOPE_KEY, log_refusal
from .user import ALBUser

__all__ = [
    "alb_scheme",
    "bearer_scheme",
    "current_user",
    "optional_user",
    "require_groups",
    "require_scopes",
]

logger = logging.getLogger("alb_oidc")

#: Appended to a missing-scope 403 when the app verifies no access token, so grants no scope.
NO_SCOPE_SOURCE = (
    "scopes come only from a verified access token, and this app verifies none: "
    "configure ALBConfig.cognito or ALBConfig.access_token"
)

#: Appended to a missing-group 403 when nothing the app verifies can grant a group.
NO_GROUP_SOURCE = (
    "groups come only from a verified token, and this app verifies none that has them: "
    "configure ALBConfig.cognito, ALBConfig.access_token or ALBConfig.groups_claim"
)
# The configurations (by identity: each is held here, so its id is not reused) whose "can never
# pass" warning was logged, per kind: once per config, so each app (and each test's) warns.
_WARNED: dict[tuple[str, int], ALBConfig] = {}
_WARNED_HELD = 64

#: What the guards log when the request never went through `ALBAuthMiddleware`.
NOT_INSTALLED = (
    "ALBAuthMiddleware is not installed on this app, so no request has a verified user: "
    "add it with app.add_middleware(ALBAuthMiddleware, config=...)"
)

#: The OpenAPI security scheme: the header the ALB sets. Routes guarded here list it, with scopes.
alb_scheme = APIKeyHeader(
    name="x-amzn-oidc-data",
    scheme_name="ALB",
    description="Set by the AWS Application Load Balancer after login; verified by alb-oidc.",
    auto_error=False,
)

#: The OpenAPI security scheme of machine clients (`ALBConfig.bearer`): an HTTP bearer JWT.
#: Every guard lists it as the alternative to `alb_scheme`, with the same scopes.
bearer_scheme = HTTPBearer(
    scheme_name="Bearer",
    bearerFormat="JWT",
    description="A machine client's access token (ALBConfig.bearer); verified by alb-oidc.",
    auto_error=False,
)


def _reject(conn: HTTPConnection, exc: AuthError) -> Exception:
    log_refusal(conn.scope, exc)
    if conn.scope["type"] == "websocket":
        return WebSocketException(code=1008, reason=exc.code)
    user, config = conn.scope.get("user"), conn.scope.get(CONFIG_SCOPE_KEY)
    if isinstance(user, ALBUser):
        bearer = user.is_bearer  # a 403: the challenge is for bearer clients only
    else:
        bearer = isinstance(config, ALBConfig) and config.bearer is not None
    status, body, headers = error_payload(exc, bearer=bearer)
    return HTTPException(status_code=status, detail=body["detail"], headers=headers)


def _denied(
    conn: HTTPConnection,
    kind: str,
    required: Iterable[str],
    granted: Iterable[str],
    *,
    any_of: bool = False,
    guard: str,
) -> Exception:
    """The 403 for missing scopes or groups; says so (and warns once) when the configuration
    can never grant one to an ALB login (once per configuration)."""
    config = conn.scope.get(CONFIG_SCOPE_KEY)
    hint = None
    user = conn.scope.get("user")
    if (
        isinstance(config, ALBConfig)
        and config.cognito is None
        and config.access_token is None
        and not config.insecure_decode_unverified_access_token
        and not (isinstance(user, ALBUser) and user.is_bearer)
        and (kind == "scope" or config.groups_claim is None)
    ):
        hint = NO_SCOPE_SOURCE if kind == "scope" else NO_GROUP_SOURCE
        key = (kind, id(config))
        if _WARNED.get(key) is not config:
            if len(_WARNED) >= _WARNED_HELD:
                _WARNED.clear()
            _WARNED[key] = config
            logger.warning(
                "%s can never pass for ALB logins (%s), so every user is refused with 403",
                guard,
                hint,
            )
    denied = PermissionDeniedError(
        kind=kind, required=required, granted=granted, any_of=any_of, hint=hint
    )
    return _reject(conn, denied)


def _user(conn: HTTPConnection) -> ALBUser:
    user = conn.scope.get("user")
    if not isinstance(user, ALBUser):
        if "user" not in conn.scope:  # no authentication middleware ran: not the client's fault
            raise _not_installed(conn)
        raise _reject(conn, MissingTokenError("not authenticated"))
    return user


def _not_installed(conn: HTTPConnection) -> Exception:
    """A 503 (on a websocket, a close with 1011), logged as the configuration error it is."""
    logger.error("%s (%s)", NOT_INSTALLED, loggable(conn.url.path))
    if conn.scope["type"] == "websocket":
        return WebSocketException(code=1011, reason="authentication_not_configured")
    return HTTPException(
        status_code=503,
        detail="authentication is not configured",
        headers={"Cache-Control": "no-store"},
    )


def _with_scopes(conn: HTTPConnection, user: ALBUser, scopes: list[str], guard: str) -> ALBUser:
    """`user`, if they hold every one of `scopes` (the scopes a `Security(..., scopes=[...])`
    around the guard adds, which OpenAPI lists as required); 403 otherwise."""
    if scopes and not user.has_scopes(*scopes):
        raise _denied(conn, "scope", scopes, user.scopes, guard=f"{guard} (scopes={scopes!r})")
    return user


# The guards are coroutines: they do no I/O, and FastAPI runs a plain function in its thread
# pool, which costs every guarded request a thread hop and competes with sync endpoints.
async def current_user(
    conn: HTTPConnection,
    security_scopes: SecurityScopes,
    _header: str | None = Security(alb_scheme),
    _bearer: object = Security(bearer_scheme),
) -> ALBUser:
    """The verified `ALBUser`; 401 if there is none.

    Scopes given as `Security(current_user, scopes=[...])` are all required (403 otherwise).
    """
    return _with_scopes(conn, _user(conn), security_scopes.scopes, "Security(current_user)")


async def optional_user(
    conn: HTTPConnection,
    security_scopes: SecurityScopes,
    _header: str | None = Security(alb_scheme),
    _bearer: object = Security(bearer_scheme),
) -> ALBUser | None:
    """The verified `ALBUser`, or None for an anonymous request (`optional=True`, public paths).

    Scopes given as `Security(optional_user, scopes=[...])` are required of a signed-in user
    (403 otherwise); an anonymous request still gets None. Without `ALBAuthMiddleware` on the
    app: 503, and an error in the log.
    """
    user = conn.scope.get("user")
    if user is None and "user" not in conn.scope:
        raise _not_installed(conn)
    if not isinstance(user, ALBUser):
        return None
    return _with_scopes(conn, user, security_scopes.scopes, "Security(optional_user)")


def _normalised(kind: str, names: tuple[str, ...], any_of: bool) -> tuple[tuple[str, ...], bool]:
    """The requirement in one canonical form: sorted unique names; any_of only if it matters."""
    if not names:
        raise ValueError(f"require_{kind}s needs at least one {kind}")
    for name in names:
        if not isinstance(name, str) or not name or any(char.isspace() for char in name):
            raise ValueError(f"require_{kind}s: {name!r} is not a {kind} name")
    unique = tuple(sorted(set(names)))
    return unique, bool(any_of) and len(unique) > 1


@cache
def _guard(
    kind: str, names: tuple[str, ...], any_of: bool
) -> Callable[..., Coroutine[Any, Any, ALBUser]]:
    # Only scopes are OpenAPI security scopes; groups are checked but not advertised.
    advertised = list(names) if kind == "scope" else []

    async def dependency(
        conn: HTTPConnection,
        security_scopes: SecurityScopes,
        _header: str | None = Security(alb_scheme, scopes=advertised),
        _bearer: object = Security(bearer_scheme, scopes=advertised),
    ) -> ALBUser:
        user = _user(conn)
        granted = user.scopes if kind == "scope" else user.groups
        holds = user.has_scopes if kind == "scope" else user.in_groups
        if not holds(*names, any_of=any_of):
            raise _denied(conn, kind, names, granted, any_of=any_of, guard=name)
        # The scopes of a `Security(require_...(...), scopes=[...])` around this guard: OpenAPI
        # lists them as required, so they are (all of them, whatever `any_of` says of `names`).
        return _with_scopes(conn, user, security_scopes.scopes, name)

    name = f"require_{kind}s({', '.join(names)}{', any_of=True' if any_of else ''})"
    dependency.__name__ = name
    return dependency


def require_scopes(
    *scopes: str, any_of: bool = False
) -> Callable[..., Coroutine[Any, Any, ALBUser]]:
    """A dependency that requires all (or, with `any_of=True`, one) of `scopes`; 403 if not.

    The same requirement gives the same dependency however it is spelled (argument order,
    repeats, `any_of=False` written out), so one `dependency_overrides` entry covers them all.
    """
    return _guard("scope", *_normalised("scope", scopes, any_of))


def require_groups(
    *groups: str, any_of: bool = False
) -> Callable[..., Coroutine[Any, Any, ALBUser]]:
    """A dependency that requires membership of all (or, with `any_of=True`, one) of `groups`.

    Like `require_scopes`, the same requirement always gives the same dependency.
    """
    return _guard("group", *_normalised("group", groups, any_of))
