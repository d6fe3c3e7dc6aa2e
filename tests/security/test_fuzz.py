"""Property-based fuzzing: whatever the three headers hold, the only outcomes are a verified
user (for bytes the ALB really signed) or one of our auth errors. Never another exception."""

from __future__ import annotations

import base64
import json
import os

import anyio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alb_oidc import ALBAuthenticator, ALBUser, AuthError
from alb_oidc.testing import FakeALB

from ..conftest import Clock

EXAMPLES = int(os.environ.get("ALB_OIDC_FUZZ_EXAMPLES", "300"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

CLOCK = Clock()
ALB = FakeALB(clock=CLOCK)
VALID = {name.encode(): value.encode() for name, value in ALB.headers("fuzz").items()}
SEGMENTS = VALID[b"x-amzn-oidc-data"].split(b".")
ACCESS_SEGMENTS = VALID[b"x-amzn-oidc-accesstoken"].split(b".")
NAMES = [b"x-amzn-oidc-data", b"x-amzn-oidc-accesstoken", b"x-amzn-oidc-identity"]


def outcome(headers: list[tuple[bytes, bytes]], **config: object) -> ALBUser | None:
    """Authenticate once with a fresh authenticator; AuthError is an allowed outcome."""
    authenticator = ALBAuthenticator(
        ALB.config(**config), http_client=ALB.http_client(), clock=CLOCK
    )
    try:
        return anyio.run(authenticator.authenticate, headers)
    except AuthError:
        return None


def b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data)


base64ish = st.text(
    alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=+/. ", max_size=120
).map(str.encode)
json_bytes = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=10,
).map(lambda value: json.dumps(value).encode())  # NaN and Infinity too: not strict JSON
segment = st.one_of(
    st.sampled_from(SEGMENTS),
    st.sampled_from(ACCESS_SEGMENTS),
    base64ish,
    st.binary(max_size=100).map(b64),
    json_bytes.map(b64),
    json_bytes.map(lambda data: b64(data).rstrip(b"=")),  # as standard JWTs are encoded
    st.binary(max_size=40),
)
token = st.lists(segment, min_size=0, max_size=5).map(b".".join)


@FUZZ
@given(
    st.lists(
        st.tuples(
            st.sampled_from([*NAMES, b"X-Amzn-Oidc-Data", b"host", b"x-amzn-oidc-dat"]),
            st.one_of(token, st.binary(max_size=200), st.sampled_from(list(VALID.values()))),
        ),
        max_size=5,
    )
)
def test_any_headers_give_a_user_or_an_auth_error(headers: list[tuple[bytes, bytes]]) -> None:
    user = outcome(headers)
    if user is not None:
        # Only the bytes the fake ALB signed can be accepted.
        data = [value for name, value in headers if name.lower() == NAMES[0]]
        assert data == [VALID[NAMES[0]]]
        assert user.sub == "fuzz"


@FUZZ
@given(st.integers(0, 2), st.integers(0, 10_000), st.binary(min_size=1, max_size=3))
def test_any_splice_into_a_valid_token_is_refused_or_identical(
    which: int, position: int, inserted: bytes
) -> None:
    name = NAMES[which]
    value = VALID[name]
    position %= len(value) + 1
    changed = value[:position] + inserted + value[position:]
    user = outcome([(n, changed if n == name else v) for n, v in VALID.items()])
    assert user is None or changed == value


@FUZZ
@given(st.lists(segment, min_size=3, max_size=3))
def test_any_data_token_from_segments_is_refused(parts: list[bytes]) -> None:
    data = b".".join(parts)
    user = outcome([(NAMES[0], data)])
    assert user is None or data == VALID[NAMES[0]]


@FUZZ
@given(token)
def test_any_access_token_decoded_without_verification_gives_a_user_or_an_auth_error(
    access: bytes,
) -> None:
    """The insecure opt-in reads whatever the access header holds: never another exception."""
    headers = [(NAMES[0], VALID[NAMES[0]]), (NAMES[1], access)]
    user = outcome(headers, cognito=False, insecure_decode_unverified_access_token=True)
    if user is not None:
        assert user.sub == "fuzz"
        assert not user.access_token_verified
