from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import uuid
from collections.abc import Callable

import anyio
import httpx2
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from alb_oidc import AccessTokenError, KeyUnavailableError, keys
from alb_oidc.keys import (
    ALBKeySource,
    CognitoJWKS,
    HTTPFetcher,
    JWKSSource,
    _Demand,
    parse_jwks,
)
from alb_oidc.testing import FakeALB

from .conftest import Clock

pytestmark = pytest.mark.anyio


def pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


class Endpoint:
    """A MockTransport handler whose answer tests can change, counting requests."""

    def __init__(self, respond: Callable[[httpx2.Request], httpx2.Response]) -> None:
        self.respond = respond
        self.calls: list[str] = []
        self.delay = 0.0

    async def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.calls.append(str(request.url))
        if self.delay:
            await anyio.sleep(self.delay)
        return self.respond(request)


def alb_source(alb: FakeALB, endpoint: Endpoint, clock: Clock, **overrides: object) -> ALBKeySource:
    config = alb.config(**overrides)
    client = httpx2.AsyncClient(transport=httpx2.MockTransport(endpoint))
    return ALBKeySource(config, HTTPFetcher(client, timeout=config.key_fetch_timeout), clock)


def ok(alb: FakeALB) -> Endpoint:
    return Endpoint(lambda request: httpx2.Response(200, content=alb.public_key_pem()))


async def test_key_is_fetched_once_and_cached(alb: FakeALB, clock: Clock) -> None:
    endpoint = ok(alb)
    source = alb_source(alb, endpoint, clock)
    url = alb.key_url()
    assert source.cached(url) is None
    first = await source.get(url, alb.kid)
    second = await source.get(url, alb.kid)
    assert first is second
    assert first.public_numbers() == alb.alb_key.public_key().public_numbers()
    assert endpoint.calls == [url]
    assert source.cached(url) is first


async def test_concurrent_requests_for_one_missing_kid_cause_one_fetch(
    alb: FakeALB, clock: Clock
) -> None:
    endpoint = ok(alb)
    endpoint.delay = 0.05
    source = alb_source(alb, endpoint, clock)
    results = []

    async def one() -> None:
        results.append(await source.get(alb.key_url(), alb.kid))

    async with anyio.create_task_group() as group:
        for _ in range(200):
            group.start_soon(one)
    assert len(results) == 200
    assert len(endpoint.calls) == 1
    assert source.fetch_count == 1
    assert source._flights == {}  # no fetch left behind


async def test_a_failed_fetch_is_remembered_then_retried(alb: FakeALB, clock: Clock) -> None:
    endpoint = Endpoint(lambda request: httpx2.Response(500))
    source = alb_source(alb, endpoint, clock, key_failure_ttl=30)
    for _ in range(5):
        with pytest.raises(KeyUnavailableError) as caught:
            await source.get(alb.key_url(), alb.kid)
        assert caught.value.status_code == 503
        assert caught.value.kid == alb.kid
    assert len(endpoint.calls) == 1
    endpoint.respond = lambda request: httpx2.Response(200, content=alb.public_key_pem())
    clock.advance(31)
    assert await source.get(alb.key_url(), alb.kid) is not None
    assert len(endpoint.calls) == 2


class ScriptedClock(Clock):
    """A clock that gives the times in `script` to its next reads, then keeps the last."""

    def __init__(self) -> None:
        super().__init__()
        self.script: list[float] = []

    def __call__(self) -> float:
        if self.script:
            self.now = self.script.pop(0)
        return self.now


