"""Data-token headers the authenticator has verified before, remembered by their exact bytes.

The ALB's header (`typ`, `kid`, `alg`, `iss`, `client`, `signer`, `exp`) is the same for every
token it signs in the same second, so a token whose header bytes were verified before skips only
the checks that read nothing but the header. Everything that reads the payload, the signature or
the clock is checked on every token, and only verified tokens teach the table anything.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import anyio
import anyio.lowlevel
import httpx2
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from alb_oidc import (
    ALBAuthenticator,
    ClaimError,
    HeaderError,
    MalformedTokenError,
    SignatureError,
    TokenExpiredError,
    UntrustedSignerError,
)
from alb_oidc.authenticator import DATA_HEADERS_HELD
from alb_oidc.testing import FakeALB
from alb_oidc.tokens import (
    check_payload_claims,
    data_token_of,
    parse_data_header,
    parse_data_token,
    split_data_token,
)

from .conftest import Clock


def authenticator(alb: FakeALB, clock: Clock) -> ALBAuthenticator:
    return ALBAuthenticator(alb.config(cognito=False), http_client=alb.http_client(), clock=clock)


def verify(auth: ALBAuthenticator, token: str) -> dict[str, Any]:
    return anyio.run(auth.verify_data_token, token)


def header_of(token: str) -> bytes:
    return token.split(".", maxsplit=1)[0].encode()


def with_payload(token: str, **changes: Any) -> str:
    """`token` with its payload changed (padded like the ALB's) and its signature kept."""
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload))
    claims.update(changes)
    for name in [name for name, value in changes.items() if value is None]:
        del claims[name]
    encoded = base64.urlsafe_b64encode(json.dumps(claims, separators=(",", ":")).encode())
    return f"{header}.{encoded.decode()}.{signature}"


def test_tokens_signed_in_one_second_share_their_header_and_one_entry(
    alb: FakeALB, clock: Clock
) -> None:
    auth = authenticator(alb, clock)
    alice, bob = alb.data_token("alice"), alb.data_token("bob")
    assert header_of(alice) == header_of(bob)
    assert verify(auth, alice)["sub"] == "alice"
    assert verify(auth, bob)["sub"] == "bob"
    assert list(auth._data_headers) == [header_of(alice)]
    clock.advance(1)  # the next second: a new `exp`, a new header
    assert verify(auth, alb.data_token("alice"))["sub"] == "alice"
    assert len(auth._data_headers) == 2


def test_a_known_header_does_not_spare_the_signature(alb: FakeALB, clock: Clock) -> None:
    auth = authenticator(alb, clock)
    verify(auth, alb.data_token("victim"))
    forged = alb.data_token("mallory", key=ec.generate_private_key(ec.SECP256R1()))
    assert header_of(forged) in auth._data_headers
    with pytest.raises(SignatureError):
        verify(auth, forged)


def test_a_known_header_with_a_tampered_payload_is_refused(alb: FakeALB, clock: Clock) -> None:
    auth = authenticator(alb, clock)
    token = alb.data_token("victim")
    verify(auth, token)
    with pytest.raises(SignatureError):
        verify(auth, with_payload(token, sub="mallory"))
    with pytest.raises(SignatureError):
        verify(auth, with_payload(token, email="mallory@example.com"))


def test_a_known_header_is_checked_against_the_clock(alb: FakeALB, clock: Clock) -> None:
    auth = authenticator(alb, clock)
    first, later = alb.data_token("alice"), alb.data_token("bob")
    verify(auth, first)
    clock.advance(alb.token_lifetime + auth.config.leeway + 1)
    assert header_of(later) in auth._data_headers
    with pytest.raises(TokenExpiredError):
        verify(auth, later)


