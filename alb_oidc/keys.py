"""Key sources: the ALB's PEM public key per `kid`, and a Cognito user pool's JWKS.

All network I/O of alb-oidc happens here, through one shared `httpx2.AsyncClient`. Both sources
are built so that request input cannot amplify into outbound traffic:

- a key is cached per URL (a `kid` names one key forever), in a bounded LRU;
- concurrent requests for the same missing key wait for one fetch (single flight);
- a failed fetch is remembered for `key_failure_ttl` seconds (negative cache);
- new ALB keys are fetched at most `max_key_fetches_per_minute` times a minute (token bucket), so
  a flood of random kids costs a bounded number of fetches;
- the JWKS is refreshed on an unknown `kid` at most once per `refresh_cooldown`;
- every fetch has an overall deadline, follows no redirect and reads at most a few KB.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import anyio
import httpx2
from cachetools import TTLCache
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from jwt.algorithms import RSAAlgorithm
from jwt.exceptions import PyJWTError

from .cache import LRUCache
from .config import ALBConfig, CognitoConfig
from .errors import AccessTokenError, KeyUnavailableError

__all__ = ["ALBKeySource", "CognitoJWKS", "HTTPFetcher"]

logger = logging.getLogger("alb_oidc")

_PEM_LIMIT = 8 * 1024
_JWKS_LIMIT = 256 * 1024
_MAX_JWKS_KEYS = 64
_MIN_RSA_BITS = 2048


class FetchError(Exception):
    """A key endpoint did not give a usable answer (internal; surfaces as KeyUnavailableError)."""


class HTTPFetcher:
    """GETs small documents with a hard deadline and size cap, over one reused client.

    If no client is given, one is created on first use and closed by `aclose`; a client passed in
    belongs to the caller and is left open.
    """

    def __init__(self, client: httpx2.AsyncClient | None, *, timeout: float) -> None:
        self._client = client
        self._owned = client is None
        self._timeout = timeout

    async def get(self, url: str, *, limit: int) -> bytes:
        """Return the body of a 200 answer, or raise `FetchError`."""
        if self._client is None:
            self._client = httpx2.AsyncClient(
                timeout=self._timeout,
                follow_redirects=False,
                limits=httpx2.Limits(max_connections=8, max_keepalive_connections=4),
            )
        try:
            # The overall deadline also bounds a server that drips bytes under the read timeout.
            with anyio.fail_after(self._timeout):
                async with self._client.stream("GET", url, follow_redirects=False) as response:
                    if response.status_code != 200:
                        raise FetchError(f"HTTP {response.status_code}")
                    declared = response.headers.get("content-length", "")
                    if declared.isdigit() and int(declared) > limit:
                        raise FetchError("response too large")
                    body = bytearray()
                    async for chunk in response.aiter_bytes():
                        body += chunk
                        if len(body) > limit:
                            raise FetchError("response too large")
                    return bytes(body)
        except TimeoutError:
            raise FetchError("timed out") from None
        except httpx2.HTTPError as exc:
            raise FetchError(type(exc).__name__) from exc

    async def aclose(self) -> None:
        """Close the client if this fetcher created it."""
        if self._owned and self._client is not None:
            client, self._client = self._client, None
            await client.aclose()


class _TokenBucket:
    """Allows `per_minute` events a minute, in bursts of up to `per_minute`."""

    def __init__(self, per_minute: int, clock: Callable[[], float]) -> None:
        self._capacity = float(per_minute)
        self._rate = per_minute / 60.0
        self._tokens = self._capacity
        self._clock = clock
        self._last = clock()

    def take(self) -> bool:
        now = self._clock()
        elapsed = max(0.0, now - self._last)
        self._last = now
        self._tokens = min(self._capacity, self._tokens + elapsed * self._rate)
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True


def load_alb_public_key(body: bytes) -> ec.EllipticCurvePublicKey:
    """Parse the key endpoint's answer: exactly one PEM public key on curve P-256."""
    if body.count(b"-----BEGIN") != 1:
        raise FetchError("not exactly one PEM block")
    try:
        key = load_pem_public_key(body)
    except ValueError:
        raise FetchError("not a PEM public key") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise FetchError("not a P-256 public key")
    return key