async def test_a_failure_that_expires_while_it_is_read_is_not_a_500(alb: FakeALB) -> None:
    # The failure cache asks the clock at each access: reading it twice (`in`, then `[]`) across
    # its expiry raised KeyError, a 500 for requests retrying a kid just as its failure expired.
    clock = ScriptedClock()
    endpoint = Endpoint(lambda request: httpx2.Response(500))
    source = alb_source(alb, endpoint, clock, key_failure_ttl=30)
    with pytest.raises(KeyUnavailableError):
        await source.get(alb.key_url(), alb.kid)
    clock.script = [clock.now + 29.999, clock.now + 30.001]
    with pytest.raises(KeyUnavailableError, match=r"unavailable \(HTTP 500"):
        await source.get(alb.key_url(), alb.kid)
    assert len(endpoint.calls) == 1  # it was still remembered at that first read


async def test_concurrent_waiters_share_a_failure(alb: FakeALB, clock: Clock) -> None:
    endpoint = Endpoint(lambda request: httpx2.Response(503))
    endpoint.delay = 0.05
    source = alb_source(alb, endpoint, clock)
    errors = []

    async def one() -> None:
        try:
            await source.get(alb.key_url(), alb.kid)
        except KeyUnavailableError as exc:
            errors.append(exc)

    async with anyio.create_task_group() as group:
        for _ in range(50):
            group.start_soon(one)
    assert len(errors) == 50
    assert len(endpoint.calls) == 1


def test_a_full_demand_table_makes_room_for_many_at_once(clock: Clock) -> None:
    # Making room one entry at a time scanned the whole table for every new repeated kid: a
    # flood of kids sent twice each cost ~200 us apiece once the table was full.
    demand = _Demand(clock, repeat_size=16)
    real = "https://keys/real"
    for _ in range(5):
        demand.record(real)  # asked for over and over
    for index in range(15):
        kid = f"https://keys/random-{index}"
        assert demand.record(kid) == 1  # a first sighting goes into the Bloom filter only
        assert demand.record(kid) == 2
    assert len(demand._repeat) == 16  # full
    assert demand.record("https://keys/new") == 1
    assert demand.record("https://keys/new") == 2
    # An eighth went in one pass: the least requested, the oldest first among equals.
    assert list(demand._repeat) == [
        real,
        *(f"https://keys/random-{index}" for index in range(2, 15)),
        "https://keys/new",
    ]
    assert demand.is_first_in_line(real)


def test_kids_no_longer_asked_for_make_room_first_whatever_their_count(clock: Clock) -> None:
    # Counts pumped into kids that then went silent must not hold the table: they go before
    # any kid still asked for, the real one included.
    demand = _Demand(clock, repeat_size=16)
    pumped = [f"https://keys/pumped-{index}" for index in range(4)]
    for kid in pumped:
        for _ in range(50):
            demand.record(kid)
    clock.advance(11)  # past the ten-second window: they no longer compete
    real = "https://keys/real"
    for _ in range(3):
        demand.record(real)
    for index in range(11):
        kid = f"https://keys/random-{index}"
        demand.record(kid)
        demand.record(kid)
    assert len(demand._repeat) == 16  # full
    demand.record("https://keys/new")
    demand.record("https://keys/new")
    assert not set(pumped) & set(demand._repeat)  # all four stale ones, and nothing else
    assert len(demand._repeat) == 13
    assert demand.is_first_in_line(real)


async def test_new_kids_are_rate_limited(alb: FakeALB, clock: Clock) -> None:
    endpoint = Endpoint(lambda request: httpx2.Response(404))
    source = alb_source(alb, endpoint, clock, max_key_fetches_per_minute=5)
    refused = 0
    for _ in range(100):
        kid = str(uuid.uuid4())
        with pytest.raises(KeyUnavailableError) as caught:
            await source.get(alb.key_url(kid), kid)
        refused += caught.value.reason == "key_fetch_budget"
    # Kids seen once may spend the budget down to its reserved half (5 // 2 = 2 tokens).
    assert len(endpoint.calls) == 3
    assert refused == 97
    clock.advance(12)  # 5 a minute: one more every 12 seconds
    kid = str(uuid.uuid4())
    with pytest.raises(KeyUnavailableError, match="HTTP 404"):
        await source.get(alb.key_url(kid), kid)
    assert len(endpoint.calls) == 4


