"""The LRU and the verified-result cache, alone and inside the authenticator."""

from __future__ import annotations

import anyio
import pytest

from alb_oidc import (
    AccessTokenError,
    ALBAuthenticator,
    IdentityMismatchError,
    SignatureError,
    TokenExpiredError,
)
from alb_oidc.cache import LRUCache, ResultCache
from alb_oidc.testing import FakeALB

from .conftest import START, Clock, asgi_headers


def test_lru_evicts_the_least_recently_used() -> None:
    cache: LRUCache[str, int] = LRUCache(2)
    cache["a"], cache["b"] = 1, 2
    assert cache.get("a") == 1  # "a" is now the most recent
    cache["c"] = 3
    assert "b" not in cache
    assert (cache.get("a"), cache.get("c"), len(cache)) == (1, 3, 2)
    assert cache.pop("a") == 1
    assert cache.pop("a") is None
    cache.clear()
    assert len(cache) == 0


def test_lru_needs_room_for_one() -> None:
    with pytest.raises(ValueError, match="maxsize"):
        LRUCache(0)


def test_result_is_returned_only_for_the_exact_key_until_it_expires() -> None:
    cache: ResultCache[bytes, str] = ResultCache(8, ttl=300)
    cache.put(b"token", "alice", now=100, valid_until=130)
    assert cache.get(b"token", 130) == "alice"
    assert cache.get(b"token ", 130) is None
    assert cache.get(b"tokeN", 130) is None
    assert cache.get(b"token", 130.001) is None
    assert len(cache) == 0  # the expired entry is dropped on sight
    assert (cache.hits, cache.misses) == (1, 3)


def test_result_never_outlives_the_ttl() -> None:
    cache: ResultCache[bytes, str] = ResultCache(8, ttl=10)
    cache.put(b"token", "alice", now=100, valid_until=10_000)
    assert cache.get(b"token", 110) == "alice"
    assert cache.get(b"token", 110.5) is None


def test_an_already_expired_result_is_not_stored() -> None:
    cache: ResultCache[bytes, str] = ResultCache(8, ttl=10)
    cache.put(b"token", "alice", now=100, valid_until=99)
    assert len(cache) == 0


@pytest.mark.parametrize(("size", "ttl"), [(0, 300.0), (8, 0.0)])
def test_size_or_ttl_zero_turns_the_cache_off(size: int, ttl: float) -> None:
    cache: ResultCache[bytes, str] = ResultCache(size, ttl=ttl)
    cache.put(b"token", "alice", now=100, valid_until=200)
    assert cache.get(b"token", 100) is None
    assert len(cache) == 0
    cache.clear()


def test_result_cache_is_bounded() -> None:
    cache: ResultCache[int, int] = ResultCache(100, ttl=10)
    for index in range(1000):
        cache.put(index, index, now=0, valid_until=5)
    assert len(cache) == 100
    assert cache.get(999, 1) == 999
    assert cache.get(0, 1) is None


# --- inside the authenticator -----------------------------------------------------------------


def make(alb: FakeALB, clock: Clock, **overrides: object) -> ALBAuthenticator:
    return ALBAuthenticator(alb.config(**overrides), http_client=alb.http_client(), clock=clock)


def authenticate(auth: ALBAuthenticator, values: dict[str, str]) -> object:
    return anyio.run(auth.authenticate, asgi_headers(values))


def test_a_repeated_request_is_answered_from_the_cache(alb: FakeALB, clock: Clock) -> None:
    auth = make(alb, clock)
    values = alb.headers("alice", scopes=["tasks/read"], groups=["admins"])
    first = authenticate(auth, values)
    second = authenticate(auth, values)
    assert second is first
    assert (auth.results.hits, auth.results.misses) == (1, 1)
    assert len(alb.requests) == 2  # the ALB key and the JWKS, once each


def test_a_cached_user_is_refused_once_the_data_token_expires(alb: FakeALB, clock: Clock) -> None:
    auth = make(alb, clock, leeway=5)
    values = alb.headers()  # both tokens live for 120 s
    authenticate(auth, values)
    clock.advance(125)
    assert authenticate(auth, values) is not None
    clock.advance(0.5)
    with pytest.raises(TokenExpiredError):
        authenticate(auth, values)


def test_the_access_tokens_earlier_exp_bounds_the_entry(alb: FakeALB, clock: Clock) -> None:
    auth = make(alb, clock, leeway=0)
    values = {
        "x-amzn-oidc-data": alb.data_token(),
        "x-amzn-oidc-accesstoken": alb.access_token(exp=START + 10),
    }
    authenticate(auth, values)
    clock.advance(10)
    assert authenticate(auth, values) is not None
    clock.advance(1)
    with pytest.raises(AccessTokenError, match="expired"):
        authenticate(auth, values)


def test_the_configured_ttl_bounds_the_entry(alb: FakeALB, clock: Clock) -> None:
    auth = make(alb, clock, result_cache_ttl=10)
    values = alb.headers()
    authenticate(auth, values)
    clock.advance(11)
    authenticate(auth, values)
    assert (auth.results.hits, auth.results.misses) == (0, 2)


def test_a_one_byte_change_is_verified_not_served(alb: FakeALB, clock: Clock) -> None:
    auth = make(alb, clock)
    values = alb.headers()
    authenticate(auth, values)
    data = values["x-amzn-oidc-data"]
    body = data.rstrip("=")
    flipped = body[:-2] + ("A" if body[-2] != "A" else "B") + data[len(body) - 1 :]
    with pytest.raises(SignatureError):
        authenticate(auth, {**values, "x-amzn-oidc-data": flipped})


def test_the_identity_header_is_checked_on_a_hit(alb: FakeALB, clock: Clock) -> None:
    auth = make(alb, clock)
    values = alb.headers("alice")
    authenticate(auth, values)
    with pytest.raises(IdentityMismatchError):
        authenticate(auth, {**values, "x-amzn-oidc-identity": "mallory"})
    without = {name: value for name, value in values.items() if name != "x-amzn-oidc-identity"}
    assert authenticate(auth, without) is not None


def test_refused_requests_are_not_cached(alb: FakeALB, clock: Clock) -> None:
    auth = make(alb, clock)
    values = {**alb.headers(), "x-amzn-oidc-accesstoken": alb.access_token("someone-else")}
    for _ in range(2):
        with pytest.raises(IdentityMismatchError):
            authenticate(auth, values)
    assert len(auth.results) == 0


def test_the_cache_can_be_turned_off(alb: FakeALB, clock: Clock) -> None:
    auth = make(alb, clock, result_cache_size=0)
    values = alb.headers()
    assert authenticate(auth, values) is not authenticate(auth, values)
    assert len(auth.results) == 0
