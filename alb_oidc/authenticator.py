"""`ALBAuthenticator`: from a request's headers to a verified `ALBUser`.

This is the whole decision, framework-free: the middleware calls it per request, and it is usable
on its own (a background job, a Lambda behind an ALB, the `alb-oidc verify` command). The order
of the checks is the trust model (docs/index.md, "How a request is verified"): the header rules,
then the cheap token checks (signer first), then the key, then the signature, then everything
that depends on the verified `sub`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Coroutine, Iterable, Mapping
from functools import partial
from types import CoroutineType, MappingProxyType
from typing import Any, NamedTuple, TypeVar

import httpx2
from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePublicKey

from .cache import ResultCache
from .config import ALBConfig, CognitoConfig, OIDCAccessTokenConfig
from .errors import (
    AccessTokenError,
    AuthError,
    BearerTokenError,
    ClaimError,
    HeaderError,
    IdentityMismatchError,
    KeyUnavailableError,
    MalformedTokenError,
    MissingTokenError,
)
from .keys import ALBKeySource, CognitoJWKS, HTTPFetcher, JWKSSource, idp_jwks
from .tokens import (
    AccessPolicy,
    AccessToken,
    DataHeader,
    DataToken,
    PublicJWK,
    bound_subject,
    check_data_token,
    check_payload_claims,
    check_token_claims,
    data_token_bytes,
    data_token_of,
    decode_access_token_unverified,
    jwt_bytes,
    names_at,
    parse_jwt,
    split_data_token,
    verify_data_signature,
    verify_jwt,
)
from .user import (
    NO_GRANTS,
    ALBUser,
    ClaimsTooDeepError,
    Grants,
    freeze_claims,
    verified_grants,
    verified_user,
)

__all__ = [
    "MAX_HEADER_BYTES",
    "ALBAuthenticator",
    "check_header_values",
    "extract_auth_headers",
]

logger = logging.getLogger("alb_oidc")

#: An auth header longer than this is refused (the ALB's own limit on claims is far below it).
MAX_HEADER_BYTES = 16 * 1024

_DATA = b"x-amzn-oidc-data"
_ACCESS = b"x-amzn-oidc-accesstoken"
_IDENTITY = b"x-amzn-oidc-identity"
_AUTH_HEADERS = {_DATA: 0, _ACCESS: 1, _IDENTITY: 2}
_AUTH_HEADER_LENGTHS = frozenset(len(name) for name in _AUTH_HEADERS)
# With bearer tokens configured, `authorization` is read too.
_WITH_AUTHORIZATION = {**_AUTH_HEADERS, b"authorization": 3}
_WITH_AUTHORIZATION_LENGTHS = frozenset(len(name) for name in _WITH_AUTHORIZATION)
_BEARER = b"bearer"
_COMMA = ord(",")  # `int in bytes` is one memchr
_DUPLICATED = b"duplicated"  # compared by identity: no header value is this very object
#: Data-token headers remembered by their exact bytes (see `ALBAuthenticator._data_token`).
DATA_HEADERS_HELD = 64
T = TypeVar("T")
#: What `ALBAuthenticator._authenticate` returns: the outcome, or a coroutine that finishes it.
_MaybeUser = ALBUser | None | Coroutine[Any, Any, ALBUser | None]
_CONTROL_TO_NUL = bytes(0 if byte < 0x20 or byte == 0x7F else byte for byte in range(256))


def extract_auth_headers(
    headers: Iterable[tuple[bytes, bytes]],
) -> tuple[bytes | None, bytes | None, bytes | None]:
    """The (data, access token, identity) header values of an ASGI header list, or None each.

    A duplicated header raises `HeaderError`. The values themselves are checked by
    `check_header_values` (the data token's by its strict parser, whose alphabet excludes commas
    and control characters), which the authenticator skips for access-token bytes it has
    verified before.
    """
    found = _find_headers(headers, _AUTH_HEADERS, _AUTH_HEADER_LENGTHS)
    return found[0], found[1], found[2]


def _find_headers(
    headers: Iterable[tuple[bytes, bytes]], table: dict[bytes, int], lengths: frozenset[int]
) -> list[bytes | None]:
    """The values of the headers `table` numbers, by number (None if absent); `HeaderError` for
    a duplicate."""
    found: list[bytes | None] = [None, None, None, None]
    for name, value in headers:
        # Most headers are someone else's: a length test rules them out without hashing the name.
        if len(name) not in lengths:
            continue
        index = table.get(name)
        if index is None:
            # ASGI servers lowercase names; only lowercase the few that could be ours anyway.
            index = table.get(name.lower())
            if index is None:
                continue
        if found[index] is not None:
            if index == 3:  # Authorization: refused only if a bearer token is what decides
                found[3] = _DUPLICATED
                continue
            raise HeaderError("authentication header is duplicated")
        found[index] = value
    return found


def check_header_values(*values: bytes | None) -> None:
    """Refuse (`HeaderError`) an oversized value, a comma-joined one (what proxies make of
    duplicates) or one with a control character (0x00-0x1f, 0x7f)."""
    for value in values:
        if value is None:
            continue
        if len(value) > MAX_HEADER_BYTES:
            raise HeaderError("authentication header is too large")
        if _COMMA in value:
            raise HeaderError("authentication header holds several values")
        # Map every control character to NUL, then look for NUL: one C pass over the bytes.
        if b"\0" in value.translate(_CONTROL_TO_NUL):
            raise HeaderError("authentication header has control characters")


def _parse_header(raw: bytes, parse: Callable[[bytes], T], refused: type[AuthError]) -> T:
    """`parse` a token header. Its strict base64url parser refuses commas and control characters
    (they are outside the alphabet), so only when it refuses (`refused`) is the value checked for
    them: a comma-joined or garbled header is then reported as such."""
    if len(raw) > MAX_HEADER_BYTES:
        raise HeaderError("authentication header is too large")
    try:
        return parse(raw)
    except refused:
        check_header_values(raw)
        raise


async def _settled(outcome: T | Coroutine[Any, Any, T]) -> T:
    """The value of a path that finishes at once when it can: `outcome` itself, or what the
    coroutine it returned (to fetch a key first) comes to."""
    if type(outcome) is CoroutineType:
        return await outcome  # type: ignore[no-any-return]
    return outcome  # type: ignore[return-value]


def _ascii(raw: bytes) -> str:
    try:
        return raw.decode("ascii")
    except UnicodeDecodeError:
        raise AccessTokenError("access token is not ASCII") from None


class _VerifiedAccess(NamedTuple):
    """A verified access or bearer token: what it grants, and its subject (for an access token
    the value each request's `sub` must match, None when the binding is off; for a bearer token
    the user's `sub`)."""

    grants: Grants
    sub: str | None


class _TokenVerifier:
    """Verifies the access or bearer tokens of one policy, with its JWKS and its result cache.

    `cache` maps exact token bytes to their `_VerifiedAccess` (see `alb_oidc.cache`); each
    policy has a cache of its own, so bytes verified under one are never taken for the other.
    """

    def __init__(
        self, policy: AccessPolicy, jwks: JWKSSource, config: ALBConfig, *, bearer: bool = False
    ) -> None:
        self.policy = policy
        self.jwks = jwks
        self.cache: ResultCache[bytes, _VerifiedAccess] = ResultCache(
            config.access_token_cache_size, config.access_token_cache_ttl
        )
        self._leeway = config.leeway
        self._bearer = bearer
        self._parse = partial(parse_jwt, algorithms=policy.algorithms, label=policy.label)

    async def verify(self, raw: bytes, now: float, sub: str | None) -> _VerifiedAccess:
        """Verify `raw` in full (its signature, claims and, given the request's verified `sub`,
        the subject binding), cache the result, and return it."""
        return await _settled(self.check(raw, now, sub))

    def check(
        self, raw: bytes, now: float, sub: str | None
    ) -> _VerifiedAccess | Coroutine[Any, Any, _VerifiedAccess]:
        """`verify` without a coroutine of its own when the JWKS holds the token's key; else (a
        `kid` not seen yet, or keys older than `jwks_ttl`) a coroutine that gets the keys first,
        for the caller to await."""
        token = _parse_header(raw, self._parse, AccessTokenError)
        jwk = self.jwks.held(token.kid)
        if jwk is None:
            return self._verify_fetching(token, raw, now, sub)
        return self._verified(token, jwk, raw, now, sub)

    async def _verify_fetching(
        self, token: AccessToken, raw: bytes, now: float, sub: str | None
    ) -> _VerifiedAccess:
        jwk = await self.jwks.get(token.kid, label=self.policy.label)
        return self._verified(token, jwk, raw, now, sub)

    def _verified(
        self, token: AccessToken, jwk: PublicJWK, raw: bytes, now: float, sub: str | None
    ) -> _VerifiedAccess:
        policy = self.policy
        claims = verify_jwt(token, jwk.key, policy, now=now, leeway=self._leeway, key_alg=jwk.alg)
        if self._bearer:
            subject = claims.get("sub")
            if type(subject) is not str or not subject:
                raise AccessTokenError(f"{policy.label} has no `sub` string")
        else:
            subject = bound_subject(claims, policy)
            self.check_subject(subject, sub)
        label = policy.label
        try:
            grants = verified_grants(
                claims,  # the dict the parser made, held by nobody else
                names_at(claims, policy.scopes_claim, label=label),
                names_at(claims, policy.groups_claim, label=label),
                bearer=self._bearer,
            )
        except ClaimsTooDeepError as exc:
            raise AccessTokenError(f"{label} claims are malformed ({exc})") from None
        verified = _VerifiedAccess(grants, subject)
        self.cache.put(raw, verified, now=now, valid_until=float(claims["exp"]) + self._leeway)
        return verified

    def check_subject(self, subject: str | None, sub: str | None) -> None:
        """The subject binding: an access token's bound subject (None: unbound) must be the
        request's verified `sub`, whether the token was just verified or found in the cache."""
        if subject is not None and subject != sub:
            raise IdentityMismatchError(
                f"{self.policy.label} `{self.policy.subject_claim}` differs from the verified user"
            )


#: Logged when an authenticator trusts the ALB's logins without pinning their OAuth client.
NO_CLIENT_PINNED = (
    "ALBConfig.client_ids is empty and no access token is verified, so the login of any "
    "listener rule of the configured ALBs is accepted, whatever IdP or app client it used: "
    "set client_ids (ALB_OIDC_CLIENT_IDS) to this app's client id"
)


class ALBAuthenticator:
    """Verifies the ALB's headers (or a machine client's bearer token) and returns the user. One
    per app: it holds the key caches.

    `http_client` is used for key fetches (created on first use if None, and then closed by
    `aclose`); `clock` returns the current Unix time (default `time.time`).
    """

    def __init__(
        self,
        config: ALBConfig,
        *,
        http_client: httpx2.AsyncClient | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        if not isinstance(config, ALBConfig):
            raise TypeError(f"config must be an ALBConfig, not {type(config).__name__}")
        self.config = config
        self._clock = clock or time.time
        self._fetcher = HTTPFetcher(http_client, timeout=config.key_fetch_timeout)
        self.alb_keys = ALBKeySource(config, self._fetcher, self._clock)
        # One JWKS source per key location: an IdP whose tokens serve as both access and bearer
        # tokens is fetched (and refreshed) once for both.
        sources: dict[tuple[object, ...], JWKSSource] = {}

        def verifier(idp: OIDCAccessTokenConfig | CognitoConfig, label: str) -> _TokenVerifier:
            if isinstance(idp, CognitoConfig):
                policy = AccessPolicy.cognito(idp, label=label)
                source: Callable[..., JWKSSource] = partial(CognitoJWKS, idp)
            else:
                policy = AccessPolicy.of(idp, label=label)
                source = partial(idp_jwks, idp)
            where = (idp.jwks_url, policy.issuer, idp.jwks_ttl, idp.refresh_cooldown)
            jwks = sources.get(where)
            if jwks is None:
                jwks = sources[where] = source(self._fetcher, self._clock)
            return _TokenVerifier(policy, jwks, config, bearer=label == "bearer token")

        access = config.cognito or config.access_token
        if access is None and not config.client_ids:
            # Every listener rule of an ALB signs with the same `signer`: nothing else would
            # tell this app's logins from those of another rule (another IdP, another client).
            logger.warning("%s", NO_CLIENT_PINNED)
        self._access = None if access is None else verifier(access, "access token")
        self._bearer = None if config.bearer is None else verifier(config.bearer, "bearer token")
        #: The access token's JWKS source (Cognito's or the IdP's), or None.
        self.jwks = None if self._access is None else self._access.jwks
        #: The bearer tokens' JWKS source, or None.
        self.bearer_jwks = None if self._bearer is None else self._bearer.jwks
        #: Verified access tokens by their exact bytes; see `alb_oidc.cache`.
        self.access_tokens: ResultCache[bytes, _VerifiedAccess] = (
            self._access.cache if self._access is not None else ResultCache(0, 0)
        )
        #: Verified bearer tokens by their exact bytes (a cache of their own).
        self.bearer_tokens: ResultCache[bytes, _VerifiedAccess] = (
            self._bearer.cache if self._bearer is not None else ResultCache(0, 0)
        )
        self._groups_claim = config.groups_claim
        self._leeway = config.leeway
        # Header segments of data tokens that were verified, by their exact bytes, with their
        # decoded header and the key that verified them; oldest first (see `_data_token`).
        self._data_headers: dict[bytes, tuple[DataHeader, EllipticCurvePublicKey]] = {}
        # `authorization` is read only with bearer tokens configured: otherwise it is the app's.
        self._headers_read = (
            (_AUTH_HEADERS, _AUTH_HEADER_LENGTHS)
            if self._bearer is None
            else (_WITH_AUTHORIZATION, _WITH_AUTHORIZATION_LENGTHS)
        )

    async def authenticate(self, headers: Iterable[tuple[bytes, bytes]]) -> ALBUser | None:
        """The verified user, or None if the request carries no credentials alb-oidc reads.

        Raises an `AuthError` subclass for anything else. The data token is verified on every
        request (the ALB signs a new one for each: see `_data_token` for the checks a header
        seen before spares); an access token whose exact bytes were
        verified before is answered from the access-token cache, bound to this request's `sub`.
        A request without the ALB's headers may bring an `Authorization: Bearer` token when
        `ALBConfig.bearer` is set; the ALB's headers decide when both are present.
        """
        return await _settled(self._authenticate(headers))

    def _authenticate(self, headers: Iterable[tuple[bytes, bytes]]) -> _MaybeUser:
        """`authenticate`, without a coroutine of its own: the user (or None), or a coroutine the
        caller awaits for it when a data-token header is new (it is verified in full, its key
        fetched if need be) or an access token's key is not held.

        Most requests wait for nothing: all but the first request of each second, and those
        whose IdP key must be fetched. A coroutine per request is a measurable share of the
        middleware's cost.
        `ALBAuthMiddleware`, which builds its own authenticator, calls this directly, so it and
        `authenticate` take one path.
        """
        data, access, identity, authorization = _find_headers(headers, *self._headers_read)
        if data is None:
            if access is not None or identity is not None:
                raise HeaderError("x-amzn-oidc-data is missing but other ALB headers are present")
            if authorization is None:
                return None
            if authorization is _DUPLICATED:
                raise HeaderError("authentication header is duplicated")
            return self._bearer_user(authorization)
        now = self._clock()
        token, checked = self._data_token(data, now)
        if not checked:
            return self._after_new_header(token, now, access, identity)
        return self._verified_user(token, now, access, identity)

    async def _after_new_header(
        self, token: DataToken, now: float, access: bytes | None, identity: bytes | None
    ) -> ALBUser:
        """`_verified_user` after verifying a data token whose header was not seen before."""
        await self._verify_new_header(token, now)
        return await _settled(self._verified_user(token, now, access, identity))

    def _verified_user(
        self, token: DataToken, now: float, access: bytes | None, identity: bytes | None
    ) -> ALBUser | Coroutine[Any, Any, ALBUser]:
        """The user of a verified data token, once its identity header and access token are
        checked: at once for an access token in the cache or one whose key is held (verified in
        full here), else through a coroutine that fetches the key first."""
        sub = token.sub
        if identity is not None and identity != sub.encode():
            check_header_values(identity)  # a comma-joined or garbled value is a header error
            raise IdentityMismatchError("x-amzn-oidc-identity differs from the verified user")
        verifier = self._access
        if verifier is None:
            return self._unverified_access_user(token, access, sub)
        if access is None:
            raise AccessTokenError("x-amzn-oidc-accesstoken is required but missing")
        verified = verifier.cache.get(access, now)
        if verified is None:  # verified in full (the subject binding too), then cached
            checked = verifier.check(access, now, sub)
            if type(checked) is CoroutineType:
                return self._user_once_fetched(token, checked)
            return self._user(token, checked.grants)  # type: ignore[union-attr]  # the result
        if verified.sub != sub:
            verifier.check_subject(verified.sub, sub)
        return self._user(token, verified.grants)

    async def _user_once_fetched(
        self, token: DataToken, verifying: Coroutine[Any, Any, _VerifiedAccess]
    ) -> ALBUser:
        """The user of a verified data token whose access token's key had to be fetched."""
        verified = await verifying
        return self._user(token, verified.grants)

    async def require(self, headers: Iterable[tuple[bytes, bytes]]) -> ALBUser:
        """Like `authenticate`, but a request without credentials raises `MissingTokenError`."""
        user = await self.authenticate(headers)
        if user is None:
            raise MissingTokenError("not authenticated by the load balancer")
        return user

    async def verify_data_token(self, raw: bytes | str) -> dict[str, Any]:
        """Verify an `x-amzn-oidc-data` value and return its claims (a new dict).

        The value is held to the header's rules too (at most `MAX_HEADER_BYTES`, no comma or
        control character: `HeaderError`), as `authenticate` holds it.
        """
        if type(raw) is not bytes:
            raw = data_token_bytes(raw)
        now = self._clock()
        token, checked = self._data_token(raw, now)
        if not checked:
            await self._verify_new_header(token, now)
        return token.claims  # type: ignore[return-value]  # the parser made this dict

    async def verify_bearer_token(self, raw: bytes | str) -> ALBUser:
        """Verify a bearer token (the credentials of `Authorization: Bearer`) against
        `ALBConfig.bearer` and return its user; `BearerTokenError` if it fails."""
        if self._bearer is None:
            raise TypeError("ALBConfig.bearer is not set: no bearer tokens are accepted")
        token = raw if type(raw) is bytes else jwt_bytes(raw)
        return await self._verify_bearer(self._bearer, token)

    def _data_token(self, raw: bytes, now: float) -> tuple[DataToken, bool]:
        """Parse a data token, and verify it if its header bytes are those of a token verified
        before (True); otherwise (False) `_verify_new_header` must verify it.

        The ALB's header holds `typ`, `kid`, `alg`, `iss`, `client`, `signer` and `exp` (the
        request's time + 120 s), so every token it signs in the same second with the same key
        has the same header bytes. Those passed every check that reads only the header (`alg`,
        `signer`, `kid`, `client`, configured `iss`) when first verified, and name the same key;
        what is left is everything that reads the payload, the signature or the clock.
        """
        # `_parse_header`'s rules, written out: through it (and a parse function of its own) this
        # path measured about 150 ns a request slower, and it runs on every request.
        if len(raw) > MAX_HEADER_BYTES:
            raise HeaderError("authentication header is too large")
        try:
            parts = split_data_token(raw)
            known = self._data_headers.get(parts[1])
            if known is None:
                return data_token_of(parts), False
            header, key = known
            token = data_token_of(parts, header)
        except MalformedTokenError:
            check_header_values(raw)  # a comma-joined or garbled header is reported as such
            raise
        check_payload_claims(token, leeway=self._leeway, now=now)
        verify_data_signature(token, key)
        return token, True

    async def _verify_new_header(self, token: DataToken, now: float) -> None:
        """Verify a data token whose header is not remembered in full (fetching its key if need
        be), then remember its header."""
        key = self._held_key(token, now) or await self._key_for(token, now)
        verify_data_signature(token, key)
        headers = self._data_headers
        if len(headers) >= DATA_HEADERS_HELD:
            headers.pop(next(iter(headers), b""), None)  # the oldest: a new one comes each second
        signing_input = token.signing_input
        header = DataHeader(token.header, token.kid, token.signer, token.exp)
        headers[signing_input[: signing_input.index(b".")]] = (header, key)

    def _held_key(self, token: DataToken, now: float) -> EllipticCurvePublicKey | None:
        """The key for a (`signer`, `kid`) pair that passed `check_data_token` before, after the
        checks that depend on the rest of the token; None for a pair not seen yet."""
        key = self.alb_keys.for_token(token.signer, token.kid)
        if key is not None:
            check_token_claims(token, self.config, now=now)
        return key

    async def _key_for(self, token: DataToken, now: float) -> EllipticCurvePublicKey:
        """Check the token in full, then get the key its `kid` names (fetching it if needed)."""
        url = check_data_token(token, self.config, now=now)
        # Asking `cached` first spares the usual case (the key is held) a coroutine.
        key = self.alb_keys.cached(url) or await self.alb_keys.get(url, token.kid)
        self.alb_keys.remember(token.signer, token.kid, key)
        return key

    async def _bearer_user(self, authorization: bytes) -> ALBUser | None:
        """The machine client of an `Authorization` header: None for another scheme (Basic, ...),
        the verified user for `Bearer <JWT>`, `BearerTokenError` for a bad token."""
        verifier = self._bearer
        if verifier is None:  # pragma: no cover - only called with bearer configured
            return None
        scheme, _, credentials = authorization.partition(b" ")
        if scheme.lower() != _BEARER:
            return None
        return await self._verify_bearer(verifier, credentials.lstrip(b" "))

    async def _verify_bearer(self, verifier: _TokenVerifier, raw: bytes) -> ALBUser:
        now = self._clock()
        try:
            if not raw:
                raise AccessTokenError("bearer token is empty")
            verified = verifier.cache.get(raw, now) or await verifier.verify(raw, now, None)
        except KeyUnavailableError:
            raise
        except AuthError as exc:
            raise BearerTokenError(str(exc), reason=exc.code) from None
        grants = verified.grants
        return verified_user(grants.claims or {}, grants)

    def _user(self, token: DataToken, grants: Grants) -> ALBUser:
        """The user of a verified data token: its claims (the userinfo) made deeply read-only,
        with `grants` and the groups of the userinfo's `groups_claim` when one is configured."""
        if token.flat_claims:  # the usual userinfo: wrapping the freshly parsed dict is enough
            claims: Mapping[str, Any] = MappingProxyType(token.claims)
        else:
            try:
                claims = freeze_claims(token.claims, owned=True)
            except ClaimsTooDeepError as exc:
                raise MalformedTokenError(f"token payload is malformed ({exc})") from None
        if self._groups_claim is not None:
            grants = self._with_userinfo_groups(grants, claims)
        return verified_user(claims, grants)

    def _with_userinfo_groups(self, grants: Grants, claims: Mapping[str, Any]) -> Grants:
        """`grants` with the groups of the verified userinfo's `groups_claim` added."""
        path = self._groups_claim
        try:
            groups = names_at(claims, path, label="userinfo")
        except AccessTokenError as exc:
            raise ClaimError(str(exc), claim=str(path)) from None
        if not groups:
            return grants
        return grants._replace(groups=grants.groups | groups)

    def _unverified_access_user(self, token: DataToken, raw: bytes | None, sub: str) -> ALBUser:
        """The user when no access-token verification is configured: the access token is
        ignored, or (the insecure opt-in) decoded without verification."""
        if raw is not None:
            check_header_values(raw)  # ignored or not, a garbled header is refused (rule 4)
        if raw is None or not self.config.insecure_decode_unverified_access_token:
            return self._user(token, NO_GRANTS)
        access_claims = decode_access_token_unverified(_ascii(raw))
        if access_claims is not None and access_claims.get("sub", sub) != sub:
            raise IdentityMismatchError("access token `sub` differs from the verified user")
        try:
            grants = Grants.of(access_claims, verified=False)
        except ClaimsTooDeepError as exc:
            raise AccessTokenError(f"access token claims are malformed ({exc})") from None
        return self._user(token, grants)

    async def warm_up(self) -> None:
        """Fetch what can be fetched ahead of traffic (the JWKS documents, each once, also when
        access and bearer tokens share one). Never raises."""
        sources = {id(v.jwks): v.jwks for v in (self._access, self._bearer) if v is not None}
        for source in sources.values():
            await source.refresh()

    async def aclose(self) -> None:
        """Close the HTTP client if this authenticator created it."""
        await self._fetcher.aclose()
