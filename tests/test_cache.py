"""The LRU and the verified-result cache, alone and as the authenticator's access-token cache."""

from __future__ import annotations

import base64
import json

import anyio
import pytest

from alb_oidc import (
    AccessTokenError,
    ALBAuthenticator,
    ALBUser,
    IdentityMismatchError,
    SignatureError,
    TokenExpiredError,
)
from alb_oidc.cache import LRUCache, ResultCache
from alb_oidc.testing import FakeALB, b64url

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


def test_a_hit_keeps_an_entry_from_being_the_next_to_go() -> None:
    cache: ResultCache[int, int] = ResultCache(3, ttl=10)
    for index in range(3):
        cache.put(index, index, now=0, valid_until=5)
    assert cache.get(0, 1) == 0  # the oldest, now the most recently used
    cache.put(3, 3, now=1, valid_until=5)
    assert cache.get(1, 1) is None  # the least recently used went instead
    assert [cache.get(index, 1) for index in (0, 2, 3)] == [0, 2, 3]


def test_storing_the_same_key_again_replaces_it_and_makes_it_the_newest() -> None:
    # Two requests may verify the same new access token at once; both store it.
    cache: ResultCache[int, str] = ResultCache(2, ttl=10)
    cache.put(0, "first", now=0, valid_until=5)
    cache.put(1, "other", now=0, valid_until=5)
    cache.put(0, "again", now=1, valid_until=5)
    assert len(cache) == 2
    cache.put(2, "new", now=1, valid_until=5)
    assert cache.get(1, 1) is None  # the least recently stored went
    assert (cache.get(0, 1), cache.get(2, 1)) == ("again", "new")


def test_result_cache_is_bounded() -> None:
    cache: ResultCache[int, int] = ResultCache(100, ttl=10)
    for index in range(1000):
        cache.put(index, index, now=0, valid_until=5)
    assert len(cache) == 100
    assert cache.get(999, 1) == 999
    assert cache.get(0, 1) is None


# --- the access-token cache inside the authenticator -----------------------------------------
#
# Behind a real ALB every request brings a new data token and the session's access token, so
# these tests send what a session sends: a fresh data token per request, the same access token.


def make(alb: FakeALB, clock: Clock, **overrides: object) -> ALBAuthenticator:
    return ALBAuthenticator(alb.config(**overrides), http_client=alb.http_client(), clock=clock)


def authenticate(auth: ALBAuthenticator, values: dict[str, str]) -> ALBUser | None:
    return anyio.run(auth.authenticate, asgi_headers(values))


def request(alb: FakeALB, access: str, sub: str = "alice", **extra: str) -> dict[str, str]:
    """One request of a session: a data token signed now, and the session's access token."""
    return {"x-amzn-oidc-data": alb.data_token(sub), "x-amzn-oidc-accesstoken": access, **extra}


def test_a_sessions_access_token_is_verified_once(alb: FakeALB, clock: Clock) -> None:
    auth = make(alb, clock)
    access = alb.access_token("alice", scopes=["tasks/read"], groups=["admins"])
    users = []
    for _ in range(5):
        users.append(authenticate(auth, request(alb, access, "alice")))
        clock.advance(1)
    assert (auth.access_tokens.hits, auth.access_tokens.misses) == (4, 1)
    assert len(alb.requests) == 2  # the ALB key and the JWKS, once each
    assert all(user is not None and user.scopes == {"tasks/read"} for user in users)
    assert all(user is not None and user.groups == {"admins"} for user in users)
    assert len({id(user) for user in users}) == 5  # each request its own user
    assert users[0] is not None
    assert users[1] is not None
    assert users[0].access_claims is users[1].access_claims  # one frozen copy per session


def test_every_request_still_verifies_its_data_token(alb: FakeALB, clock: Clock) -> None:
    auth = make(alb, clock)
    access = alb.access_token("alice")
    authenticate(auth, request(alb, access))
    data = alb.data_token("alice")
    body = data.rstrip("=")
    flipped = body[:-2] + ("A" if body[-2] != "A" else "B") + data[len(body) - 1 :]
    with pytest.raises(SignatureError):
        authenticate(auth, {"x-amzn-oidc-data": flipped, "x-amzn-oidc-accesstoken": access})
    clock.advance(alb.token_lifetime + 31)
    with pytest.raises(TokenExpiredError):
        authenticate(auth, {"x-amzn-oidc-data": data, "x-amzn-oidc-accesstoken": access})


