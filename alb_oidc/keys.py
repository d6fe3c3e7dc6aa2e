"""Key sources: the ALB's PEM public key per `kid`, and the JWKS of a Cognito user pool or of
any OpenID Connect IdP (found through its discovery document if need be).

All network I/O of alb-oidc happens here, through one shared `httpx2.AsyncClient`. Both sources
are built so that request input cannot amplify into outbound traffic:

- a key is cached per URL (a `kid` names one key forever), in a bounded LRU;
- concurrent requests for the same missing key wait for one fetch (single flight), which no
  request's cancellation cuts short (`_fly`);
- a failed fetch is remembered for `key_failure_ttl` seconds (negative cache);
- new ALB keys are fetched at most `max_key_fetches_per_minute` times a minute (token bucket), so
  a flood of random kids costs a bounded number of fetches;
- the JWKS is refreshed on an unknown `kid` at most once per `refresh_cooldown`;
- every fetch has an overall deadline, follows no redirect and reads a bounded body (at most
  8 KB for a PEM key, 64 KB for a discovery document, 256 KB for a JWKS).
"""

from __future__ import annotations

import asyncio
import heapq
import inspect
import json
import logging
import threading
from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import urlsplit

import anyio
import httpx2
from cachetools import TTLCache
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from jwt.exceptions import PyJWTError

from .cache import LRUCache
from .config import (
    JWT_ALGORITHMS,
    ALBConfig,
    CognitoConfig,
    OIDCAccessTokenConfig,
    _host_address,
    _is_loopback,
    check_fetch_url,
)
from .errors import AccessTokenError, ConfigurationError, KeyUnavailableError
from .tokens import MAX_KID, PublicJWK

__all__ = ["ALBKeySource", "CognitoJWKS", "HTTPFetcher", "JWKSSource", "PublicJWK", "parse_jwks"]

logger = logging.getLogger("alb_oidc")

_PEM_LIMIT = 8 * 1024
_JWKS_LIMIT = 256 * 1024
_DISCOVERY_LIMIT = 64 * 1024
_MAX_JWKS_KEYS = 64
_MIN_RSA_BITS = 2048
# The first-sighting filter: 2**20 bits a generation. At 10,000 new kids a second for a
# 10-second generation, three bits per kid give about 1.6 % false positives.
_BLOOM_BYTES = 1 << 17
_BLOOM_MASK = (_BLOOM_BYTES << 3) - 1


class FetchError(Exception):
    """A key endpoint did not give a usable answer (internal; surfaces as KeyUnavailableError).

    `ours` marks a fetch cut short by this side (its client closed by `aclose`), which says
    nothing of the endpoint: it is not remembered as the endpoint's failure."""

    def __init__(self, message: str, *, ours: bool = False) -> None:
        super().__init__(message)
        self.ours = ours


def _ours(exc: BaseException) -> bool:
    """Whether a fetch failed because this side cut it short (see `FetchError.ours`)."""
    return isinstance(exc, FetchError) and exc.ours


def _failure(exc: Exception) -> str:
    """Why a fetch failed, for the log and the 503's message: a `FetchError` says what went
    wrong, a deadline that it timed out; anything else (a parser's surprise) is named by its
    type, never by its text."""
    if isinstance(exc, FetchError):
        return str(exc)
    return "timed out" if isinstance(exc, TimeoutError) else type(exc).__name__