@pytest.mark.parametrize(
    ("changes", "error", "message"),
    [
        ({"exp": 1}, MalformedTokenError, "disagree"),
        ({"exp": None}, MalformedTokenError, "exp"),
        ({"iss": "https://evil.example.com"}, ClaimError, "iss"),
        ({"sub": None}, MalformedTokenError, "sub"),
        ({"sub": ""}, MalformedTokenError, "sub"),
    ],
)
def test_a_known_header_still_needs_a_sound_payload(
    alb: FakeALB, clock: Clock, changes: dict[str, Any], error: type[Exception], message: str
) -> None:
    """Payload faults are found before the signature (which would refuse them too)."""
    auth = authenticator(alb, clock)
    token = alb.data_token("victim")
    verify(auth, token)
    with pytest.raises(error, match=message):
        verify(auth, with_payload(token, **changes))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda token: token.replace(".", ".,", 1), "several values"),
        (lambda token: token[:-3] + "\x01==", "control"),
        (lambda token: token[:-4] + "+A==", "base64url"),
        (lambda token: token + ".x", "three"),
    ],
)
def test_a_known_header_with_garbled_bytes_after_it_is_refused(
    alb: FakeALB, clock: Clock, change: Any, message: str
) -> None:
    auth = authenticator(alb, clock)
    token = alb.data_token("victim")
    verify(auth, token)
    headers = [(b"x-amzn-oidc-data", change(token).encode())]
    with pytest.raises((HeaderError, MalformedTokenError), match=message):
        anyio.run(auth.authenticate, headers)


def test_only_verified_tokens_are_remembered(alb: FakeALB, clock: Clock) -> None:
    auth = authenticator(alb, clock)
    forged = alb.data_token("mallory", key=ec.generate_private_key(ec.SECP256R1()))
    with pytest.raises(SignatureError):
        verify(auth, forged)
    other_alb = alb.data_token(header={"signer": alb.alb_arn + "-other"})
    with pytest.raises(UntrustedSignerError):
        verify(auth, other_alb)
    assert auth._data_headers == {}
    assert verify(auth, alb.data_token("alice"))["sub"] == "alice"
    assert len(auth._data_headers) == 1


def test_a_header_differing_in_one_field_is_checked_in_full(alb: FakeALB, clock: Clock) -> None:
    """Another ALB's token (same key, same second) has other header bytes: its `signer` is
    checked, however many of ours were verified."""
    auth = authenticator(alb, clock)
    verify(auth, alb.data_token("victim"))
    theirs = alb.data_token("mallory", header={"signer": alb.alb_arn.replace("test", "evil")})
    with pytest.raises(UntrustedSignerError):
        verify(auth, theirs)
    config = alb.config(cognito=False, client_ids=["another-client"])
    strict = ALBAuthenticator(config, http_client=alb.http_client(), clock=clock)
    with pytest.raises(ClaimError, match="client"):
        verify(strict, alb.data_token("victim"))  # one table per authenticator (per config)


def test_the_table_is_bounded_and_forgets_the_oldest(alb: FakeALB, clock: Clock) -> None:
    auth = authenticator(alb, clock)
    first = alb.data_token("alice")
    for _ in range(DATA_HEADERS_HELD + 10):
        verify(auth, alb.data_token("alice"))
        clock.advance(1)
    assert len(auth._data_headers) == DATA_HEADERS_HELD
    assert header_of(first) not in auth._data_headers
    clock.advance(-(DATA_HEADERS_HELD + 10))  # back to when `first` was signed
    assert verify(auth, first)["sub"] == "alice"  # verified in full, remembered again
    assert header_of(first) in auth._data_headers


def test_authenticate_and_verify_data_token_share_the_table(alb: FakeALB, clock: Clock) -> None:
    auth = authenticator(alb, clock)
    user = anyio.run(auth.require, [(b"x-amzn-oidc-data", alb.data_token("alice").encode())])
    assert user.sub == "alice"
    assert len(auth._data_headers) == 1
    assert verify(auth, alb.data_token("bob"))["sub"] == "bob"
    assert len(auth._data_headers) == 1


def test_parsing_with_a_decoded_header_gives_the_same_token(alb: FakeALB) -> None:
    token = alb.data_token("alice")
    parts = split_data_token(token)
    header = parse_data_header(parts[1])
    assert data_token_of(parts, header) == parse_data_token(token)
    assert (header.kid, header.signer, header.exp) == (alb.kid, alb.alb_arn, alb.clock() + 120)