def test_a_cached_access_token_is_bound_to_each_requests_sub(alb: FakeALB, clock: Clock) -> None:
    auth = make(alb, clock)
    access = alb.access_token("alice", scopes=["tasks/write"])
    assert authenticate(auth, request(alb, access, "alice")) is not None
    # Mallory has her own valid login (data token) and replays Alice's cached access token.
    with pytest.raises(IdentityMismatchError, match="access token `sub`"):
        authenticate(auth, request(alb, access, "mallory"))
    assert (auth.access_tokens.hits, auth.access_tokens.misses) == (1, 1)


def test_an_entry_expires_with_the_access_tokens_own_exp(alb: FakeALB, clock: Clock) -> None:
    auth = make(alb, clock, leeway=5)
    access = alb.access_token("alice", exp=START + 100)
    authenticate(auth, request(alb, access))
    clock.advance(105)
    assert authenticate(auth, request(alb, access)) is not None
    assert auth.access_tokens.hits == 1
    clock.advance(0.5)
    with pytest.raises(AccessTokenError, match="expired"):
        authenticate(auth, request(alb, access))


def test_the_configured_ttl_bounds_an_entry(alb: FakeALB, clock: Clock) -> None:
    auth = make(alb, clock, access_token_cache_ttl=10)
    access = alb.access_token("alice", exp=START + 3600)
    authenticate(auth, request(alb, access))
    clock.advance(11)
    authenticate(auth, request(alb, access))
    assert (auth.access_tokens.hits, auth.access_tokens.misses) == (0, 2)


def test_a_one_byte_change_to_the_access_token_is_verified_and_refused(
    alb: FakeALB, clock: Clock
) -> None:
    auth = make(alb, clock)
    access = alb.access_token("alice", scopes=["openid"])
    authenticate(auth, request(alb, access))
    head, payload, signature = access.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    forged_payload = b64url(json.dumps({**claims, "scope": "admin"}).encode(), padded=False)
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    for forged in (f"{head}.{forged_payload}.{signature}", f"{head}.{payload}.{flipped}"):
        with pytest.raises(AccessTokenError):
            authenticate(auth, request(alb, forged))
    assert len(auth.access_tokens) == 1  # only the genuine token


def test_refused_access_tokens_are_not_cached(alb: FakeALB, clock: Clock) -> None:
    auth = make(alb, clock)
    someone_elses = alb.access_token("someone-else")
    for _ in range(2):
        with pytest.raises(IdentityMismatchError):
            authenticate(auth, request(alb, someone_elses, "alice"))
    expired = alb.access_token("alice", exp=START - 100)
    with pytest.raises(AccessTokenError):
        authenticate(auth, request(alb, expired, "alice"))
    assert len(auth.access_tokens) == 0
    assert auth.access_tokens.misses == 3


def test_the_identity_header_is_checked_on_every_request(alb: FakeALB, clock: Clock) -> None:
    auth = make(alb, clock)
    access = alb.access_token("alice")
    authenticate(auth, request(alb, access, **{"x-amzn-oidc-identity": "alice"}))
    with pytest.raises(IdentityMismatchError):
        authenticate(auth, request(alb, access, **{"x-amzn-oidc-identity": "mallory"}))
    assert authenticate(auth, request(alb, access)) is not None


def test_the_cache_can_be_turned_off(alb: FakeALB, clock: Clock) -> None:
    auth = make(alb, clock, access_token_cache_size=0)
    access = alb.access_token("alice")
    authenticate(auth, request(alb, access))
    authenticate(auth, request(alb, access))
    assert len(auth.access_tokens) == 0
    assert auth.access_tokens.hits == 0


def test_the_cache_is_bounded(alb: FakeALB, clock: Clock) -> None:
    auth = make(alb, clock, access_token_cache_size=3)
    for index in range(10):
        authenticate(auth, request(alb, alb.access_token(f"user-{index}"), f"user-{index}"))
    assert len(auth.access_tokens) == 3
