from __future__ import annotations

import json
import logging
from collections.abc import Coroutine
from types import CoroutineType, MappingProxyType
from typing import Any

import anyio
import pytest
from starlette.responses import JSONResponse
from starlette.types import Receive, Scope, Send

from alb_oidc import (
    AccessTokenError,
    ALBAuthenticator,
    ALBAuthMiddleware,
    ALBUser,
    AuthError,
    HeaderError,
    MissingTokenError,
)
from alb_oidc.authenticator import (
    MAX_HEADER_BYTES,
    NO_CLIENT_PINNED,
    check_header_values,
    extract_auth_headers,
)
from alb_oidc.testing import FakeALB, FakeIdP
from alb_oidc.tokens import parse_data_token

from .conftest import Clock, asgi_get, asgi_headers

DATA, ACCESS, IDENTITY = b"x-amzn-oidc-data", b"x-amzn-oidc-accesstoken", b"x-amzn-oidc-identity"


def test_extracts_the_three_headers_and_ignores_others() -> None:
    headers = [(b"host", b"x"), (DATA, b"d"), (ACCESS, b"a"), (IDENTITY, b"i"), (b"cookie", b"c,d")]
    assert extract_auth_headers(headers) == (b"d", b"a", b"i")
    assert extract_auth_headers([(b"host", b"x")]) == (None, None, None)


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ([(DATA, b"a"), (DATA, b"a")], "duplicated"),
        ([(IDENTITY, b"a"), (IDENTITY, b"b")], "duplicated"),
        ([(b"X-Amzn-Oidc-Data", b"a"), (DATA, b"a")], "duplicated"),
    ],
)
def test_duplicated_headers_are_refused(headers: list[tuple[bytes, bytes]], message: str) -> None:
    with pytest.raises(HeaderError, match=message):
        extract_auth_headers(headers)


@pytest.mark.parametrize(
    ("value", "message"),
    [(b"a,b", "several values"), (b"x" * (MAX_HEADER_BYTES + 1), "too large")],
)
def test_comma_joined_and_oversized_values_are_refused(value: bytes, message: str) -> None:
    with pytest.raises(HeaderError, match=message):
        check_header_values(None, value)


def test_header_names_are_matched_in_any_case() -> None:
    headers = [(b"X-Amzn-Oidc-Data", b"d"), (b"X-AMZN-OIDC-IDENTITY", b"i"), (b"X-Other", b"o")]
    assert extract_auth_headers(headers) == (b"d", None, b"i")


@pytest.mark.parametrize("value", [b"user\x00", b"user\r\nx-evil: 1", b"\x7f", b"a\tb", b"\x1f"])
def test_control_characters_are_refused(value: bytes) -> None:
    with pytest.raises(HeaderError, match="control"):
        check_header_values(b"fine", None, value)


def test_printable_ascii_and_utf8_pass_the_value_checks() -> None:
    printable = bytes(range(0x20, 0x7F)).replace(b",", b"")
    check_header_values(printable, "zoë".encode(), bytes(range(0x80, 0x100)))


@pytest.mark.parametrize("name", [DATA, ACCESS, IDENTITY])
@pytest.mark.parametrize(("insert", "message"), [(b"\x01", "control"), (b",", "several")])
def test_authenticate_checks_each_header_value(
    alb: FakeALB, clock: Clock, name: bytes, insert: bytes, message: str
) -> None:
    headers = dict(asgi_headers(alb.headers()))
    headers[name] = headers[name][:4] + insert + headers[name][4:]
    with pytest.raises(HeaderError, match=message):
        anyio.run(authenticator(alb, clock).authenticate, list(headers.items()))


def test_a_header_of_exactly_the_limit_is_allowed() -> None:
    check_header_values(b"x" * MAX_HEADER_BYTES)


def authenticator(alb: FakeALB, clock: Clock) -> ALBAuthenticator:
    return ALBAuthenticator(alb.config(), http_client=alb.http_client(), clock=clock)


def test_no_auth_headers_is_none_and_require_raises(alb: FakeALB, clock: Clock) -> None:
    auth = authenticator(alb, clock)
    assert anyio.run(auth.authenticate, []) is None
    with pytest.raises(MissingTokenError):
        anyio.run(auth.require, [])


def test_identity_is_compared_as_utf8(alb: FakeALB, clock: Clock) -> None:
    auth = authenticator(alb, clock)
    user = anyio.run(auth.require, asgi_headers(alb.headers("zoë")))
    assert user.sub == "zoë"