class HTTPFetcher:
    """GETs small documents with a hard deadline and size cap, over one reused client.

    If no client is given, one is created on first use and closed by `aclose`; a client passed in
    belongs to the caller and is left open.

    The fetcher's own client keeps no connection between fetches: they come minutes to hours
    apart (a new ALB kid, a JWKS past its TTL), longer than servers keep an idle connection, so
    a kept one would hardly ever be reused; and a connection belongs to the event loop that
    opened it, which may have ended by the next fetch (an `asyncio.run` per Lambda invocation,
    a test client per test), leaving a socket nobody can close. For the same reason the own
    client is replaced when `get` runs on another loop. A client passed in must be used from
    one loop.
    """

    def __init__(self, client: httpx2.AsyncClient | None, *, timeout: float) -> None:
        if client is not None and not (
            callable(getattr(client, "stream", None))
            and inspect.iscoroutinefunction(getattr(client, "aclose", None))
        ):
            # Caught here, not at the first key fetch (a 503 on every request, and a log line
            # naming an AttributeError): a transport, a sync client, an uncalled factory. An
            # async client with httpx2's API (httpx's own) is used as it is.
            kind = f"{type(client).__module__}.{type(client).__qualname__}"
            raise TypeError(
                "http_client must be an httpx2.AsyncClient (in tests: FakeALB.http_client()), "
                f"not {kind}"
            )
        self._client = client
        self._owned = client is None
        self._loop: asyncio.AbstractEventLoop | None = None  # where the own client was made
        self._closings = 0  # how many times `aclose` has run
        #: The deadline of one GET, in seconds.
        self.timeout = timeout

    async def get(self, url: str, *, limit: int) -> bytes:
        """Return the body of a 200 answer, or raise `FetchError`."""
        loop = _running_loop()
        client = self._client  # None only when it is the fetcher's own (not made yet, closed)
        if client is None or (self._owned and self._loop is not loop):
            # A client left by another loop is dropped, not closed: closing it needs that loop.
            self._loop = loop
            client = self._client = httpx2.AsyncClient(
                timeout=self.timeout,
                follow_redirects=False,
                limits=httpx2.Limits(max_connections=8, max_keepalive_connections=0),
            )
        closings = self._closings
        try:
            return await self._get(client, url, limit)
        except Exception as exc:
            if self._closings != closings:  # `aclose` ran meanwhile: the failure is ours
                raise FetchError("client closed", ours=True) from exc
            raise

    async def _get(self, client: httpx2.AsyncClient, url: str, limit: int) -> bytes:
        try:
            # The overall deadline also bounds a server that drips bytes under the read timeout.
            with anyio.fail_after(self.timeout):
                async with client.stream("GET", url, follow_redirects=False) as response:
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
        except (httpx2.HTTPError, httpx2.InvalidURL) as exc:
            # InvalidURL is not an HTTPError: a URL that parses but cannot be requested (a
            # discovered jwks_uri with a bad port) is a failed fetch like any other.
            raise FetchError(type(exc).__name__) from exc

    async def aclose(self) -> None:
        """Close the client if this fetcher created it. A fetch it cuts short fails, and that
        failure is not held against the endpoint."""
        self._closings += 1
        if self._owned and self._client is not None:
            client, self._client = self._client, None
            if self._loop is _running_loop():  # one of another loop is dropped (see `get`)
                await client.aclose()


class _TokenBucket:
    """Allows `per_minute` events a minute, in bursts of up to `per_minute`."""

    def __init__(self, per_minute: int, clock: Callable[[], float]) -> None:
        self._capacity = float(per_minute)
        self._rate = per_minute / 60.0
        self._tokens = self._capacity
        self._clock = clock
        self._last = clock()

    def level(self) -> float:
        """The tokens available now."""
        now = self._clock()
        elapsed = max(0.0, now - self._last)
        self._last = now
        self._tokens = min(self._capacity, self._tokens + elapsed * self._rate)
        return self._tokens

    def take(self) -> bool:
        """Use one token if there is one."""
        if self.level() < 1.0:
            return False
        self._tokens -= 1.0
        return True