def test_check_payload_claims_reads_the_payload_and_the_clock(alb: FakeALB) -> None:
    token = parse_data_token(alb.data_token())
    check_payload_claims(token, leeway=0, now=token.exp)
    with pytest.raises(TokenExpiredError):
        check_payload_claims(token, leeway=5, now=token.exp + 6)
    other = parse_data_token(with_payload(alb.data_token(), iss="https://other.example.com"))
    with pytest.raises(ClaimError, match="disagree"):
        check_payload_claims(other, leeway=0, now=0)


@pytest.mark.parametrize(
    ("header_exp", "payload_exp"),
    [("string", "int"), ("int", "float"), ("float", "string")],
)
def test_a_known_header_reads_every_form_of_exp(
    alb: FakeALB, clock: Clock, header_exp: str, payload_exp: str
) -> None:
    """The ALB guide shows `exp` as a string of digits; tokens with the same header bytes agree
    with it through the fast path exactly as through the full one."""
    auth = authenticator(alb, clock)
    exp = int(clock() + 120)
    forms = {"string": str(exp), "int": exp, "float": float(exp)}
    first, second = (
        alb.data_token(sub, header={"exp": forms[header_exp]}, claims={"exp": forms[payload_exp]})
        for sub in ("alice", "bob")
    )
    assert verify(auth, first)["sub"] == "alice"
    assert header_of(second) in auth._data_headers
    assert verify(auth, second)["sub"] == "bob"
    with pytest.raises(MalformedTokenError, match="disagree"):
        verify(auth, with_payload(second, exp=exp + 1))


def test_verify_data_token_takes_any_bytes_and_holds_the_header_rules(
    alb: FakeALB, clock: Clock
) -> None:
    auth = authenticator(alb, clock)
    token = alb.data_token("alice")
    for value in (token, token.encode(), bytearray(token.encode()), memoryview(token.encode())):
        assert anyio.run(auth.verify_data_token, value)["sub"] == "alice"
    with pytest.raises(HeaderError, match="several values"):
        verify(auth, token.replace(".", ".,", 1))
    with pytest.raises(HeaderError, match="too large"):
        verify(auth, alb.data_token("alice", claims={"bio": "x" * 20_000}))
    with pytest.raises(MalformedTokenError, match="ASCII"):
        verify(auth, "é" + token)


class Gate(httpx2.AsyncBaseTransport):
    """Holds every key fetch until `opened` is set."""

    def __init__(self, inner: httpx2.AsyncBaseTransport) -> None:
        self.inner = inner
        self.opened = anyio.Event()
        self.arrived = anyio.Event()
        self.waiting = 0

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        self.waiting += 1
        self.arrived.set()
        await self.opened.wait()
        return await self.inner.handle_async_request(request)


def gated(alb: FakeALB, clock: Clock) -> tuple[ALBAuthenticator, Gate]:
    gate = Gate(alb.transport())
    client = httpx2.AsyncClient(transport=gate)
    return ALBAuthenticator(alb.config(cognito=False), http_client=client, clock=clock), gate


def test_a_forgery_waiting_on_the_same_key_fetch_is_refused(alb: FakeALB, clock: Clock) -> None:
    """A forged token with a genuine header arrives while the genuine token's key is being
    fetched: the table is empty then, so it takes the full path and waits on the same fetch."""
    auth, gate = gated(alb, clock)
    genuine = alb.data_token("alice")
    forged = alb.data_token("mallory", key=ec.generate_private_key(ec.SECP256R1()))
    assert header_of(forged) == header_of(genuine)
    outcomes: dict[str, object] = {}

    async def attempt(name: str, token: str) -> None:
        try:
            outcomes[name] = (await auth.verify_data_token(token))["sub"]
        except SignatureError as exc:
            outcomes[name] = exc

    async def scenario() -> None:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(attempt, "genuine", genuine)
            tasks.start_soon(attempt, "forged", forged)
            await gate.arrived.wait()
            for _ in range(10):  # the forgery reaches the flight too
                await anyio.lowlevel.checkpoint()
            assert outcomes == {}  # both are waiting for the one key fetch
            gate.opened.set()

    anyio.run(scenario)
    assert outcomes["genuine"] == "alice"
    assert isinstance(outcomes["forged"], SignatureError)
    assert gate.waiting == 1  # one fetch for both
    assert list(auth._data_headers) == [header_of(genuine)]
    with pytest.raises(SignatureError):
        verify(auth, forged)  # and through the table