async def test_a_rate_limited_kid_is_not_remembered_as_failed(alb: FakeALB, clock: Clock) -> None:
    source = alb_source(alb, Endpoint(alb.handle), clock, max_key_fetches_per_minute=1)
    other = str(uuid.uuid4())
    with pytest.raises(KeyUnavailableError):
        await source.get(alb.key_url(other), other)  # uses the only token (404: no such key)
    with pytest.raises(KeyUnavailableError, match="too many"):
        await source.get(alb.key_url(), alb.kid)
    clock.advance(60)
    assert await source.get(alb.key_url(), alb.kid) is not None


async def test_cache_is_bounded(alb: FakeALB, clock: Clock) -> None:
    key_pem = alb.public_key_pem()
    endpoint = Endpoint(lambda request: httpx2.Response(200, content=key_pem))
    source = alb_source(alb, endpoint, clock, key_cache_size=3, max_key_fetches_per_minute=100)
    kids = [str(uuid.uuid4()) for _ in range(10)]
    for kid in kids:
        await source.get(alb.key_url(kid), kid)
    assert len(source._keys) == 3
    assert source.cached(alb.key_url(kids[-1])) is not None
    assert source.cached(alb.key_url(kids[0])) is None


BAD_BODIES = {
    "RSA key": lambda alb: pem(rsa.generate_private_key(public_exponent=65537, key_size=2048)),
    "P-384 key": lambda alb: pem(ec.generate_private_key(ec.SECP384R1())),
    "two keys": lambda alb: alb.public_key_pem() + pem(ec.generate_private_key(ec.SECP256R1())),
    "garbage": lambda alb: b"\x00\x01garbage",
    "empty": lambda alb: b"",
    "private key": lambda alb: alb.alb_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ),
    "10 MB": lambda alb: b"A" * (10 * 1024 * 1024),
}


@pytest.mark.parametrize("name", sorted(BAD_BODIES))
async def test_unusable_key_bodies_are_refused_and_remembered(
    alb: FakeALB, clock: Clock, name: str
) -> None:
    body = BAD_BODIES[name](alb)
    endpoint = Endpoint(lambda request: httpx2.Response(200, content=body))
    source = alb_source(alb, endpoint, clock)
    with pytest.raises(KeyUnavailableError):
        await source.get(alb.key_url(), alb.kid)
    with pytest.raises(KeyUnavailableError):
        await source.get(alb.key_url(), alb.kid)
    assert len(endpoint.calls) == 1
    assert source.cached(alb.key_url()) is None


async def test_redirects_are_not_followed(alb: FakeALB, clock: Clock) -> None:
    def respond(request: httpx2.Request) -> httpx2.Response:
        if request.url.host == "evil.example":
            return httpx2.Response(200, content=alb.public_key_pem())
        return httpx2.Response(302, headers={"location": "https://evil.example/key"})

    endpoint = Endpoint(respond)
    source = alb_source(alb, endpoint, clock)
    with pytest.raises(KeyUnavailableError, match="HTTP 302"):
        await source.get(alb.key_url(), alb.kid)
    assert endpoint.calls == [alb.key_url()]


async def test_a_slow_endpoint_times_out_within_the_configured_bound(
    alb: FakeALB, clock: Clock
) -> None:
    endpoint = ok(alb)
    endpoint.delay = 5
    source = alb_source(alb, endpoint, clock, key_fetch_timeout=0.2)
    started = anyio.current_time()
    with pytest.raises(KeyUnavailableError, match="timed out"):
        await source.get(alb.key_url(), alb.kid)
    assert anyio.current_time() - started < 3  # generous: the point is it does not wait 5 s


