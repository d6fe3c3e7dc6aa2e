"""A small OpenID Connect provider for local development and tests, shaped like Cognito.

Endpoints (Cognito's paths): `/.well-known/openid-configuration`, `/.well-known/jwks.json`,
`/oauth2/authorize` (a real login form), `/oauth2/token` (authorization code grant),
`/oauth2/userInfo` and `/logout` (Cognito's `client_id` + `logout_uri`, and OIDC's
`post_logout_redirect_uri`; discovery names it `end_session_endpoint`).

Access tokens are Cognito-shaped RS256 JWTs (`token_use`, `client_id`, `scope`,
`cognito:groups`, `username`), so `CognitoConfig(jwks_url=..., issuer=...)` verifies them; with
`provider="okta"` they are shaped like an Okta custom authorization server's instead (`aud`,
`cid`, `scp` as a list, `groups`, the login in `sub` and the user id in `uid`), verified with
`OIDCAccessTokenConfig` (`DevIdP.access_token_config()`). The token endpoint also grants
`client_credentials` to a confidential client: a machine client's bearer token, whose `sub` is
the client id.
Granted scopes are the requested scopes the user is allowed (`openid` is required). A signed-in
user has an IdP session cookie: the next authorization request is answered without the form
until `/logout` ends it. Everything is in memory and per process; the signing key is generated
per run unless one is given (`key`, which `--key-file` keeps), and its kid is derived from it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import anyio.to_thread
import jwt
from cachetools import TTLCache
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from ..config import OIDCAccessTokenConfig
from ..errors import ConfigurationError
from .pages import login_page, message_page
from .paths import with_query
from .sessions import SealedCookie, cookie_header, expire_header
from .users import DevUser, verify_password

__all__ = ["DEV_API_AUDIENCE", "DEV_USER_POOL_ID", "DevClient", "DevIdP"]

DEV_USER_POOL_ID = "dev-local-1_AlbOidcDevIdP"
"""The user pool id to put in the app's `CognitoConfig` for this IdP (obviously not a real one)."""
DEV_API_AUDIENCE = "api://default"
"""The `aud` of Okta-shaped access tokens (Okta's default custom authorization server's)."""
_SESSION_COOKIE = "ALBOIDCDevIdP"
_MAX_FORM = 16 * 1024


@dataclass(frozen=True)
class DevClient:
    """An app client: its secret, its exact redirect URIs and its allowed sign-out URIs."""

    client_id: str
    client_secret: str
    redirect_uris: Sequence[str]
    logout_uris: Sequence[str] = ()


class _FormError(ValueError):
    pass


async def _form(request: Request) -> dict[str, str]:
    """A url-encoded body as a dict; repeated names (forbidden by OAuth) or over 16 KB refused."""
    if request.headers.get("content-type", "").split(";")[0].strip() != (
        "application/x-www-form-urlencoded"
    ):
        raise _FormError("expected an application/x-www-form-urlencoded body")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > _MAX_FORM:
            raise _FormError("request body too large")
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError as exc:
        raise _FormError("body is not UTF-8") from exc
    form = dict(pairs)
    if len(form) != len(pairs):
        raise _FormError("a parameter is repeated")
    return form


def _oauth_error(error: str, description: str, status_code: int = 400) -> JSONResponse:
    return JSONResponse(
        {"error": error, "error_description": description},
        status_code=status_code,
        headers={"Cache-Control": "no-store"},
    )


@dataclass(frozen=True)
class _Grant:
    client_id: str
    redirect_uri: str
    username: str
    scopes: tuple[str, ...]
    nonce: str | None
    auth_time: int


