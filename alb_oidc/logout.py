"""Logging out from behind an ALB: expire every session cookie shard, then go to the IdP's logout.

The ALB keeps its session in `AWSELBAuthSessionCookie-0`, `-1`, ... (the rule may rename it).
Clearing only some shards, or not going to the IdP, leaves the user logged in: the next request
through the authenticate rule silently logs them back in. The page the IdP finally sends the user
to must not be behind the authenticate rule, or the same happens.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response

from .config import (
    _COOKIE_NAME,
    DEFAULT_SESSION_COOKIE,
    ALBConfig,
    _is_loopback,
    check_redirect_url,
)
from .errors import ConfigurationError
from .middleware import CONFIG_SCOPE_KEY, NEEDS_LOGOUT_URL, logger

__all__ = [
    "cognito_logout_url",
    "logout_endpoint",
    "logout_response",
    "oidc_logout_url",
    "shard_names",
]

#: The ALB writes at most four shards; any higher-numbered one the browser sends is expired too.
ALB_COOKIE_SHARDS = 4
_EPOCH = "Thu, 01 Jan 1970 00:00:00 GMT"


def cognito_logout_url(domain: str, client_id: str, logout_uri: str) -> str:
    """The Cognito hosted UI logout URL: `https://{domain}/logout?client_id=...&logout_uri=...`.

    `domain` is the user pool domain (`myapp.auth.eu-west-1.amazoncognito.com` or a custom
    domain), with or without `https://`. `logout_uri` must be one of the app client's allowed
    sign-out URLs, and must not be behind the ALB's authenticate rule.
    """
    if not isinstance(domain, str):
        raise ConfigurationError(f"domain is not a host name: {domain!r}")
    base = domain if "://" in domain else f"https://{domain}"
    check_redirect_url("domain", base)
    parts = urlsplit(base)
    if parts.path.strip("/") or parts.query or parts.fragment:
        raise ConfigurationError(f"domain must be a host name, not a URL with a path: {domain!r}")
    host = parts.hostname or ""
    if "." not in host and not _is_loopback(host):
        # The listener rule's UserPoolDomain may be the bare prefix; the browser needs the host.
        raise ConfigurationError(
            f"domain must be the user pool's full domain name, not its prefix: {domain!r} "
            f"(for a prefix, {host}.auth.REGION.amazoncognito.com)"
        )
    if not client_id:
        raise ConfigurationError("client_id must not be empty")
    check_redirect_url("logout_uri", logout_uri, https=False)
    query = urlencode({"client_id": client_id, "logout_uri": logout_uri})
    return urlunsplit((parts.scheme, parts.netloc, "/logout", query, ""))


def oidc_logout_url(
    end_session_endpoint: str, post_logout_redirect_uri: str, client_id: str | None = None
) -> str:
    """An OIDC RP-initiated logout URL from the IdP's `end_session_endpoint` (from discovery).

    Query parameters already in the endpoint are kept as they are written, unless they would be
    doubled: an endpoint that already holds `post_logout_redirect_uri` (or `client_id`, when
    `client_id` is given) is refused.
    """
    check_redirect_url("end_session_endpoint", end_session_endpoint)
    check_redirect_url("post_logout_redirect_uri", post_logout_redirect_uri, https=False)
    parts = urlsplit(end_session_endpoint)
    params = [("post_logout_redirect_uri", post_logout_redirect_uri)]
    if client_id:
        params.append(("client_id", client_id))
    held = {name for name, _ in parse_qsl(parts.query, keep_blank_values=True)}
    for name, _ in params:
        if name in held:
            raise ConfigurationError(
                f"end_session_endpoint already has a `{name}` parameter: {end_session_endpoint!r}"
            )
    # The endpoint's own query is kept byte for byte (parsing and re-encoding it could change
    # escapes the IdP reads, or a bare `?flag`); the new parameters follow it.
    query = "&".join(filter(None, (parts.query, urlencode(params))))
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


def _not_configured() -> Response:
    """The 503 of a logout that has no usable target: the user is not logged out, and nothing
    pretends otherwise (the caller logs why)."""
    return PlainTextResponse(
        "logout is not configured on this server",
        status_code=503,
        headers={"Cache-Control": "no-store"},
    )


def logout_response(
    request: Request,
    *,
    redirect_url: str | None = None,
    cookie_name: str | None = None,
) -> Response:
    """A 303 redirect to the IdP's logout that expires every shard of the ALB session cookie.

    Both arguments default to the `ALBConfig` the middleware attached to the request
    (`logout_url` and `session_cookie`). Shards `NAME-0` to `NAME-3` are always expired, plus any
    other `NAME-N` (and a bare `NAME`) the request carries.

    Without a usable target (no `redirect_url` and no `ALBConfig.logout_url`, or a bad
    `redirect_url` or `cookie_name`) the answer is a 503, and the reason is logged as an error:
    the user is not logged out, and nothing pretends otherwise.
    """
    try:
        redirect_url, cookie_name = _logout_target(request, redirect_url, cookie_name)
    except ConfigurationError as exc:
        logger.error("logout is not configured: %s", exc)
        return _not_configured()
    response = RedirectResponse(
        redirect_url, status_code=303, headers={"Cache-Control": "no-store"}
    )
    # `Secure`, but not for a loopback host (the local emulator, over plain http): there curl
    # and Safari drop a Secure cookie, deletion included, and the user stayed logged in. The
    # cookie only deletes, so it carries nothing to protect.
    secure = "" if _is_loopback(request.url.hostname) else " Secure;"
    for name in shard_names(cookie_name, request.cookies):
        # Max-Age=0 and an expiry in the past: the ALB guide says to set the expiry to -1.
        response.raw_headers.append(
            (
                b"set-cookie",
                f"{name}=; Expires={_EPOCH}; Max-Age=0; Path=/;{secure} HttpOnly".encode("latin-1"),
            )
        )
    return response


def _logout_target(
    request: Request, redirect_url: str | None, cookie_name: str | None
) -> tuple[str, str]:
    """The (redirect URL, cookie name) of a logout; `ConfigurationError` if there is none."""
    config = request.scope.get(CONFIG_SCOPE_KEY)
    if redirect_url is not None:
        check_redirect_url("redirect_url", redirect_url)
    elif isinstance(config, ALBConfig):
        redirect_url = config.logout_url  # checked by ALBConfig
    if redirect_url is None:
        raise ConfigurationError(
            "logout_response needs redirect_url, or ALBConfig.logout_url with ALBAuthMiddleware"
        )
    if cookie_name is None:
        cookie_name = (
            config.session_cookie if isinstance(config, ALBConfig) else DEFAULT_SESSION_COOKIE
        )
    elif not isinstance(cookie_name, str) or not _COOKIE_NAME.fullmatch(cookie_name):
        raise ConfigurationError(f"cookie_name is not a cookie name: {cookie_name!r}")
    return redirect_url, cookie_name


def shard_names(cookie_name: str, cookies: dict[str, str] | None = None) -> list[str]:
    """The cookie names to expire: `NAME-0..3`, and any `NAME-N` or `NAME` in `cookies`."""
    names = [f"{cookie_name}-{index}" for index in range(ALB_COOKIE_SHARDS)]
    shard = re.compile(re.escape(cookie_name) + r"(?:-[0-9]{1,3})?")
    extra = sorted(name for name in (cookies or {}) if shard.fullmatch(name) and name not in names)
    return names + extra


async def logout_endpoint(request: Request) -> Response:
    """A ready-made logout route: `app.add_route("/logout", logout_endpoint)`.

    Needs `ALBConfig.logout_url` (for example from `cognito_logout_url`): `ALBAuthMiddleware`
    finds this route and refuses to start without it. Where nothing runs the lifespan startup
    (Lambda, a TestClient used without `with`), the route answers 503 and logs why.
    """
    return logout_response(request)


setattr(logout_endpoint, NEEDS_LOGOUT_URL, True)