async def test_transport_errors_become_key_unavailable(alb: FakeALB, clock: Clock) -> None:
    def refuse(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ConnectError("refused", request=request)

    source = alb_source(alb, Endpoint(refuse), clock)
    with pytest.raises(KeyUnavailableError, match="ConnectError"):
        await source.get(alb.key_url(), alb.kid)


async def test_fetcher_creates_and_closes_its_own_client() -> None:
    fetcher = HTTPFetcher(None, timeout=1)
    with pytest.raises(Exception, match=r"ConnectError|timed out"):
        await fetcher.get("http://127.0.0.1:9/never", limit=10)  # port 9: discard, nothing listens
    assert fetcher._client is not None
    await fetcher.aclose()
    assert fetcher._client is None


async def test_fetcher_leaves_a_given_client_open(alb: FakeALB) -> None:
    client = alb.http_client()
    fetcher = HTTPFetcher(client, timeout=1)
    assert await fetcher.get(alb.key_url(), limit=8192) == alb.public_key_pem()
    await fetcher.aclose()
    assert not client.is_closed
    await client.aclose()


async def cancelled_mid_fetch(request: object) -> None:
    """Start a request (a coroutine), cancel it while its fetch is under way, as a timeout
    around the app or a server whose client went away does (asyncio's own cancellation)."""
    task = asyncio.ensure_future(request)  # type: ignore[call-overload]
    await asyncio.sleep(0.002)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, KeyUnavailableError, AccessTokenError):
        await task


async def test_cancelled_requests_cannot_fetch_beyond_the_budget(
    alb: FakeALB, clock: Clock
) -> None:
    """The fetch is not the request's: cancelling the request stops its wait, while the fetch
    runs on and counts against the budget. (When a cancelled fetch gave its token back, a
    client whose requests get cancelled sent one GET per request.)"""
    endpoint = Endpoint(lambda request: httpx2.Response(404))
    endpoint.delay = 0.01
    source = alb_source(alb, endpoint, clock, max_key_fetches_per_minute=5)
    for _ in range(30):
        kid = str(uuid.uuid4())
        await cancelled_mid_fetch(source.get(alb.key_url(kid), kid))
    await asyncio.sleep(0.05)  # the fetches still running end
    assert 1 <= len(endpoint.calls) == source.fetch_count <= 5  # the clock stands: no refill


async def test_a_fetch_whose_request_was_cancelled_serves_the_next_request(
    alb: FakeALB, clock: Clock
) -> None:
    endpoint = ok(alb)
    endpoint.delay = 0.02
    source = alb_source(alb, endpoint, clock)
    await cancelled_mid_fetch(source.get(alb.key_url(), alb.kid))
    assert await source.get(alb.key_url(), alb.kid) is not None  # waits for the same fetch
    assert len(endpoint.calls) == 1


async def test_waiters_take_the_key_fetched_even_if_the_cache_evicted_it(
    alb: FakeALB, clock: Clock
) -> None:
    """Four kids fetched at once into a cache of one key: every request waiting on a fetch gets
    that fetch's key (they used to read the cache again, and 503 when it had moved on)."""
    endpoint = ok(alb)
    endpoint.delay = 0.02
    source = alb_source(alb, endpoint, clock, key_cache_size=1)
    kids = [str(uuid.uuid4()) for _ in range(4)]
    got: list[object] = []

    async def one(kid: str) -> None:
        got.append(await source.get(alb.key_url(kid), kid))

    async with anyio.create_task_group() as group:
        for kid in kids * 3:
            group.start_soon(one, kid)
    assert len(got) == 12
    assert source.fetch_count == 4