class _Demand:
    """How often each key URL we do not hold has been asked for, to share out the fetch budget.

    A flood of random kids brings each kid once or twice; real traffic brings the ALB's kid over
    and over. So a kid seen for the first time may only use the upper half of the budget, and
    the reserved lower half goes to kids asked for again, the most requested first. Bounded
    whatever the flood:

    - first sightings go into a Bloom filter of two generations (`_BLOOM_BYTES` each, a new one
      every `window` seconds). A flood cannot push a kid out of it; it can only make random kids
      look seen before (false positives), which promotes them to a count of 2 and no further;
    - repeat demand is counted per URL in a table of at most `repeat_size` entries. Only URLs
      asked for within the last `window` seconds compete, so a kid that was pumped and then
      went silent stops counting; when the table is full, those go first, then (up to an eighth
      of the table) the least requested, the oldest first among equals.
    """

    def __init__(
        self, clock: Callable[[], float], *, window: float = 10.0, repeat_size: int = 4096
    ) -> None:
        self._clock = clock
        self._window = window
        self._generations = [bytearray(_BLOOM_BYTES), bytearray(_BLOOM_BYTES)]
        self._generation_started = clock()
        self._repeat: dict[str, list[float]] = {}  # url -> [count, last asked for]
        self._repeat_size = repeat_size
        self._leader: str | None = None  # the URL with the highest recent count

    def _positions(self, url: str) -> tuple[int, int, int]:
        # Python's string hash is salted per process, so a client cannot aim at chosen bits.
        digest = hash(url)
        return (
            digest & _BLOOM_MASK,
            (digest >> 21) & _BLOOM_MASK,
            (digest >> 42) & _BLOOM_MASK,
        )

    def _seen_before(self, url: str, now: float) -> bool:
        """Whether `url` was sighted in this or the previous generation; records this sighting."""
        if now - self._generation_started >= self._window:
            stale = now - self._generation_started >= 2 * self._window
            self._generations = [
                bytearray(_BLOOM_BYTES),
                bytearray(_BLOOM_BYTES) if stale else self._generations[0],
            ]
            self._generation_started = now
        current, previous = self._generations
        seen_now = seen_then = True
        for position in self._positions(url):
            byte, bit = position >> 3, 1 << (position & 7)
            seen_now = seen_now and bool(current[byte] & bit)
            seen_then = seen_then and bool(previous[byte] & bit)
            current[byte] |= bit
        return seen_now or seen_then

    def record(self, url: str) -> int:
        """Count one more request for `url`; return how many there have been recently."""
        now = self._clock()
        entry = self._repeat.get(url)
        if entry is None:
            if not self._seen_before(url, now):
                return 1
            if len(self._repeat) >= self._repeat_size:
                self._make_room(now)
            entry = self._repeat[url] = [1.0, now]
        entry[0] += 1
        entry[1] = now
        leader = self._repeat.get(self._leader) if self._leader is not None else None
        if leader is None or entry[0] >= leader[0] or now - leader[1] > self._window:
            self._leader = url
        return int(entry[0])

    def _make_room(self, now: float) -> None:
        # Kids not asked for within the window go first: they no longer compete, whatever their
        # count (so counts pumped and abandoned cannot hold the table). If that frees less than
        # an eighth, the least requested go too, the oldest first among equals (`nsmallest` is
        # stable, the dict in insertion order), up to an eighth. One pass frees many entries, so
        # a flood that keeps the table full costs a scan per `repeat_size / 8` new kids.
        stale = [url for url, (_, last) in self._repeat.items() if now - last > self._window]
        for url in stale:
            self.forget(url)
        short = max(1, self._repeat_size // 8) - len(stale)
        if short > 0:
            by_count = heapq.nsmallest(short, self._repeat.items(), key=lambda item: item[1][0])
            for url, _ in by_count:
                self.forget(url)

    def is_first_in_line(self, url: str) -> bool:
        """True if no other kid asked for within the window has been asked for more often."""
        entry = self._repeat.get(url)
        if entry is None:
            return False
        if self._leader == url:
            return True
        now = self._clock()
        leader = self._repeat.get(self._leader) if self._leader is not None else None
        if leader is None or now - leader[1] > self._window:
            # The leader went silent or was served: find the new one among the recent (rare).
            recent = [(e[0], u) for u, e in self._repeat.items() if now - e[1] <= self._window]
            self._leader = max(recent)[1] if recent else None
            leader = self._repeat.get(self._leader) if self._leader is not None else None
        return leader is None or entry[0] >= leader[0]

    def forget(self, url: str) -> None:
        """`url` was fetched (or failed and is remembered): its demand is served."""
        self._repeat.pop(url, None)
        if self._leader == url:
            self._leader = None


#: Seconds a request on another loop waits beyond a fetch's deadline before giving up on it.
_WAIT_SLACK = 1.0


class _Flight:
    """One fetch in progress; every request that needs its result (the one that started it
    included) waits on `done`. Then `key` is the key fetched, or `error` says why there is none.

    A flight belongs to the event loop it was started on (`loop`; None off asyncio), where its
    fetch runs. A request on another loop that still runs (one per thread) waits for it through
    that loop; one whose loop has ended, or was closed without cancelling it, may never be done,
    and is `abandoned`: the next request starts a fetch of its own.
    """

    __slots__ = ("done", "error", "key", "loop", "task")

    def __init__(self) -> None:
        self.done = anyio.Event()
        self.error: str | None = None
        self.key: ec.EllipticCurvePublicKey | None = None
        self.task: asyncio.Future[None] | None = None
        self.loop = _running_loop()

    def abandoned(self) -> bool:
        """Whether this flight was started on another loop that no longer runs."""
        loop = self.loop
        return loop is not _running_loop() and (
            loop is None or loop.is_closed() or not loop.is_running()
        )

    async def wait(self, bound: float) -> None:
        """Wait until the fetch is done: on its own loop, or from another through that one, for
        at most `bound` seconds (the fetch's own deadline: its loop may stop meanwhile). If
        that loop ends before the fetch does, return with no outcome on the flight."""
        loop = self.loop
        if loop is None or loop is _running_loop():
            await self.done.wait()
            return
        waiting = asyncio.run_coroutine_threadsafe(self.done.wait(), loop)
        try:
            await asyncio.wait_for(asyncio.wrap_future(waiting), bound)
        except TimeoutError:
            waiting.cancel()
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is None or task.cancelling():  # this request was cancelled: stop waiting
                waiting.cancel()
                raise
            # Else the flight's loop cancelled the wait as it ended: no outcome to take.


async def _fly(flight: _Flight, work: Coroutine[Any, Any, None]) -> None:
    """Run `work`, a fetch that records its outcome and sets `flight.done` whatever happens, so
    that no request's cancellation cuts it short: the fetch serves every waiting request, and
    the budget and the cooldown count it from the moment its GET may have gone out.

    Under asyncio the fetch is a task of its own (kept on the flight: the loop holds tasks only
    weakly), which a request's cancellation, a client gone or a timeout around the app, cannot
    reach; the request only stops waiting. Event loops whose cancel scopes shield for real
    (trio) run it in place, shielded. The fetcher's deadline bounds it either way.
    """
    if not _on_asyncio():
        with anyio.CancelScope(shield=True):
            await work
        return
    flight.task = asyncio.ensure_future(work)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    """The running asyncio event loop, or None (not on asyncio)."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _on_asyncio() -> bool:
    """Whether the caller runs on an asyncio event loop."""
    return _running_loop() is not None


def load_alb_public_key(body: bytes) -> ec.EllipticCurvePublicKey:
    """Parse the key endpoint's answer: exactly one PEM public key on curve P-256."""
    if body.count(b"-----BEGIN") != 1:
        raise FetchError("not exactly one PEM block")
    try:
        key = load_pem_public_key(body)
    except (ValueError, UnsupportedAlgorithm):  # the latter: a curve or key type it cannot load
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
        self._reserve = config.max_key_fetches_per_minute // 2
        self._demand = _Demand(clock)
        self._flights: dict[str, _Flight] = {}
        # Taken to find or start a flight: loops in several threads may ask at once.
        self._starting = threading.Lock()
        self._by_token: dict[tuple[str, str], ec.EllipticCurvePublicKey] = {}
        self._by_token_size = config.key_cache_size
        self.fetch_count = 0

    def cached(self, url: str) -> ec.EllipticCurvePublicKey | None:
        """The key for `url` if it is already held."""
        return self._keys.get(url)

    def for_token(self, signer: str, kid: str) -> ec.EllipticCurvePublicKey | None:
        """The key held for a (`signer`, `kid`) pair that passed `check_data_token` before.

        Only `remember` fills this table, after the full check and a successful key lookup, so a
        hit vouches for the signer and the kid as well as giving the key.
        """
        return self._by_token.get((signer, kid))

    def remember(self, signer: str, kid: str, key: ec.EllipticCurvePublicKey) -> None:
        """Record that (`signer`, `kid`) passed the checks and names `key`."""
        if len(self._by_token) >= self._by_token_size:
            self._by_token.clear()  # rare (new kids come a few a day), and cheap to refill
        self._by_token[signer, kid] = key

    def _raise_if_failed(self, url: str, kid: str) -> None:
        if self._failures is None:
            return
        # One lookup: the cache asks the clock at each access, so an entry found by `in` may
        # have expired by the `[]` that reads it, which then raises KeyError.
        try:
            reason = self._failures[url]
        except KeyError:
            return
        raise KeyUnavailableError(
            f"public key for this kid is unavailable ({reason})", kid=kid, reason="key_fetch_failed"
        )

    async def get(self, url: str, kid: str) -> ec.EllipticCurvePublicKey:
        """Return the key at `url`, fetching it once if needed; `KeyUnavailableError` if not.

        Every request that needs the key while its fetch is under way waits for that one fetch,
        and takes its outcome (the key it fetched, whatever the LRU has evicted since).
        """
        key = self._keys.get(url)
        if key is not None:
            return key
        self._raise_if_failed(url, kid)
        with self._starting:
            found = self._flights.get(url)
            if found is not None and not found.abandoned():
                flight, started = found, False
            elif self._admit(url):
                flight, started = _Flight(), True
                self._flights[url] = flight
            else:
                raise KeyUnavailableError(
                    "too many new key ids: fetch budget spent", kid=kid, reason="key_fetch_budget"
                )
        if started:
            await _fly(flight, self._fetch(url, flight))
        await flight.wait(self._fetcher.timeout + _WAIT_SLACK)
        if flight.key is not None:
            return flight.key
        raise KeyUnavailableError(
            f"public key for this kid is unavailable ({flight.error or 'fetch interrupted'})",
            kid=kid,
            reason="key_fetch_failed",
        )

    def _admit(self, url: str) -> bool:
        """Whether a fetch for `url` may spend a token of the budget (see `_Demand`)."""
        count = self._demand.record(url)
        if self._budget.level() >= 1.0 + self._reserve or (
            count >= 2 and self._demand.is_first_in_line(url)
        ):
            return self._budget.take()
        return False

    async def _fetch(self, url: str, flight: _Flight) -> None:
        """Fetch and hold the key at `url` (run by `_fly`); on failure, remember why. Either way
        the outcome is on `flight`, which is then done."""
        self.fetch_count += 1
        self._demand.forget(url)
        try:
            key = load_alb_public_key(await self._fetcher.get(url, limit=_PEM_LIMIT))
        except Exception as exc:
            flight.error = _failure(exc)
            logger.warning("key fetch failed (key_fetch_failed): %s: %s", url, flight.error)
            if self._failures is not None and not _ours(exc):
                self._failures[url] = flight.error
        else:
            self._keys[url] = flight.key = key
        finally:
            if self._flights.get(url) is flight:  # not one started since on another loop
                del self._flights[url]
            flight.done.set()


def parse_jwks(body: bytes) -> dict[str, PublicJWK]:
    """The signing keys of a JWKS document by `kid`: RSA keys of at least 2048 bits, and EC keys
    on P-256, P-384 or P-521. Unusable entries (other key types, encryption keys, private keys,
    algorithms alb-oidc never accepts, malformed values) are skipped."""
    try:
        document = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise FetchError("JWKS is not JSON") from None
    entries = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise FetchError("JWKS has no `keys` list")
    keys: dict[str, PublicJWK] = {}
    for entry in entries[:_MAX_JWKS_KEYS]:
        if not _usable_jwk(entry):
            continue
        try:
            key = (RSAAlgorithm if entry["kty"] == "RSA" else ECAlgorithm).from_jwk(entry)
        except (PyJWTError, ValueError, TypeError, KeyError) as exc:
            # A malformed entry must not hide the good ones.
            logger.debug("skipping JWKS entry: %s", type(exc).__name__)
            continue
        if (isinstance(key, rsa.RSAPublicKey) and key.key_size >= _MIN_RSA_BITS) or (
            isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name in _JWK_CURVES
        ):
            keys.setdefault(entry["kid"], PublicJWK(key, entry.get("alg")))  # the first one wins
    return keys


_JWK_CURVES = frozenset({"secp256r1", "secp384r1", "secp521r1"})


def _usable_jwk(entry: Any) -> bool:
    if not isinstance(entry, dict):
        return False
    kid, alg = entry.get("kid"), entry.get("alg")
    return (
        entry.get("kty") in ("RSA", "EC")
        and isinstance(kid, str)
        and 0 < len(kid) <= MAX_KID
        and entry.get("use", "sig") == "sig"
        and (alg is None or (isinstance(alg, str) and alg in JWT_ALGORITHMS))
        and "d" not in entry  # a private key published by mistake is not used
    )


class JWKSSource:
    """The signing keys of one JWKS document, by `kid`.

    The document is at `url`, or (with `url=None`) at the `jwks_uri` of `issuer`'s OpenID
    Connect discovery document, whose own `issuer` must equal `issuer`. Cached for `ttl`
    seconds, and refreshed on an unknown `kid` at most once per `refresh_cooldown`. Every
    request that needs the keys while a fetch is under way waits for that one fetch (bounded by
    the fetcher's deadline), so a cold start or a rotation costs one fetch. When a refresh fails,
    keys already held keep working, and a `kid` not held is a 503 (`KeyUnavailableError`) until
    a refresh succeeds: it may be in the document that could not be read.
    """

    def __init__(
        self,
        url: str | None,
        *,
        ttl: float,
        refresh_cooldown: float,
        fetcher: HTTPFetcher,
        clock: Callable[[], float],
        owner: str = "the issuer",
        issuer: str | None = None,
    ) -> None:
        if url is None and issuer is None:
            raise ValueError("JWKSSource needs a url or an issuer to discover it from")
        self.url = url
        self._issuer = issuer
        self._discovered: str | None = None
        self._ttl = ttl
        self._cooldown = refresh_cooldown
        self._fetcher = fetcher
        self._clock = clock
        self._owner = owner
        self._keys: dict[str, PublicJWK] = {}
        self._fetched_at: float | None = None  # last successful fetch
        self._attempted_at: float | None = None  # last attempt, successful or not
        self._last_error: str | None = None
        self._flight: _Flight | None = None
        self._attempted_before: float | None = None  # `_attempted_at` before `_flight` began
        self._starting = threading.Lock()  # see `ALBKeySource`
        self.fetch_count = 0

    def _stale(self, now: float) -> bool:
        return self._fetched_at is None or now - self._fetched_at >= self._ttl

    def _may_refresh(self, now: float) -> bool:
        return self._attempted_at is None or now - self._attempted_at >= self._cooldown

    def held(self, kid: str) -> PublicJWK | None:
        """The key for `kid` if it is held and fresh: no coroutine for the usual case."""
        key = self._keys.get(kid)
        if key is not None and not self._stale(self._clock()):
            return key
        return None

    async def get(self, kid: str, *, label: str = "access token") -> PublicJWK:
        """The key for `kid`: `AccessTokenError` (its message naming the token by `label`) if
        the document has none, 503 if it cannot be fetched and was never fetched."""
        now = self._clock()
        key = self._keys.get(kid)
        if key is not None and not self._stale(now):
            return key
        if self._running() is not None:
            if key is None:  # a held key is used as is while a refresh runs
                await self.refresh()
        elif self._may_refresh(now):
            await self.refresh()
        key = self._keys.get(kid)
        if key is not None:
            return key
        if self._last_error is not None:
            # The keys could not be fetched (ever, or at the last refresh): a kid we do not hold
            # may well be in the document we could not read. A 503, which clients retry, not a
            # verdict on the token.
            raise KeyUnavailableError(
                f"JWKS of {self._owner} is unavailable ({self._last_error})",
                kid=kid,
                reason="jwks_fetch_failed",
            )
        raise AccessTokenError(f"{label} `kid` is not in {self._owner}'s JWKS")

    async def refresh(self) -> None:
        """Fetch the JWKS now (after the discovery document, if its URL is not known yet), or
        wait for the fetch already under way. Never raises (but for the caller's own
        cancellation, which stops its wait, never the fetch: see `_fly`)."""
        with self._starting:
            flight = self._running()
            started = flight is None
            if flight is None:
                flight = self._flight = _Flight()
                self._attempted_before, self._attempted_at = self._attempted_at, self._clock()
                self.fetch_count += 1
        if started:
            await _fly(flight, self._fetch(flight))
        await flight.wait(self._fetcher.timeout + _WAIT_SLACK)

    def _running(self) -> _Flight | None:
        """The refresh under way, if any. One abandoned by a loop that no longer runs is
        forgotten, and its attempt with it: it may never end (its loop closed without cancelling
        it), and no answer of the endpoint was seen, so the cooldown does not count it."""
        flight = self._flight
        if flight is not None and flight.abandoned():
            self._not_counted(flight)
            self._flight = None
            return None
        return flight

    def _not_counted(self, flight: _Flight) -> None:
        """Take back `flight`'s attempt, if it is still the latest: it saw no answer of the
        endpoint (cut short, or abandoned), so the cooldown does not count it."""
        if self._flight is flight:
            self._attempted_at = self._attempted_before

    async def _fetch(self, flight: _Flight) -> None:
        """One refresh (run by `_fly`): the keys, or the failure remembered; then `flight` is
        done. The discovery document and the JWKS share one deadline, the fetcher's."""
        try:
            with anyio.fail_after(self._fetcher.timeout):
                url = self.url or self._discovered or await self._discover()
                keys = parse_jwks(await self._fetcher.get(url, limit=_JWKS_LIMIT))
        except Exception as exc:
            # Whatever went wrong with what the IdP sent is a failure, remembered like one.
            self._last_error = _failure(exc)
            self._discovered = None  # the issuer may have moved its keys: look again next time
            if _ours(exc):  # cut short by `aclose`
                self._not_counted(flight)
            logger.warning(
                "JWKS fetch failed (jwks_fetch_failed): %s: %s",
                self.url or self._issuer,
                self._last_error,
            )
        except BaseException:
            # Cancelled: under asyncio only the end of its loop cancels the fetch's own task.
            self._not_counted(flight)
            raise
        else:
            self._keys = keys
            self._fetched_at = self._attempted_at
            self._last_error = None
        finally:
            if self._flight is flight:  # not one started since on another loop
                self._flight = None
            flight.done.set()

    async def _discover(self) -> str:
        """The `jwks_uri` of the issuer's discovery document (OpenID Connect Discovery 1.0)."""
        issuer = self._issuer or ""
        address = f"{issuer.rstrip('/')}/.well-known/openid-configuration"
        try:
            document = json.loads(
                (await self._fetcher.get(address, limit=_DISCOVERY_LIMIT)).decode("utf-8")
            )
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise FetchError("discovery document is not JSON") from None
        if not isinstance(document, dict):
            raise FetchError("discovery document is not a JSON object")
        # Section 4.3: the document's issuer must be exactly the one it was fetched for.
        if document.get("issuer") != issuer:
            raise FetchError("discovery document names another issuer")
        jwks_uri = document.get("jwks_uri")
        if not isinstance(jwks_uri, str):
            raise FetchError("discovery document has no jwks_uri")
        try:
            check_fetch_url("jwks_uri", jwks_uri)
        except ConfigurationError:
            raise FetchError("discovery document's jwks_uri is not https") from None
        except ValueError:  # urlsplit: an unclosed bracket, a bad port
            raise FetchError("discovery document's jwks_uri is not a URL") from None
        # Plain http only from a loopback issuer to a loopback host, and a loopback host only
        # from a loopback issuer: a public issuer's document may not send the fetch to a local
        # service. (`check_fetch_url` allowed http for loopback hosts, in any letter case.)
        if _names_this_host(urlsplit(jwks_uri).hostname) and not _is_loopback(
            urlsplit(issuer).hostname
        ):
            raise FetchError("discovery document's jwks_uri names a loopback host")
        self._discovered = jwks_uri
        return jwks_uri


def _names_this_host(host: str | None) -> bool:
    """Whether a connection to `host` reaches this machine, in any of the spellings a resolver
    takes: `localhost` and its subdomains, loopback and unspecified addresses (`0.0.0.0`,
    `::`), IPv4-mapped ones (`::ffff:127.0.0.1`), and the short and numeric IPv4 forms
    (`127.1`, `2130706433`, `0x7f.1`). A name that a DNS server resolves to 127.0.0.1 is not
    caught: nothing is resolved here."""
    if not host:
        return False
    host = host.lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    address = _host_address(host)
    return address is not None and (address.is_loopback or address.is_unspecified)


class CognitoJWKS(JWKSSource):
    """A Cognito user pool's JWKS (a `JWKSSource` configured from a `CognitoConfig`)."""

    def __init__(
        self,
        cognito: CognitoConfig,
        fetcher: HTTPFetcher,
        clock: Callable[[], float],
    ) -> None:
        super().__init__(
            cognito.jwks_url or "",
            ttl=cognito.jwks_ttl,
            refresh_cooldown=cognito.refresh_cooldown,
            fetcher=fetcher,
            clock=clock,
            owner="the user pool",
        )


def idp_jwks(
    config: OIDCAccessTokenConfig, fetcher: HTTPFetcher, clock: Callable[[], float]
) -> JWKSSource:
    """The JWKS source of an `OIDCAccessTokenConfig`: its `jwks_url`, or discovered."""
    return JWKSSource(
        config.jwks_url,
        ttl=config.jwks_ttl,
        refresh_cooldown=config.refresh_cooldown,
        fetcher=fetcher,
        clock=clock,
        owner="the IdP",
        issuer=config.issuer,
    )