class DevIdP:
    """The dev identity provider as an ASGI app, serving `issuer` (its own base URL).

    `login_hint`, if given, is shown under the login form (never put a real password there).
    """

    def __init__(
        self,
        issuer: str,
        users: Sequence[DevUser],
        clients: Sequence[DevClient],
        *,
        clock: Callable[[], float] = time.time,
        token_lifetime: int = 3600,
        session_lifetime: int = 8 * 3600,
        login_hint: str | None = None,
        provider: str = "cognito",
        key: rsa.RSAPrivateKey | None = None,
    ) -> None:
        if provider not in ("cognito", "okta"):
            raise ConfigurationError(f"provider must be 'cognito' or 'okta': {provider!r}")
        #: Whose access tokens this IdP's are shaped like: "cognito" or "okta".
        self.provider = provider
        if not issuer.startswith(("http://", "https://")) or issuer.endswith("/"):
            raise ConfigurationError(
                f"issuer must be an http(s) URL without a trailing /: {issuer!r}"
            )
        self.issuer = issuer
        self.users = {user.username: user for user in users}
        self._by_sub = {user.sub: user for user in users}
        self.clients = {client.client_id: client for client in clients}
        self.clock = clock
        self.token_lifetime = token_lifetime
        self.session_lifetime = session_lifetime
        #: A line under the login form (the demo users, whose passwords are public).
        self.login_hint = login_hint
        self.key = key or rsa.generate_private_key(public_exponent=65537, key_size=2048)
        # Derived from the key, so a key kept across restarts (`DevKeys`) keeps its kid too.
        public = self.key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.kid = f"dev-{hashlib.sha256(public).hexdigest()[:12]}"
        # Per port: cookies are scoped by host, not port (RFC 6265, section 8.5), so two dev
        # IdPs on one machine would otherwise overwrite each other's sign-in session.
        try:
            self._session_cookie = f"{_SESSION_COOKIE}-{urlsplit(issuer).port or 0}"
        except ValueError as exc:
            raise ConfigurationError(f"issuer has a bad port: {issuer!r}") from exc
        self._codes: TTLCache[str, _Grant] = TTLCache(maxsize=10_000, ttl=60, timer=clock)
        self._sessions = SealedCookie(clock=clock)
        self.app = Starlette(
            routes=[
                Route("/.well-known/openid-configuration", self._discovery),
                Route("/.well-known/jwks.json", self._jwks),
                Route("/oauth2/authorize", self._authorize, methods=["GET", "POST"]),
                Route("/oauth2/token", self._token, methods=["POST"]),
                Route("/oauth2/userInfo", self._userinfo, methods=["GET", "POST"]),
                Route("/logout", self._logout),
            ]
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)

    @property
    def jwks_url(self) -> str:
        """Where the IdP serves its JWKS (for `CognitoConfig.jwks_url`)."""
        return f"{self.issuer}/.well-known/jwks.json"

    # -- endpoints ---------------------------------------------------------------------------

    async def _discovery(self, request: Request) -> Response:
        return JSONResponse(
            {
                "issuer": self.issuer,
                "authorization_endpoint": f"{self.issuer}/oauth2/authorize",
                "token_endpoint": f"{self.issuer}/oauth2/token",
                "userinfo_endpoint": f"{self.issuer}/oauth2/userInfo",
                "jwks_uri": self.jwks_url,
                "end_session_endpoint": f"{self.issuer}/logout",
                "response_types_supported": ["code"],
                "grant_types_supported": ["authorization_code", "client_credentials"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "scopes_supported": sorted({s for u in self.users.values() for s in u.scopes}),
                "token_endpoint_auth_methods_supported": [
                    "client_secret_basic",
                    "client_secret_post",
                ],
            }
        )

    async def _jwks(self, request: Request) -> Response:
        jwk = RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        jwk.update(kid=self.kid, alg="RS256", use="sig")
        return JSONResponse({"keys": [jwk]})

    async def _authorize(self, request: Request) -> Response:
        params = request.query_params
        client = self.clients.get(params.get("client_id", ""))
        redirect_uri = params.get("redirect_uri", "")
        if client is None:
            return message_page("Sign-in error", "Unknown client_id.", status_code=400)
        if redirect_uri not in client.redirect_uris:
            # Never redirect to an unregistered address: that would leak the code.
            return message_page(
                "Sign-in error", "redirect_uri is not registered for this client.", status_code=400
            )
        state = params.get("state")
        if params.get("response_type") != "code":
            return _redirect(redirect_uri, error="unsupported_response_type", state=state)
        requested = params.get("scope", "").split()
        if "openid" not in requested:
            return _redirect(redirect_uri, error="invalid_scope", state=state)

        action = f"{request.url.path}?{request.url.query}"
        if request.method == "POST":
            try:
                form = await _form(request)
            except _FormError as exc:
                return message_page("Sign-in error", str(exc), status_code=400)
            username, password = form.get("username", ""), form.get("password", "")
            user = await self._check_password(username, password)
            if user is None:
                return login_page(
                    action,
                    error="Incorrect username or password.",
                    username=username,
                    hint=self.login_hint,
                )
        else:
            user = self._signed_in_user(request)
        if user is None:
            return login_page(action, hint=self.login_hint)
        code = secrets.token_urlsafe(32)
        self._codes[code] = _Grant(
            client_id=client.client_id,
            redirect_uri=redirect_uri,
            username=user.username,
            scopes=tuple(scope for scope in requested if scope in user.scopes or scope == "openid"),
            nonce=params.get("nonce"),
            auth_time=int(self.clock()),
        )
        response = _redirect(redirect_uri, code=code, state=state)
        if request.method == "POST":
            expires = int(self.clock()) + self.session_lifetime
            for name, value in self._sessions.seal(
                self._session_cookie, {"username": user.username, "exp": expires}
            ):
                response.raw_headers.append(
                    cookie_header(name, value, max_age=self.session_lifetime, secure=False)
                )
        return response

    async def _token(self, request: Request) -> Response:
        try:
            form = await _form(request)
        except _FormError as exc:
            return _oauth_error("invalid_request", str(exc))
        client = self._authenticate_client(request, form)
        if client is None:
            return _oauth_error("invalid_client", "client authentication failed", 401)
        if form.get("grant_type") == "client_credentials":
            return self._client_credentials(client, form)
        if form.get("grant_type") != "authorization_code":
            return _oauth_error(
                "unsupported_grant_type",
                "only authorization_code and client_credentials are supported",
            )
        grant = self._codes.pop(form.get("code", ""), None)
        if (
            grant is None
            or grant.client_id != client.client_id
            or grant.redirect_uri != form.get("redirect_uri")
        ):
            return _oauth_error("invalid_grant", "the code is unknown, used, expired or not yours")
        user = self.users[grant.username]
        return JSONResponse(
            {
                "access_token": self._access_token(user, grant),
                "id_token": self._id_token(user, grant),
                "token_type": "Bearer",
                "expires_in": self.token_lifetime,
            },
            headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
        )

    def _client_credentials(self, client: DevClient, form: dict[str, str]) -> Response:
        """A machine client's token: what it asks for in `scope`, for itself (`sub`)."""
        now = int(self.clock())
        scopes = form.get("scope", "").split()
        claims: dict[str, Any] = {"sub": client.client_id, "iss": self.issuer, "iat": now}
        claims.update(exp=now + self.token_lifetime, jti=str(uuid.uuid4()))
        if self.provider == "okta":
            claims.update(aud=DEV_API_AUDIENCE, cid=client.client_id, scp=scopes)
        else:
            claims.update(
                {"client_id": client.client_id, "token_use": "access", "scope": " ".join(scopes)}
            )
        return JSONResponse(
            {
                "access_token": self._sign(claims),
                "token_type": "Bearer",
                "expires_in": self.token_lifetime,
                "scope": " ".join(scopes),
            },
            headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
        )

    def access_token_config(self) -> OIDCAccessTokenConfig:
        """The `OIDCAccessTokenConfig` for this IdP's Okta-shaped access tokens (discovered)."""
        return OIDCAccessTokenConfig(
            issuer=self.issuer,
            audiences=[DEV_API_AUDIENCE],
            scopes_claim="scp",
            groups_claim="groups",
            subject_claim="uid",
        )

    async def _userinfo(self, request: Request) -> Response:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        user = None
        if scheme.lower() == "bearer" and token:
            try:
                claims = jwt.decode(
                    token,
                    self.key.public_key(),
                    algorithms=["RS256"],
                    issuer=self.issuer,
                    options={
                        "require": ["exp", "sub"],
                        "verify_iat": False,
                        "verify_aud": False,
                    },
                )
            except jwt.PyJWTError:
                claims = {}
            if claims.get("token_use") == "access":
                user = self._by_sub.get(claims["sub"])
            elif "uid" in claims and claims.get("aud") == DEV_API_AUDIENCE:
                user = self._by_sub.get(claims["uid"])
        if user is None:
            return Response(
                status_code=401, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}
            )
        return JSONResponse(user.userinfo())

    async def _logout(self, request: Request) -> Response:
        params = request.query_params
        client = self.clients.get(params.get("client_id", ""))
        target = params.get("logout_uri") or params.get("post_logout_redirect_uri")
        if client is None or (target is not None and target not in client.logout_uris):
            return message_page(
                "Sign-out error",
                "Unknown client_id, or the sign-out URL is not allowed for this client.",
                status_code=400,
            )
        response: Response = (
            RedirectResponse(target, status_code=302)
            if target
            else message_page("Signed out", "You are signed out of the identity provider.")
        )
        response.raw_headers.append(expire_header(f"{self._session_cookie}-0", secure=False))
        return response

    # -- helpers -----------------------------------------------------------------------------

    def _signed_in_user(self, request: Request) -> DevUser | None:
        session = self._sessions.open(self._session_cookie, request.cookies)
        return self.users.get(session["username"]) if session else None

    async def _check_password(self, username: str, password: str) -> DevUser | None:
        user = self.users.get(username)
        # Hash even for an unknown user, so timing does not tell which usernames exist.
        encoded = user.password_hash if user else _DUMMY_HASH
        ok = await anyio.to_thread.run_sync(verify_password, password, encoded)
        return user if ok and user is not None else None

    def _authenticate_client(self, request: Request, form: dict[str, str]) -> DevClient | None:
        client_id, secret = form.get("client_id", ""), form.get("client_secret")
        scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "basic":
            try:
                decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                return None
            client_id, _, secret = decoded.partition(":")
        client = self.clients.get(client_id)
        if client is None or secret is None:
            return None
        # compare_digest refuses str with non-ASCII characters (TypeError): compare UTF-8 bytes.
        matches = secrets.compare_digest(
            secret.encode("utf-8"), client.client_secret.encode("utf-8")
        )
        return client if matches else None

    def _sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": self.kid})

    def _access_token(self, user: DevUser, grant: _Grant) -> str:
        now = int(self.clock())
        if self.provider == "okta":
            okta: dict[str, Any] = {
                "ver": 1,
                "jti": str(uuid.uuid4()),
                "iss": self.issuer,
                "aud": DEV_API_AUDIENCE,
                "iat": now,
                "exp": now + self.token_lifetime,
                "cid": grant.client_id,
                "uid": user.sub,
                "scp": list(grant.scopes),
                "auth_time": grant.auth_time,
                "sub": user.email or user.username,  # Okta: the login, not the user id
            }
            if user.groups:
                okta["groups"] = list(user.groups)
            return self._sign(okta)
        claims: dict[str, Any] = {
            "sub": user.sub,
            "iss": self.issuer,
            "client_id": grant.client_id,
            "origin_jti": str(uuid.uuid4()),
            "token_use": "access",
            "scope": " ".join(grant.scopes),
            "auth_time": grant.auth_time,
            "iat": now,
            "exp": now + self.token_lifetime,
            "jti": str(uuid.uuid4()),
            "username": user.username,
        }
        if user.groups:
            claims["cognito:groups"] = list(user.groups)
        return self._sign(claims)

    def _id_token(self, user: DevUser, grant: _Grant) -> str:
        now = int(self.clock())
        claims: dict[str, Any] = {
            "sub": user.sub,
            "iss": self.issuer,
            "aud": grant.client_id,
            "token_use": "id",
            "auth_time": grant.auth_time,
            "iat": now,
            "exp": now + self.token_lifetime,
            "cognito:username": user.username,
        }
        if grant.nonce is not None:
            claims["nonce"] = grant.nonce
        if user.email:
            claims.update(email=user.email, email_verified=True)
        if user.groups:
            claims["cognito:groups"] = list(user.groups)
        return self._sign(claims)


def _redirect(uri: str, **params: str | None) -> RedirectResponse:
    kept = {name: value for name, value in params.items() if value is not None}
    return RedirectResponse(with_query(uri, kept), status_code=302)


_DUMMY_HASH = "scrypt$16384$8$1$00000000000000000000000000000000$" + "00" * 32