@pytest.mark.parametrize(
    ("extra", "flat"),
    [
        ({"name": "Zoë", "age": 7, "ok": True, "ratio": 0.5}, True),
        ({"roles": ["reader"], "address": {"country": "NL", "lines": ["a"]}}, False),
        # Flat, but a brace or bracket in a string is enough for the bytes to say "not sure".
        ({"note": "{not an object} [nor an array]"}, False),
    ],
)
def test_the_users_claims_are_read_only_however_the_payload_looks(
    alb: FakeALB, clock: Clock, extra: dict[str, object], flat: bool
) -> None:
    auth = authenticator(alb, clock)
    headers = alb.headers("alice", claims=extra)
    assert parse_data_token(headers["x-amzn-oidc-data"]).flat_claims is flat
    user = anyio.run(auth.require, asgi_headers(headers))
    assert user.claims == _frozen(dict(parse_data_token(headers["x-amzn-oidc-data"]).claims))
    with pytest.raises(TypeError):
        user.claims["sub"] = "mallory"  # type: ignore[index]
    for value in user.claims.values():
        assert type(value) in (str, int, float, bool, type(None), tuple, MappingProxyType)
        if isinstance(value, tuple | MappingProxyType):
            with pytest.raises((AttributeError, TypeError)):
                value.append("x") if isinstance(value, tuple) else value.update(x=1)  # type: ignore[attr-defined]


def _frozen(value: object) -> object:
    """`value` as the user holds it: arrays as tuples (read-only mappings equal their dicts)."""
    if isinstance(value, list):
        return tuple(_frozen(item) for item in value)
    if isinstance(value, dict):
        return {name: _frozen(item) for name, item in value.items()}
    return value


def test_verify_data_token_returns_claims(alb: FakeALB, clock: Clock) -> None:
    auth = authenticator(alb, clock)
    claims = anyio.run(auth.verify_data_token, alb.data_token("alice"))
    assert claims["sub"] == "alice"


def test_config_must_be_an_alb_config() -> None:
    with pytest.raises(TypeError, match="ALBConfig"):
        ALBAuthenticator({"alb_arns": []})  # type: ignore[arg-type]


def test_non_ascii_access_token_is_refused_not_crashed(alb: FakeALB, clock: Clock) -> None:
    auth = authenticator(alb, clock)
    headers = asgi_headers(alb.headers())
    headers = [(n, "tökén".encode() if n == ACCESS else v) for n, v in headers]
    with pytest.raises(AccessTokenError, match="ASCII"):
        anyio.run(auth.authenticate, headers)


@pytest.mark.parametrize(
    ("value", "code"),
    [
        (b"opaque-token, another-token", "bad_header"),
        (b"opaque\x01token", "bad_header"),
        (b"x" * (MAX_HEADER_BYTES + 1), "bad_header"),
    ],
)
def test_without_cognito_the_access_header_is_still_checked(
    alb: FakeALB, clock: Clock, value: bytes, code: str
) -> None:
    """The access token is ignored without `cognito`, but a duplicated, garbled or oversized
    header is still refused (trust rule 4)."""
    authenticator = ALBAuthenticator(
        alb.config(cognito=False), http_client=alb.http_client(), clock=clock
    )
    headers = [
        (b"x-amzn-oidc-data", alb.data_token().encode()),
        (b"x-amzn-oidc-accesstoken", value),
    ]
    with pytest.raises(AuthError) as caught:
        anyio.run(authenticator.authenticate, headers)
    assert caught.value.code == code


