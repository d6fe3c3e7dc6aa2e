"""`ALBAuthenticator`: from a request's headers to a verified `ALBUser`.

This is the whole decision, framework-free: the middleware calls it per request, and it is usable
on its own (a background job, a Lambda behind an ALB, the `alb-oidc verify` command). The order
of the checks is the trust model (docs/index.md, "How a request is verified"): the header rules,
then the cheap token checks (signer first), then the key, then the signature, then everything
that depends on the verified `sub`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple, TypeVar

import httpx2
from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePublicKey

from .cache import ResultCache
from .config import ALBConfig
from .errors import (
    AccessTokenError,
    AuthError,
    HeaderError,
    IdentityMismatchError,
    MalformedTokenError,
    MissingTokenError,
)
from .keys import ALBKeySource, CognitoJWKS, HTTPFetcher
from .tokens import (
    DataToken,
    check_data_token,
    check_token_claims,
    decode_access_token_unverified,
    parse_access_token,
    parse_data_token,
    verify_access_token,
    verify_data_signature,
)
from .user import NO_GRANTS, ALBUser, Grants, freeze_claims

__all__ = [
    "MAX_HEADER_BYTES",
    "ALBAuthenticator",
    "check_header_values",
    "extract_auth_headers",
]

#: An auth header longer than this is refused (the ALB's own limit on claims is far below it).
MAX_HEADER_BYTES = 16 * 1024

_DATA = b"x-amzn-oidc-data"
_ACCESS = b"x-amzn-oidc-accesstoken"
_IDENTITY = b"x-amzn-oidc-identity"
_AUTH_HEADERS = {_DATA: 0, _ACCESS: 1, _IDENTITY: 2}
_AUTH_HEADER_LENGTHS = frozenset(len(name) for name in _AUTH_HEADERS)
T = TypeVar("T")
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
    found: list[bytes | None] = [None, None, None]
    lengths = _AUTH_HEADER_LENGTHS
    for name, value in headers:
        # Most headers are someone else's: a length test rules them out without hashing the name.
        if len(name) not in lengths:
            continue
        index = _AUTH_HEADERS.get(name)
        if index is None:
            # ASGI servers lowercase names; only lowercase the few that could be ours anyway.
            index = _AUTH_HEADERS.get(name.lower())
            if index is None:
                continue
        if found[index] is not None:
            raise HeaderError("authentication header is duplicated")
        found[index] = value
    return found[0], found[1], found[2]


def check_header_values(*values: bytes | None) -> None:
    """Refuse (`HeaderError`) an oversized value, a comma-joined one (what proxies make of
    duplicates) or one with a control character (0x00-0x1f, 0x7f)."""
    for value in values:
        if value is None:
            continue
        if len(value) > MAX_HEADER_BYTES:
            raise HeaderError("authentication header is too large")
        if b"," in value:
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


def _ascii(raw: bytes) -> str:
    try:
        return raw.decode("ascii")
    except UnicodeDecodeError:
        raise AccessTokenError("access token is not ASCII") from None


class _VerifiedAccess(NamedTuple):
    """A verified access token: what it grants, and the `sub` each request must match."""

    grants: Grants
    sub: str


class ALBAuthenticator:
    """Verifies the ALB's headers and returns the user. One per app: it holds the key caches.

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
        self.jwks = (
            CognitoJWKS(config.cognito, self._fetcher, self._clock) if config.cognito else None
        )
        #: Verified access tokens by their exact bytes; see `alb_oidc.cache`.
        self.access_tokens: ResultCache[bytes, _VerifiedAccess] = ResultCache(
            config.access_token_cache_size, config.access_token_cache_ttl
        )

    async def authenticate(self, headers: Iterable[tuple[bytes, bytes]]) -> ALBUser | None:
        """The verified user, or None if the request carries none of the ALB's auth headers.

        Raises an `AuthError` subclass for anything else. The data token is verified in full on
        every request (the ALB signs a new one for each); an access token whose exact bytes were
        verified before is answered from the access-token cache, bound to this request's `sub`.
        """
        data, access, identity = extract_auth_headers(headers)
        if data is None:
            if access is not None or identity is not None:
                raise HeaderError("x-amzn-oidc-data is missing but other ALB headers are present")
            return None
        now = self._clock()
        token = _parse_header(data, parse_data_token, MalformedTokenError)
        verify_data_signature(token, self._held_key(token, now) or await self._key_for(token, now))
        sub = token.sub
        if identity is not None and identity != sub.encode():
            check_header_values(identity)  # a comma-joined or garbled value is a header error
            raise IdentityMismatchError("x-amzn-oidc-identity differs from the verified user")
        if self.config.cognito is None:
            return self._unverified_access_user(token, access, sub)
        if access is None:
            raise AccessTokenError("x-amzn-oidc-accesstoken is required but missing")
        verified = self.access_tokens.get(access, now)
        if verified is None:
            verified = await self._verify_access_token(access, sub, now)
        elif verified.sub != sub:
            raise IdentityMismatchError("access token `sub` differs from the verified user")
        return ALBUser._verified(freeze_claims(token.claims, owned=True), verified.grants)

    async def require(self, headers: Iterable[tuple[bytes, bytes]]) -> ALBUser:
        """Like `authenticate`, but a request without the headers raises `MissingTokenError`."""
        user = await self.authenticate(headers)
        if user is None:
            raise MissingTokenError("not authenticated by the load balancer")
        return user

    async def verify_data_token(self, raw: bytes | str) -> dict[str, Any]:
        """Verify an `x-amzn-oidc-data` value in full and return its claims (a new dict)."""
        now = self._clock()
        token = parse_data_token(raw)
        verify_data_signature(token, self._held_key(token, now) or await self._key_for(token, now))
        return token.claims  # type: ignore[return-value]  # parse_data_token made this dict

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

    async def _verify_access_token(self, raw: bytes, sub: str, now: float) -> _VerifiedAccess:
        cognito = self.config.cognito
        if cognito is None or self.jwks is None:  # pragma: no cover - callers check first
            raise AccessTokenError("no access-token verification is configured")
        token = _parse_header(raw, parse_access_token, AccessTokenError)
        key = await self.jwks.get(token.kid)
        claims = verify_access_token(
            token, key, cognito, sub=sub, now=now, leeway=self.config.leeway
        )
        verified = _VerifiedAccess(Grants.of(claims), sub)
        self.access_tokens.put(
            raw, verified, now=now, valid_until=float(claims["exp"]) + self.config.leeway
        )
        return verified

    def _unverified_access_user(self, token: DataToken, raw: bytes | None, sub: str) -> ALBUser:
        """The user when no access-token verification is configured: the access token is
        ignored, or (the insecure opt-in) decoded without verification."""
        if raw is not None:
            check_header_values(raw)  # ignored or not, a garbled header is refused (rule 4)
        if raw is None or not self.config.insecure_decode_unverified_access_token:
            return ALBUser._verified(freeze_claims(token.claims, owned=True), NO_GRANTS)
        claims = decode_access_token_unverified(_ascii(raw))
        if claims is not None and claims.get("sub", sub) != sub:
            raise IdentityMismatchError("access token `sub` differs from the verified user")
        return ALBUser(token.claims, claims, access_token_verified=False)

    async def warm_up(self) -> None:
        """Fetch what can be fetched ahead of traffic (the user pool's JWKS). Never raises."""
        if self.jwks is not None:
            await self.jwks.refresh()

    async def aclose(self) -> None:
        """Close the HTTP client if this authenticator created it."""
        await self._fetcher.aclose()
