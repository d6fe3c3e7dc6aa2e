from __future__ import annotations

import pytest

from alb_oidc.dev.sessions import (
    MAX_SHARDS,
    SHARD_SIZE,
    CookieTooLargeError,
    SealedCookie,
    cookie_header,
    expire_header,
)

from .conftest import START, Clock


def test_a_sealed_value_opens_again(clock: Clock) -> None:
    cookies = SealedCookie(clock=clock)
    shards = cookies.seal("S", {"user": "alice", "exp": START + 60})
    assert [name for name, _ in shards] == ["S-0"]
    assert cookies.open("S", dict(shards)) == {"user": "alice", "exp": START + 60}


def test_a_large_value_is_sharded_and_reassembled(clock: Clock) -> None:
    cookies = SealedCookie(clock=clock)
    value = {"blob": "x" * (2 * SHARD_SIZE), "exp": START + 60}
    shards = cookies.seal("S", value)
    assert [name for name, _ in shards] == ["S-0", "S-1", "S-2"]
    assert all(len(shard) <= SHARD_SIZE for _, shard in shards)
    assert cookies.open("S", dict(shards)) == value


def test_more_than_four_shards_is_refused(clock: Clock) -> None:
    with pytest.raises(CookieTooLargeError, match="at most 4"):
        SealedCookie(clock=clock).seal("S", {"blob": "x" * (MAX_SHARDS * SHARD_SIZE), "exp": 1})


@pytest.mark.parametrize("index", [0, 1])
def test_any_changed_character_in_any_shard_fails(clock: Clock, index: int) -> None:
    cookies = SealedCookie(clock=clock)
    shards = dict(cookies.seal("S", {"blob": "y" * SHARD_SIZE, "exp": START + 60}))
    name = f"S-{index}"
    for position in (0, len(shards[name]) // 2, len(shards[name]) - 1):
        text = shards[name]
        flipped = "A" if text[position] != "A" else "B"
        altered = {**shards, name: text[:position] + flipped + text[position + 1 :]}
        assert cookies.open("S", altered) is None


def test_missing_shard_wrong_name_other_key_and_garbage_fail(clock: Clock) -> None:
    cookies = SealedCookie(clock=clock)
    shards = dict(cookies.seal("S", {"blob": "y" * SHARD_SIZE, "exp": START + 60}))
    assert cookies.open("S", {"S-0": shards["S-0"]}) is None
    assert cookies.open("T", {"T-0": shards["S-0"], "T-1": shards["S-1"]}) is None
    assert SealedCookie(clock=clock).open("S", shards) is None
    assert cookies.open("S", {"S-0": "not base64 !!"}) is None
    assert cookies.open("S", {}) is None


def test_expired_values_do_not_open(clock: Clock) -> None:
    cookies = SealedCookie(clock=clock)
    shards = dict(cookies.seal("S", {"exp": START + 60}))
    clock.advance(60)
    assert cookies.open("S", shards) is None


def test_values_without_a_numeric_exp_do_not_open(clock: Clock) -> None:
    cookies = SealedCookie(clock=clock)
    assert cookies.open("S", dict(cookies.seal("S", {"exp": "never"}))) is None
    assert cookies.open("S", dict(cookies.seal("S", {}))) is None


def test_the_key_must_be_32_bytes() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        SealedCookie(b"short")


def test_cookie_headers() -> None:
    assert cookie_header("S-0", "v", max_age=60, secure=False) == (
        b"set-cookie",
        b"S-0=v; Max-Age=60; Path=/; HttpOnly; SameSite=Lax",
    )
    assert expire_header("S-1", secure=True)[1].endswith(
        b"Max-Age=0; Path=/; HttpOnly; SameSite=Lax; Secure"
    )