def test_most_requests_are_answered_without_a_coroutine(alb: FakeALB, clock: Clock) -> None:
    auth = authenticator(alb, clock)

    def outcome(sub: str, access: str) -> object:
        headers = {"x-amzn-oidc-data": alb.data_token(sub), "x-amzn-oidc-accesstoken": access}
        return auth._authenticate(asgi_headers(headers))

    async def finish(pending: Coroutine[Any, Any, ALBUser]) -> ALBUser:
        return await pending

    alice, bob = alb.access_token("alice"), alb.access_token("bob")
    first = outcome("alice", alice)  # a header never seen, an access token never seen
    assert isinstance(first, CoroutineType)
    assert anyio.run(finish, first).sub == "alice"
    again = outcome("alice", alice)  # a new data token, its header and the access token known
    assert isinstance(again, ALBUser)
    assert again.sub == "alice"
    # The same second's header, another session's first request: its access token is verified
    # in full at once, with the JWKS key already held.
    other = outcome("bob", bob)
    assert isinstance(other, ALBUser)
    assert other.sub == "bob"
    assert auth._access is not None
    assert auth._access.cache.get(bob.encode(), clock()) is not None
    clock.advance(1)  # the next second: a new header to verify in full, once
    later = outcome("bob", bob)
    assert isinstance(later, CoroutineType)
    assert anyio.run(finish, later).sub == "bob"
    assert isinstance(outcome("alice", alice), ALBUser)
    # The IdP rotates its key: a session's first request whose access token names a `kid` the
    # held JWKS lacks waits for one fetch of it (the refresh cooldown over), then verifies the
    # token, though its data header is one verified before.
    known_header = alb.data_token("carol")  # this second's header, verified above
    clock.advance(31)
    alb.pool_kid = "rotated-pool-key"
    carol = alb.access_token("carol")
    fetches = auth._access.jwks.fetch_count
    headers = {"x-amzn-oidc-data": known_header, "x-amzn-oidc-accesstoken": carol}
    waits = auth._authenticate(asgi_headers(headers))
    assert isinstance(waits, CoroutineType)
    assert waits.__qualname__.endswith("._user_once_fetched")  # not a new header's coroutine
    assert anyio.run(finish, waits).sub == "carol"
    assert auth._access.jwks.fetch_count == fetches + 1
    assert auth._access.cache.get(carol.encode(), clock()) is not None


def test_the_middleware_and_authenticate_give_the_same_answers(alb: FakeALB, clock: Clock) -> None:
    """Every path (header new or known, access token new, cached or bad, bearer) through both
    entry points: the same users, the same refusals."""

    async def show(scope: Scope, receive: Receive, send: Send) -> None:
        user = scope["user"]
        body = [user.sub, list(scope["auth"].scopes), dict(user.claims)]
        await JSONResponse(body)(scope, receive, send)

    idp = FakeIdP(issuer="https://idp.example.com", clock=clock)
    config = alb.config(bearer=idp.config())
    auth = ALBAuthenticator(config, http_client=alb.http_client(idp), clock=clock)
    app = ALBAuthMiddleware(show, config, http_client=alb.http_client(idp), clock=clock)
    alice, bob = alb.access_token("alice", scopes=["b", "a"]), alb.access_token("bob")
    requests: list[dict[str, str]] = []
    for _ in range(2):  # each second: a new header, then a known one
        for sub, access in (("alice", alice), ("bob", bob), ("alice", alice), ("bob", alice)):
            requests.append(
                {"x-amzn-oidc-data": alb.data_token(sub), "x-amzn-oidc-accesstoken": access}
            )
        requests.append({"authorization": f"Bearer {idp.bearer_token('machine')}"})
        clock.advance(1)
    clock.advance(-2)
    outcomes: list[object] = []
    for values in requests:
        headers = asgi_headers(values)
        try:
            user = anyio.run(auth.authenticate, headers)
            expected: object = [user.sub, ["authenticated", *user.sorted_scopes], dict(user.claims)]
        except AuthError as exc:
            expected = exc.code
        status, body = anyio.run(asgi_get, app, "/", headers)
        got = json.loads(body)
        assert (got if status == 200 else got["error"]) == expected
        outcomes.append(expected if isinstance(expected, str) else expected[0])  # type: ignore[index]
        clock.advance(0.5)
    # Bob with Alice's access token is refused; everything else gets its user.
    assert outcomes == ["alice", "bob", "alice", "identity_mismatch", "machine"] * 2


def test_an_app_that_pins_no_client_is_warned_that_every_rule_of_the_alb_logs_in(
    alb: FakeALB, caplog: pytest.LogCaptureFixture
) -> None:
    # One ALB's listener rules (another host, another IdP or app client) share its `signer`:
    # without client_ids and without a verified access token, their logins are all accepted.
    other_rule = alb.data_token("mallory", header={"client": "another-rules-client"})
    for config, warned in (
        (alb.config(client_ids=[], cognito=False), True),
        (alb.config(cognito=False), False),  # FakeALB pins its client
        (alb.config(client_ids=[]), False),  # the Cognito access token's client is checked
    ):
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="alb_oidc"):
            authenticator = ALBAuthenticator(config, http_client=alb.http_client())
        assert (NO_CLIENT_PINNED in caplog.text) is warned
        if warned:  # what the warning is about: another rule's login is let in
            claims = anyio.run(authenticator.verify_data_token, other_rule)
            assert claims["sub"] == "mallory"