class ALBKeySource:
    """The ALB's public keys, fetched per key URL and cached (see the module docstring)."""

    def __init__(self, config: ALBConfig, fetcher: HTTPFetcher, clock: Callable[[], float]) -> None:
        self._fetcher = fetcher
        self._keys: LRUCache[str, ec.EllipticCurvePublicKey] = LRUCache(config.key_cache_size)
        self._failures: TTLCache[str, str] | None = (
            TTLCache(maxsize=1024, ttl=config.key_failure_ttl, timer=clock)
            if config.key_failure_ttl > 0
            else None
        )
        self._budget = _TokenBucket(config.max_key_fetches_per_minute, clock)
        self._locks: dict[str, anyio.Lock] = {}
        self.fetch_count = 0

    def cached(self, url: str) -> ec.EllipticCurvePublicKey | None:
        """The key for `url` if it is already held."""
        return self._keys.get(url)

    def _raise_if_failed(self, url: str, kid: str) -> None:
        if self._failures is not None and url in self._failures:
            raise KeyUnavailableError(
                f"public key for this kid is unavailable ({self._failures[url]}); retrying later",
                kid=kid,
            )

    async def get(self, url: str, kid: str) -> ec.EllipticCurvePublicKey:
        """Return the key at `url`, fetching it once if needed; `KeyUnavailableError` if not."""
        key = self._keys.get(url)
        if key is not None:
            return key
        self._raise_if_failed(url, kid)
        lock = self._locks.get(url)
        if lock is None:
            lock = self._locks[url] = anyio.Lock()
        try:
            async with lock:
                return await self._fetch_once(url, kid)
        finally:
            if not lock.locked() and lock.statistics().tasks_waiting == 0:
                self._locks.pop(url, None)

    async def _fetch_once(self, url: str, kid: str) -> ec.EllipticCurvePublicKey:
        key = self._keys.get(url)
        if key is not None:
            return key  # another request fetched it while this one waited
        self._raise_if_failed(url, kid)
        if not self._budget.take():
            raise KeyUnavailableError("too many new key ids; retrying later", kid=kid)
        self.fetch_count += 1
        try:
            key = load_alb_public_key(await self._fetcher.get(url, limit=_PEM_LIMIT))
        except FetchError as exc:
            logger.warning("alb_oidc: key fetch failed (key_fetch_failed): %s: %s", url, exc)
            if self._failures is not None:
                self._failures[url] = str(exc)
            raise KeyUnavailableError(
                f"public key for this kid is unavailable ({exc})", kid=kid
            ) from exc
        self._keys[url] = key
        return key


def parse_jwks(body: bytes) -> dict[str, rsa.RSAPublicKey]:
    """The RS256 signing keys of a JWKS document, by `kid`. Unusable entries are skipped."""
    try:
        document = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise FetchError("JWKS is not JSON") from None
    entries = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise FetchError("JWKS has no `keys` list")
    keys: dict[str, rsa.RSAPublicKey] = {}
    for entry in entries[:_MAX_JWKS_KEYS]:
        if not _usable_jwk(entry):
            continue
        try:
            key = RSAAlgorithm.from_jwk(entry)
        except (PyJWTError, ValueError, TypeError, KeyError) as exc:
            # A malformed entry must not hide the good ones.
            logger.debug("alb_oidc: skipping JWKS entry: %s", type(exc).__name__)
            continue
        if isinstance(key, rsa.RSAPublicKey) and key.key_size >= _MIN_RSA_BITS:
            keys[entry["kid"]] = key
    return keys


def _usable_jwk(entry: Any) -> bool:
    return (
        isinstance(entry, dict)
        and entry.get("kty") == "RSA"
        and isinstance(entry.get("kid"), str)
        and entry.get("use", "sig") == "sig"
        and entry.get("alg", "RS256") == "RS256"
        and "d" not in entry
    )


class CognitoJWKS:
    """A user pool's JWKS, cached for `jwks_ttl` and refreshed on an unknown kid at most once per
    `refresh_cooldown`. On a failed refresh, keys already held keep working."""

    def __init__(
        self, cognito: CognitoConfig, fetcher: HTTPFetcher, clock: Callable[[], float]
    ) -> None:
        self._cognito = cognito
        self._fetcher = fetcher
        self._clock = clock
        self._keys: dict[str, rsa.RSAPublicKey] = {}
        self._fetched_at: float | None = None  # last successful fetch
        self._attempted_at: float | None = None  # last attempt, successful or not
        self._last_error: str | None = None
        self._lock = anyio.Lock()
        self.fetch_count = 0

    def _stale(self, now: float) -> bool:
        return self._fetched_at is None or now - self._fetched_at >= self._cognito.jwks_ttl

    def _may_refresh(self, now: float) -> bool:
        return (
            self._attempted_at is None or now - self._attempted_at >= self._cognito.refresh_cooldown
        )

    async def get(self, kid: str) -> rsa.RSAPublicKey:
        """The key for `kid`: `AccessTokenError` if the pool has none, 503 if it cannot be asked."""
        now = self._clock()
        key = self._keys.get(kid)
        if key is not None and not self._stale(now):
            return key
        if self._may_refresh(now):
            await self.refresh()
        key = self._keys.get(kid)
        if key is not None:
            return key
        if self._fetched_at is None:
            raise KeyUnavailableError(
                f"user pool JWKS is unavailable ({self._last_error}); retrying later", kid=kid
            )
        raise AccessTokenError("access token `kid` is not in the user pool's JWKS")

    async def refresh(self) -> None:
        """Fetch the JWKS now (one fetch for any number of concurrent callers)."""
        attempted = self._attempted_at
        async with self._lock:
            if self._attempted_at != attempted:
                return  # refreshed while this caller waited
            self._attempted_at = self._clock()
            self.fetch_count += 1
            url = self._cognito.jwks_url or ""
            try:
                keys = parse_jwks(await self._fetcher.get(url, limit=_JWKS_LIMIT))
            except FetchError as exc:
                self._last_error = str(exc)
                logger.warning("alb_oidc: JWKS fetch failed (jwks_fetch_failed): %s: %s", url, exc)
                return
            self._keys = keys
            self._fetched_at = self._attempted_at
            self._last_error = None