async def test_without_an_asyncio_loop_the_fetch_runs_in_place_shielded(
    alb: FakeALB, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On an event loop whose cancel scopes shield for real (trio), the fetch runs in the
    request itself, shielded; its outcome is recorded all the same."""

    monkeypatch.setattr(keys, "_on_asyncio", lambda: False)
    endpoint = ok(alb)
    source = alb_source(alb, endpoint, clock)
    assert await source.get(alb.key_url(), alb.kid) is not None
    assert source.cached(alb.key_url()) is not None
    missing = str(uuid.uuid4())
    endpoint.respond = lambda request: httpx2.Response(404)
    with pytest.raises(KeyUnavailableError, match="HTTP 404"):
        await source.get(alb.key_url(missing), missing)
    jwks = jwks_source(alb, jwks_ok(alb), clock)
    assert await jwks.get(alb.pool_kid) is not None


# --- Cognito JWKS ----------------------------------------------------------------------------


def jwks_source(alb: FakeALB, endpoint: Endpoint, clock: Clock) -> CognitoJWKS:
    client = httpx2.AsyncClient(transport=httpx2.MockTransport(endpoint))
    return CognitoJWKS(alb.cognito_config(), HTTPFetcher(client, timeout=5), clock)


def jwks_ok(alb: FakeALB) -> Endpoint:
    return Endpoint(lambda request: httpx2.Response(200, json=alb.jwks()))


async def test_jwks_is_fetched_once_and_cached_for_its_ttl(alb: FakeALB, clock: Clock) -> None:
    endpoint = jwks_ok(alb)
    source = jwks_source(alb, endpoint, clock)
    key = await source.get(alb.pool_kid)
    assert key.key.public_numbers() == alb.pool_key.public_key().public_numbers()
    for _ in range(10):
        await source.get(alb.pool_kid)
    assert endpoint.calls == [alb.jwks_url]
    clock.advance(3601)
    await source.get(alb.pool_kid)
    assert len(endpoint.calls) == 2


async def test_unknown_kids_refresh_at_most_once_per_cooldown(alb: FakeALB, clock: Clock) -> None:
    endpoint = jwks_ok(alb)
    source = jwks_source(alb, endpoint, clock)
    await source.get(alb.pool_kid)
    for _ in range(1000):
        with pytest.raises(AccessTokenError, match="not in the user pool"):
            await source.get(f"random-{uuid.uuid4()}")
    assert len(endpoint.calls) == 1  # within the cooldown of the first fetch
    clock.advance(31)
    for _ in range(1000):
        with pytest.raises(AccessTokenError):
            await source.get(f"random-{uuid.uuid4()}")
    assert len(endpoint.calls) == 2


async def test_rotated_in_key_is_found_after_cooldown(alb: FakeALB, clock: Clock) -> None:
    endpoint = jwks_ok(alb)
    source = jwks_source(alb, endpoint, clock)
    await source.get(alb.pool_kid)
    old_kid, alb.pool_kid = alb.pool_kid, "rotated-kid"
    clock.advance(31)
    assert await source.get("rotated-kid") is not None
    with pytest.raises(AccessTokenError):
        await source.get(old_kid)  # rotated out; refreshed within cooldown, so no second fetch
    assert len(endpoint.calls) == 2


async def test_jwks_unavailable_and_never_fetched_is_503(alb: FakeALB, clock: Clock) -> None:
    endpoint = Endpoint(lambda request: httpx2.Response(500))
    source = jwks_source(alb, endpoint, clock)
    with pytest.raises(KeyUnavailableError, match="HTTP 500"):
        await source.get(alb.pool_kid)
    with pytest.raises(KeyUnavailableError):
        await source.get(alb.pool_kid)
    assert len(endpoint.calls) == 1  # cooldown applies to failures too
    endpoint.respond = lambda request: httpx2.Response(200, json=alb.jwks())
    clock.advance(31)
    assert await source.get(alb.pool_kid) is not None


async def test_stale_keys_keep_working_when_the_refresh_fails(alb: FakeALB, clock: Clock) -> None:
    endpoint = jwks_ok(alb)
    source = jwks_source(alb, endpoint, clock)
    await source.get(alb.pool_kid)
    endpoint.respond = lambda request: httpx2.Response(500)
    clock.advance(4000)
    assert await source.get(alb.pool_kid) is not None
    assert len(endpoint.calls) == 2


async def test_cancelled_requests_cannot_refresh_within_the_cooldown(
    alb: FakeALB, clock: Clock
) -> None:
    """Tokens with made-up kids whose requests are cancelled mid-refresh: the refresh runs on
    and counts for the cooldown (it used to be forgotten, and each such request fetched)."""
    endpoint = jwks_ok(alb)
    source = jwks_source(alb, endpoint, clock)
    await source.get(alb.pool_kid)
    clock.advance(31)
    endpoint.delay = 0.01
    for index in range(20):
        await cancelled_mid_fetch(source.get(f"made-up-{index}"))
    await asyncio.sleep(0.05)
    assert len(endpoint.calls) == 2  # the first, and one refresh past the cooldown


async def test_a_kid_not_held_after_a_failed_refresh_is_503_not_401(
    alb: FakeALB, clock: Clock
) -> None:
    """The last refresh failed: a kid we do not hold may be in the document we could not read,
    so the answer is 503 (retried by clients), until a refresh succeeds."""
    endpoint = jwks_ok(alb)
    source = jwks_source(alb, endpoint, clock)
    await source.get(alb.pool_kid)
    endpoint.respond = lambda request: httpx2.Response(502)
    clock.advance(31)
    with pytest.raises(KeyUnavailableError, match="HTTP 502"):
        await source.get("rotated-kid")
    assert await source.get(alb.pool_kid) is not None  # held keys keep working
    endpoint.respond = lambda request: httpx2.Response(200, json=alb.jwks())
    clock.advance(31)
    with pytest.raises(AccessTokenError, match="not in the user pool"):
        await source.get("rotated-kid")  # read this time, and it is not there


async def test_concurrent_refreshes_cause_one_fetch(alb: FakeALB, clock: Clock) -> None:
    endpoint = jwks_ok(alb)
    endpoint.delay = 0.05
    source = jwks_source(alb, endpoint, clock)
    async with anyio.create_task_group() as group:
        for _ in range(100):
            group.start_soon(source.get, alb.pool_kid)
    assert len(endpoint.calls) == 1


def test_parse_jwks_keeps_only_usable_signing_keys(alb: FakeALB) -> None:
    good = alb.jwks()["keys"][0]
    ec_key = json.loads(ECAlgorithm.to_jwk(ec.generate_private_key(ec.SECP384R1()).public_key()))
    off_curve = json.loads(ECAlgorithm.to_jwk(ec.generate_private_key(ec.SECP256K1()).public_key()))
    small = FakeALB().jwks()["keys"][0]  # another pool's valid key, relabelled below
    weak = json.loads(
        RSAAlgorithm.to_jwk(
            rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key()
        )
    )
    document = {
        "keys": [
            good,
            {**small, "kid": "enc", "use": "enc"},
            {**small, "kid": "ps", "alg": "PS256"},
            {**small, "kid": "hmac", "alg": "HS256"},
            {**small, "kid": "alg-list", "alg": ["RS256"]},
            {**small, "kid": "alg-object", "alg": {"RS256": 1}},
            {**ec_key, "kid": alb.pool_kid},  # a second key under the same kid: the first wins
            {**small, "kid": "none", "alg": "none"},
            {**small, "kid": "private", "d": "AAAA"},
            {**weak, "kid": "weak"},
            {**ec_key, "kid": "es384", "alg": "ES384"},
            {**off_curve, "kid": "secp256k1"},
            {"kty": "EC", "kid": "ec", "crv": "P-256", "x": "AA", "y": "AA"},
            {"kty": "oct", "kid": "secret", "k": "c2VjcmV0"},
            {"kty": "RSA", "kid": "broken", "n": "!!", "e": "AQAB"},
            {"kty": "RSA", "n": good["n"], "e": good["e"]},
            "not a dict",
        ]
    }
    keys = parse_jwks(json.dumps(document).encode())
    assert set(keys) == {alb.pool_kid, "ps", "es384"}
    assert keys["ps"].alg == "PS256"
    assert keys[alb.pool_kid].alg == "RS256"
    assert isinstance(keys[alb.pool_kid].key, rsa.RSAPublicKey)
    assert isinstance(keys["es384"].key, ec.EllipticCurvePublicKey)
    assert keys["es384"].key.curve.name == "secp384r1"


@pytest.mark.parametrize("body", [b"[]", b"{}", b'{"keys": 5}', b"not json", b"\xff"])
async def test_unusable_jwks_documents_are_failures(
    alb: FakeALB, clock: Clock, body: bytes
) -> None:
    source = jwks_source(alb, Endpoint(lambda request: httpx2.Response(200, content=body)), clock)
    with pytest.raises(KeyUnavailableError):
        await source.get(alb.pool_kid)


def _pem(der: bytes) -> bytes:
    body = base64.encodebytes(der).decode()
    return f"-----BEGIN PUBLIC KEY-----\n{body}-----END PUBLIC KEY-----\n".encode()


@pytest.mark.parametrize(
    ("old", "new"),
    [
        pytest.param("06082a8648ce3d030107", "06082a8648ce3d030109", id="unknown-curve"),
        pytest.param("06072a8648ce3d0201", "06072a8648ce3d0209", id="unknown-key-type"),
    ],
)
async def test_a_key_of_an_unsupported_kind_is_a_remembered_failure_not_a_500(
    alb: FakeALB, clock: Clock, old: str, new: str
) -> None:
    der = alb.alb_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    body = _pem(der.replace(bytes.fromhex(old), bytes.fromhex(new)))
    endpoint = Endpoint(lambda request: httpx2.Response(200, content=body))
    source = alb_source(alb, endpoint, clock)
    for _ in range(3):
        with pytest.raises(KeyUnavailableError):
            await source.get(alb.key_url(), alb.kid)
    assert len(endpoint.calls) == 1  # remembered as failed


@pytest.mark.parametrize(
    "jwks_uri",
    [
        "http://127.0.0.1:9000/keys",
        "HTTP://127.0.0.1:9000/keys",  # the scheme in capitals: still http
        "https://localhost/keys",
        "https://[::1]:8443/keys",
        # Other spellings of this machine that a resolver or a socket takes.
        "https://0.0.0.0/keys",
        "https://[::]/keys",
        "https://[::ffff:127.0.0.1]/keys",
        "https://127.1/keys",
        "https://2130706433/keys",
        "https://0x7f.1/keys",
        "https://LOCALHOST./keys",
        "https://idp.localhost/keys",
    ],
)
async def test_a_public_issuers_discovery_cannot_send_the_fetch_to_loopback(
    clock: Clock, jwks_uri: str
) -> None:
    """A discovery document is the IdP's say: an issuer on the internet may not point the JWKS
    fetch at a service on the app's own host, whatever the scheme or its spelling."""
    issuer = "https://idp.example.com"
    discovery = f"{issuer}/.well-known/openid-configuration"
    endpoint = Endpoint(
        lambda request: (
            httpx2.Response(200, json={"issuer": issuer, "jwks_uri": jwks_uri})
            if str(request.url) == discovery
            else httpx2.Response(200, json={"keys": []})
        )
    )
    client = httpx2.AsyncClient(transport=httpx2.MockTransport(endpoint))
    source = JWKSSource(
        None,
        ttl=3600,
        refresh_cooldown=30,
        fetcher=HTTPFetcher(client, timeout=5),
        clock=clock,
        issuer=issuer,
    )
    with pytest.raises(KeyUnavailableError, match="jwks_uri names a loopback host"):
        await source.get("any-kid")
    assert endpoint.calls == [discovery]
