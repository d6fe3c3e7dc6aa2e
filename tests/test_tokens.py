from __future__ import annotations

import base64
import binascii
import json

import hypothesis
import jwt
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from hypothesis import strategies as st

from alb_oidc import (
    AccessTokenError,
    ClaimError,
    IdentityMismatchError,
    MalformedTokenError,
    SignatureError,
    TokenExpiredError,
    UntrustedSignerError,
    tokens,
)
from alb_oidc.config import DEV_SIGNER_ARN
from alb_oidc.testing import FakeALB, b64url, sign_es256
from alb_oidc.tokens import (
    JWT_HEADER_KEPT_BYTES,
    JWT_HEADERS_HELD,
    AccessPolicy,
    _der_signature,
    _segment,
    access_token_kid,
    check_data_token,
    check_jwt_claims,
    decode_access_token_unverified,
    parse_data_token,
    parse_jwt,
    split_data_token,
    verify_access_token,
    verify_data_signature,
)

from .conftest import START, Clock

P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def verify(alb: FakeALB, token: str | bytes, *, now: float = START, **overrides: object) -> dict:
    parsed = parse_data_token(token)
    url = check_data_token(parsed, alb.config(**overrides), now=now)
    assert url == alb.key_url(parsed.kid)
    verify_data_signature(parsed, alb.alb_key.public_key())
    return dict(parsed.claims)


def resign(alb: FakeALB, header_segment: str, payload_segment: str) -> str:
    signing_input = f"{header_segment}.{payload_segment}"
    return f"{signing_input}.{b64url(sign_es256(alb.alb_key, signing_input.encode()))}"


def segment(value: object) -> str:
    return b64url(json.dumps(value).encode())


# --- the wire format -------------------------------------------------------------------------


def test_fake_alb_tokens_are_padded_like_the_albs() -> None:
    alb = FakeALB()
    # Across a few subject lengths every segment length modulo 3 occurs, so padding must appear.
    tokens = [alb.data_token("u" * n) for n in range(1, 7)]
    for token in tokens:
        header, payload, signature = token.split(".")
        assert len(base64.urlsafe_b64decode(signature)) == 64
        for part in (header, payload, signature):
            assert len(part) % 4 == 0
    assert any(part.endswith("=") for token in tokens for part in token.split(".")[:2])
    assert all(token.split(".")[2].endswith("=") for token in tokens)  # 64 bytes -> 88 chars "="


def test_a_valid_padded_token_verifies_over_the_raw_bytes(alb: FakeALB) -> None:
    claims = verify(alb, alb.data_token("alice", claims={"name": "Alice"}))
    assert claims["sub"] == "alice"
    assert claims["name"] == "Alice"
    assert claims["email_verified"] == "true"


def test_stripping_the_padding_breaks_the_signature(alb: FakeALB) -> None:
    for n in range(1, 7):
        token = alb.data_token("u" * n)
        header, payload, signature = token.split(".")
        if not (header.endswith("=") or payload.endswith("=")):
            continue
        stripped = f"{header.rstrip('=')}.{payload.rstrip('=')}.{signature}"
        with pytest.raises(SignatureError):
            verify(alb, stripped)
        return
    pytest.fail("no padded token was produced")


def test_an_unpadded_token_signed_unpadded_also_verifies(alb: FakeALB) -> None:
    assert verify(alb, alb.data_token("bob", padded=False))["sub"] == "bob"


def test_bytes_and_str_tokens_are_equivalent(alb: FakeALB) -> None:
    token = alb.data_token("carol")
    assert verify(alb, token) == verify(alb, token.encode())


def test_header_exp_given_as_a_string_like_the_guide_shows_is_accepted(alb: FakeALB) -> None:
    exp = int(START) + 60
    token = alb.data_token(header={"exp": str(exp)}, claims={"exp": exp})
    assert verify(alb, token)["exp"] == exp


# --- malformed tokens ------------------------------------------------------------------------

GOOD_HEADER = {
    "alg": "ES256",
    "kid": "11111111-2222-3333-4444-555555555555",
    "signer": "s",
    "exp": 1,
}


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        ("", "empty"),
        ("abc", "one segment"),
        ("a.b", "two segments"),
        ("a.b.c.d", "four segments"),
        ("a..c", "empty payload"),
        ("eyJh+.eyJh.AAAA", "standard base64 alphabet"),
        ("eyJh/.eyJh.AAAA", "slash"),
        ("eyJh.eyJh.AAAA===", "three padding characters"),
        ("eyJh=.eyJh.AAAA", "wrong padding length"),
        ("ey=Jh.eyJh.AAAA", "padding inside"),
        ("eyJh .eyJh.AAAA", "space"),
        ("eyJh.eyJh.AAAA\n", "trailing newline"),
        ("ëyJh.eyJh.AAAA", "non-ASCII"),
        ("a.eyJh.AAAA", "impossible base64 length"),
    ],
)
def test_structurally_broken_tokens_are_malformed(token: str, reason: str) -> None:
    with pytest.raises(MalformedTokenError):
        parse_data_token(token)


@pytest.mark.parametrize(
    "token", ["e30", "e30.e30", "e30.e30.AAAA.AAAA", "e30.e30.AAAA.", ".e30.e30.AAAA"]
)
def test_only_three_segments_make_a_token(token: str) -> None:
    # Every segment here is valid base64url: the count alone decides, with its own message.
    with pytest.raises(MalformedTokenError, match="not three base64url segments"):
        split_data_token(token)
    with pytest.raises(AccessTokenError, match="not a JWT"):
        parse_jwt(token)


def test_split_data_token_cuts_at_the_dots(alb: FakeALB) -> None:
    raw = alb.data_token().encode()
    signing_input, header, payload, signature = split_data_token(raw)
    assert raw.split(b".") == [header, payload, signature]
    assert signing_input == header + b"." + payload
    assert parse_data_token(raw).signing_input == signing_input
    access = alb.access_token()
    assert parse_jwt(access).signing_input == access.rpartition(".")[0].encode()
    # Any bytes-like value gives parts in bytes (the header table keys on them).
    for value in (raw.decode(), bytearray(raw), memoryview(raw)):
        parts = split_data_token(value)
        assert parts == (signing_input, header, payload, signature)
        assert {type(part) for part in parts} == {bytes}


@pytest.mark.parametrize(
    ("payload", "flat"),
    [
        (b'{"sub":"a","exp":1,"n":1.5,"ok":true,"x":null}', True),
        (b'{"sub":"a","exp":1,"roles":["r"]}', False),
        (b'{"sub":"a","exp":1,"address":{"c":"NL"}}', False),
        (b'{"sub":"a","exp":1,"note":"{"}', False),
        (b'{"sub":"a","exp":1,"note":"["}', False),
        (b' {"sub":"a","exp":1}', False),  # whitespace before the object
    ],
)
def test_flat_claims_is_read_from_the_payload_bytes(payload: bytes, flat: bool) -> None:
    token = parse_data_token(f"{segment(GOOD_HEADER)}.{b64url(payload)}.{b64url(b'1' * 64)}")
    assert token.flat_claims is flat


_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=8,
)


@hypothesis.given(st.dictionaries(st.text(max_size=6), _JSON, max_size=5))
def test_flat_claims_is_true_exactly_for_flat_payloads_without_brackets_in_text(
    extra: dict[str, object],
) -> None:
    claims = {**extra, "sub": "a", "exp": 1}
    token = parse_data_token(_token(GOOD_HEADER, claims))
    nested = any(isinstance(value, dict | list) for value in claims.values())
    texts = [*claims, *(value for value in claims.values() if isinstance(value, str))]
    brackets = any("{" in text or "[" in text for text in texts)
    assert token.flat_claims is (not nested and not brackets)


def _token(header: object, payload: object, signature: bytes = b"\x01" * 64) -> str:
    head = header if isinstance(header, str) else segment(header)
    body = payload if isinstance(payload, str) else segment(payload)
    return f"{head}.{body}.{b64url(signature)}"


@pytest.mark.parametrize(
    ("header", "payload", "signature", "reason"),
    [
        (GOOD_HEADER, {"sub": "a", "exp": 1}, b"\x01" * 63, "63-byte signature"),
        (GOOD_HEADER, {"sub": "a", "exp": 1}, b"\x01" * 65, "65-byte signature"),
        (GOOD_HEADER, {"sub": "a", "exp": 1}, b"\x30\x44" + b"\x01" * 68, "DER-sized signature"),
        (b64url(b"not json"), {"sub": "a", "exp": 1}, b"\x01" * 64, "header not JSON"),
        (GOOD_HEADER, b64url(b"[1, 2]"), b"\x01" * 64, "payload not an object"),
        (GOOD_HEADER, b64url(b'"text"'), b"\x01" * 64, "payload a string"),
        (GOOD_HEADER, b64url(b"\xff\xfe{}"), b"\x01" * 64, "payload not UTF-8"),
        (
            b64url(b'{"alg":"ES256","kid":"k","signer":"s","exp":1,"kid":7}'),
            {"sub": "a", "exp": 1},
            b"\x01" * 64,
            "a repeated kid whose last value is not a string",
        ),
        (GOOD_HEADER, b64url(b'{"sub":"a","exp":1,"exp":2}'), b"\x01" * 64, "last exp differs"),
        (GOOD_HEADER, b64url(b'{"sub":"a","exp":NaN}'), b"\x01" * 64, "NaN exp"),
        (GOOD_HEADER, b64url(b"[" * 100000 + b"]" * 100000), b"\x01" * 64, "deep nesting"),
        ({"alg": "ES256", "kid": "k"}, {"sub": "a", "exp": 1}, b"\x01" * 64, "no header exp"),
        (GOOD_HEADER, {"sub": "a"}, b"\x01" * 64, "no payload exp"),
        (GOOD_HEADER, {"sub": "a", "exp": 2}, b"\x01" * 64, "exp disagree"),
        ({**GOOD_HEADER, "exp": True}, {"sub": "a", "exp": True}, b"\x01" * 64, "boolean exp"),
        ({**GOOD_HEADER, "exp": "soon"}, {"sub": "a", "exp": "soon"}, b"\x01" * 64, "word exp"),
        (GOOD_HEADER, {"exp": 1}, b"\x01" * 64, "no sub"),
        (GOOD_HEADER, {"sub": "", "exp": 1}, b"\x01" * 64, "empty sub"),
        (GOOD_HEADER, {"sub": 5, "exp": 1}, b"\x01" * 64, "numeric sub"),
        ({"alg": "ES256", "exp": 1}, {"sub": "a", "exp": 1}, b"\x01" * 64, "no kid"),
        ({**GOOD_HEADER, "kid": 7}, {"sub": "a", "exp": 1}, b"\x01" * 64, "numeric kid"),
    ],
)
def test_content_errors_are_malformed(
    header: object, payload: object, signature: bytes, reason: str
) -> None:
    token = _token(header, payload, signature)
    with pytest.raises(MalformedTokenError):
        parse_data_token(token)


def test_a_repeated_member_name_keeps_its_last_value() -> None:
    # RFC 7515 section 4 allows this (or refusing); there is only one parse, so every check and
    # the app's claims see the same value.
    header = b'{"alg":"none","alg":"ES256","kid":"k","signer":"s","exp":1}'
    parsed = parse_data_token(_token(b64url(header), b64url(b'{"sub":"a","sub":"b","exp":1}')))
    assert parsed.header["alg"] == "ES256"
    assert parsed.sub == "b"
    assert parsed.claims["sub"] == "b"


def test_a_repeated_alg_ending_in_none_is_refused(alb: FakeALB) -> None:
    token = alb.data_token()
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0]))
    text = json.dumps(header)[:-1] + ', "alg": "none"}'
    forged = ".".join([b64url(text.encode()), *token.split(".")[1:]])
    with pytest.raises(ClaimError, match="alg"):
        verify(alb, forged)


def test_payload_exp_as_digit_string_equal_in_value_is_accepted() -> None:
    # "1" and 1 are the same NumericDate once parsed; the guide's string form is tolerated.
    parsed = parse_data_token(_token({**GOOD_HEADER, "signer": "s"}, {"sub": "a", "exp": "1"}))
    assert parsed.exp == 1.0


def test_non_canonical_base64_is_refused(alb: FakeALB) -> None:
    token = alb.data_token("dave")
    header, payload, signature = token.split(".")
    core = signature.rstrip("=")
    # Flip the unused low bits of the last character: same bytes for a lax decoder.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet.index(core[-1])
    tweaked = core[:-1] + alphabet[last ^ 0b11] + signature[len(core) :]
    with pytest.raises(MalformedTokenError, match="canonical"):
        parse_data_token(f"{header}.{payload}.{tweaked}")


# --- header and claim checks (before any key is needed) --------------------------------------


@pytest.mark.parametrize("alg", ["none", "HS256", "RS256", "ES384", "ES512", "es256", None])
def test_alg_must_be_exactly_es256(alb: FakeALB, alg: str | None) -> None:
    with pytest.raises(ClaimError) as caught:
        verify(alb, alb.data_token(header={"alg": alg}))
    assert caught.value.claim == "alg"


def test_another_albs_token_is_refused_before_any_key_is_needed(alb: FakeALB) -> None:
    other = alb.alb_arn.replace("test-alb", "evil-alb")
    parsed = parse_data_token(alb.data_token(header={"signer": other}))
    with pytest.raises(UntrustedSignerError):
        check_data_token(parsed, alb.config(), now=START)


def test_signer_is_checked_before_kid_client_and_expiry(alb: FakeALB) -> None:
    token = alb.data_token(header={"signer": "x", "kid": "../etc", "client": "y"}, exp=1)
    with pytest.raises(UntrustedSignerError):
        check_data_token(parse_data_token(token), alb.config(), now=START)


@pytest.mark.parametrize(
    "kid",
    [
        "not-a-uuid",
        "../../etc/passwd",
        "11111111-2222-3333-4444-555555555555/../x",
        "11111111-2222-3333-4444-555555555555?x=1",
        "11111111-2222-3333-4444-555555555555#x",
        "11111111-2222-3333-4444-55555555555%2f",
        "user@11111111-2222-3333-4444-555555555555",
        "https://evil.example/11111111-2222-3333-4444-555555555555",
        "11111111222233334444555555555555",
        "1" * 10_000,
    ],
)
def test_kid_must_be_a_uuid(alb: FakeALB, kid: str) -> None:
    parsed = parse_data_token(alb.data_token(header={"kid": kid}))
    with pytest.raises(ClaimError) as caught:
        check_data_token(parsed, alb.config(), now=START)
    assert caught.value.claim == "kid"


def test_key_url_is_built_from_config_and_kid_only(alb: FakeALB) -> None:
    parsed = parse_data_token(alb.data_token(header={"iss": alb.issuer, "extra": "https://evil"}))
    assert check_data_token(parsed, alb.config(), now=START) == alb.key_url()


@pytest.mark.parametrize(
    ("header", "claim"),
    [
        ({"client": "someone-else"}, "client"),
        ({"client": None}, "client"),
        ({"iss": "https://evil.example.com"}, "iss"),
    ],
)
def test_client_and_issuer_must_be_configured_ones(alb: FakeALB, header: dict, claim: str) -> None:
    parsed = parse_data_token(alb.data_token(header=header, claims={"iss": header.get("iss")}))
    with pytest.raises(ClaimError) as caught:
        check_data_token(parsed, alb.config(), now=START)
    assert caught.value.claim == claim


def test_client_and_issuer_are_free_when_not_configured(alb: FakeALB) -> None:
    token = alb.data_token(header={"client": "other", "iss": "https://other"}, claims={"iss": None})
    assert verify(alb, token, client_ids=(), issuers=())["sub"] == "user-1"


def test_header_and_payload_iss_must_agree(alb: FakeALB) -> None:
    token = alb.data_token(claims={"iss": "https://evil.example.com"})
    with pytest.raises(ClaimError, match="disagree"):
        verify(alb, token, issuers=())


@pytest.mark.parametrize(
    ("offset", "accepted"),
    [(-60, True), (0, True), (29, True), (30, True), (31, False), (3600, False)],
)
def test_expiry_with_leeway(alb: FakeALB, offset: float, accepted: bool) -> None:
    exp = int(START) + 100
    token = alb.data_token(exp=exp)
    now = exp + offset
    if accepted:
        assert verify(alb, token, now=now, leeway=30)["exp"] == exp
    else:
        with pytest.raises(TokenExpiredError):
            verify(alb, token, now=now, leeway=30)


# --- signatures ------------------------------------------------------------------------------


def test_tampered_payload_with_original_signature_fails(alb: FakeALB) -> None:
    header, _, signature = alb.data_token("alice").split(".")
    _, payload, _ = alb.data_token("admin").split(".")
    with pytest.raises(SignatureError):
        verify(alb, f"{header}.{payload}.{signature}")


def test_tampered_header_with_original_signature_fails(alb: FakeALB) -> None:
    _, payload, signature = alb.data_token("alice").split(".")
    header, _, _ = alb.data_token("alice", header={"typ": "XYZ"}).split(".")
    with pytest.raises(SignatureError):
        verify(alb, f"{header}.{payload}.{signature}")


def test_token_signed_by_another_key_fails(alb: FakeALB) -> None:
    with pytest.raises(SignatureError):
        verify(alb, alb.data_token(key=ec.generate_private_key(ec.SECP256R1())))


@pytest.mark.parametrize(
    ("r", "s"),
    [(0, 0), (0, 1), (1, 0), (P256_ORDER, 1), (1, P256_ORDER), (P256_ORDER, P256_ORDER)],
)
def test_psychic_signatures_fail(alb: FakeALB, r: int, s: int) -> None:
    header, payload, _ = alb.data_token().split(".")
    signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    with pytest.raises(SignatureError):
        verify(alb, f"{header}.{payload}.{b64url(signature)}")


def test_der_signature_is_refused(alb: FakeALB) -> None:
    header, payload, _ = alb.data_token().split(".")
    der = alb.alb_key.sign(f"{header}.{payload}".encode(), ec.ECDSA(hashes.SHA256()))
    with pytest.raises(MalformedTokenError):
        verify(alb, f"{header}.{payload}.{b64url(der)}")


def test_resigned_forgery_with_own_key_fails_even_with_right_signer(alb: FakeALB) -> None:
    forger = FakeALB(alb_arn=alb.alb_arn, client_id=alb.client_id, kid=alb.kid, clock=alb.clock)
    with pytest.raises(SignatureError):
        verify(alb, forger.data_token("admin"))


# --- access tokens ---------------------------------------------------------------------------


def check_access(alb: FakeALB, token: str, *, sub: str = "user-1", now: float = START) -> dict:
    assert access_token_kid(token) == alb.pool_kid
    return verify_access_token(
        token, alb.pool_key.public_key(), alb.cognito_config(), sub=sub, now=now, leeway=30
    )


def test_a_valid_access_token_verifies(alb: FakeALB) -> None:
    claims = check_access(alb, alb.access_token(scopes=["openid", "tasks/read"], groups=["admins"]))
    assert claims["scope"] == "openid tasks/read"
    assert claims["cognito:groups"] == ["admins"]


@pytest.mark.parametrize(
    ("claims", "error"),
    [
        ({"token_use": "id"}, AccessTokenError),
        ({"token_use": None}, AccessTokenError),
        ({"client_id": "another-client"}, AccessTokenError),
        ({"client_id": None}, AccessTokenError),
        (
            {"iss": "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_OtherPool"},
            AccessTokenError,
        ),
        ({"exp": None}, AccessTokenError),
        ({"exp": "2000000000"}, AccessTokenError),
        ({"sub": "someone-else"}, IdentityMismatchError),
    ],
)
def test_access_token_claims_are_checked(
    alb: FakeALB, claims: dict, error: type[Exception]
) -> None:
    with pytest.raises(error):
        check_access(alb, alb.access_token(claims=claims))


def test_expired_access_token_is_refused_with_leeway(alb: FakeALB) -> None:
    token = alb.access_token(exp=int(START) + 10)
    assert check_access(alb, token, now=START + 40)["sub"] == "user-1"
    with pytest.raises(AccessTokenError, match="expired") as caught:
        check_access(alb, token, now=START + 41)
    assert caught.value.code == "access_token_expired"


def test_access_token_from_another_pool_key_fails(alb: FakeALB) -> None:
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(AccessTokenError, match="signature"):
        check_access(alb, alb.access_token(key=other_key))


def _jwt(header: dict, payload: bytes = b"e30") -> bytes:
    """An unsigned JWT with `header` (its signature segment is just base64url bytes)."""
    return b64url(json.dumps(header).encode(), padded=False).encode() + b"." + payload + b".c2ln"


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ({"alg": "HS256", "kid": "k"}, "HS256"),
        ({"alg": "none", "kid": "k"}, "none"),
        ({"alg": "ES256", "kid": "k"}, "ES256"),
        ({"alg": "RS256"}, "no kid"),
        ({"alg": "RS256", "kid": 5}, "numeric kid"),
        ({"alg": "RS256", "kid": "k" * 300}, "huge kid"),
    ],
)
def test_access_token_header_must_be_rs256_with_a_kid(header: dict, reason: str) -> None:
    with pytest.raises(AccessTokenError):
        access_token_kid(_jwt(header))


def test_a_remembered_jwt_header_is_still_checked_against_each_caller() -> None:
    """`parse_jwt` decodes a header's bytes once, but every call checks `alg` and `kid`
    against its own configuration, and the header it returns is read-only (it is shared)."""
    token = _jwt({"alg": "RS256", "kid": "k1"})
    parsed = parse_jwt(token)
    assert (parsed.alg, parsed.kid) == ("RS256", "k1")
    assert parse_jwt(token).header is parsed.header
    with pytest.raises(TypeError):
        parsed.header["alg"] = "none"  # type: ignore[index]
    with pytest.raises(AccessTokenError, match="not one of the configured algorithms"):
        parse_jwt(token, algorithms=frozenset({"ES256"}))
    assert parse_jwt(token, algorithms=frozenset({"ES256", "RS256"})).alg == "RS256"


@pytest.fixture(autouse=True)
def _no_remembered_jwt_headers() -> None:
    tokens._JWT_HEADERS.clear()


def test_jwt_headers_are_remembered_by_their_exact_bytes() -> None:
    token = _jwt({"alg": "RS256", "kid": "k1"})
    segment = token.partition(b".")[0]
    assert parse_jwt(token).kid == "k1"
    assert segment in tokens._JWT_HEADERS
    # The last character of a remembered header with an unused bit set: other bytes, which
    # decode to the same JSON but are not canonical base64url, so they are refused.
    assert len(segment) % 4  # the last character has unused bits
    alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    stray = alphabet[alphabet.index(segment[-1]) + 1 : alphabet.index(segment[-1]) + 2]
    with pytest.raises(AccessTokenError, match="not a JWT"):
        parse_jwt(segment[:-1] + stray + token[len(segment) :])
    # The same `alg` and `kid` in other bytes (a space more) is decoded on its own.
    spaced = b64url(b'{"alg": "RS256","kid":"k1"}', padded=False).encode() + b".e30.c2ln"
    assert parse_jwt(spaced).header is not parse_jwt(token).header
    assert parse_jwt(bytearray(token)).header is parse_jwt(memoryview(token)).header


def test_remembered_jwt_headers_are_bounded_in_number_and_size() -> None:
    kids = [f"kid-{index}" for index in range(JWT_HEADERS_HELD + 20)]
    for kid in kids:
        assert parse_jwt(_jwt({"alg": "RS256", "kid": kid})).kid == kid
        assert len(tokens._JWT_HEADERS) <= JWT_HEADERS_HELD
    assert parse_jwt(_jwt({"alg": "RS256", "kid": kids[-1]})).kid == kids[-1]
    large = _jwt({"alg": "RS256", "kid": "k", "pad": "x" * JWT_HEADER_KEPT_BYTES})
    assert parse_jwt(large).kid == "k"
    assert large.partition(b".")[0] not in tokens._JWT_HEADERS


def test_only_flat_jwt_headers_are_remembered() -> None:
    """A header with a nested value (`x5c`, `jwk`) is decoded for each token, never shared: what
    is shared is read-only all the way down."""
    for extra in ({"x5c": ["a"]}, {"jwk": {"kty": "RSA"}}, {"note": "a [ or { in a string"}):
        token = _jwt({"alg": "RS256", "kid": "k", **extra})
        parsed = parse_jwt(token)
        assert parsed.kid == "k"
        assert token.partition(b".")[0] not in tokens._JWT_HEADERS
        assert parse_jwt(token).header is not parsed.header


def test_a_header_that_fails_to_decode_is_never_remembered() -> None:
    for segment in (b"bm90IGpzb24", b"WzFd", b"e30ab"):  # not JSON, an array, not base64url
        token = segment + b".e30.c2ln"
        for _ in range(2):
            with pytest.raises(AccessTokenError, match="not a JWT"):
                parse_jwt(token)
        assert segment not in tokens._JWT_HEADERS


@pytest.mark.parametrize("token", ["opaque-token", "a.b", "", "....", "e30.e30"])
def test_non_jwt_access_tokens_are_refused(token: str) -> None:
    with pytest.raises(AccessTokenError, match="not a JWT"):
        access_token_kid(token)


def test_hs256_with_the_public_key_as_secret_is_refused(alb: FakeALB) -> None:

    pem = alb.pool_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    forged = jwt.encode(
        {"sub": "user-1"}, pem.decode()[:40], algorithm="HS256", headers={"kid": alb.pool_kid}
    )
    with pytest.raises(AccessTokenError):
        access_token_kid(forged)
    with pytest.raises(AccessTokenError):
        verify_access_token(
            forged,
            alb.pool_key.public_key(),
            alb.cognito_config(),
            sub="user-1",
            now=START,
            leeway=0,
        )


def test_unverified_decode_reads_claims_or_returns_none_for_opaque(alb: FakeALB) -> None:
    claims = decode_access_token_unverified(alb.access_token(scopes=["a"]))
    assert claims is not None
    assert claims["scope"] == "a"
    assert decode_access_token_unverified("opaque") is None


def test_clock_fixture_moves(clock: Clock) -> None:
    clock.advance(5)
    assert clock() == START + 5


_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
_EDGES = [1, 0x7F, 0x80, 0xFF, 0x100, 2**247, 2**248 - 1, 2**248, 2**255 - 1, 2**255, _ORDER - 1]


@hypothesis.given(
    r=st.one_of(st.sampled_from(_EDGES), st.integers(1, _ORDER - 1)),
    s=st.one_of(st.sampled_from(_EDGES), st.integers(1, _ORDER - 1)),
)
def test_the_der_signature_is_what_cryptography_would_encode(r: int, s: int) -> None:
    assert _der_signature(r.to_bytes(32, "big"), s.to_bytes(32, "big")) == encode_dss_signature(
        r, s
    )


@hypothesis.given(
    segment=st.binary(max_size=300).map(base64.urlsafe_b64encode)
    | st.text(
        alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=+/. \n\x00é",
        max_size=40,
    ).map(str.encode),
    cut=st.integers(0, 3),
)
def test_the_simd_decoder_accepts_exactly_what_the_reference_decoder_accepts(
    segment: bytes, cut: int
) -> None:
    """`_segment` (pybase64, on tokens already free of `+` and `/`) against an independent
    reference: binascii's strict mode, and canonical meaning that re-encoding gives back the very
    input (fully padded, or unpadded). The same bytes out, or both refuse."""
    segment = segment[: len(segment) - cut] if cut < len(segment) else segment
    if b"+" in segment or b"/" in segment:
        return  # refused for the whole token before `_segment` runs
    try:
        ours: bytes | None = _segment(segment)
    except MalformedTokenError:
        ours = None
    assert ours == _reference_decode(segment)


_TO_STANDARD = bytes.maketrans(b"-_+/", b"+/!!")


def _reference_decode(segment: bytes) -> bytes | None:
    padded = segment + b"=" * (-len(segment) % 4)
    try:
        decoded = binascii.a2b_base64(padded.translate(_TO_STANDARD), strict_mode=True)
    except binascii.Error:
        return None
    encoded = base64.urlsafe_b64encode(decoded)  # canonical: padded in full, or not at all
    return decoded if segment and segment in (encoded, encoded.rstrip(b"=")) else None


def test_a_policy_with_client_ids_but_no_client_claims_refuses_rather_than_crashes() -> None:
    """A hand-built `AccessPolicy` naming clients but no claim to find them in: every token is
    refused with an `AccessTokenError` (a 401), never an IndexError (a 500)."""
    policy = AccessPolicy(
        "access token", "https://idp.example", frozenset({"RS256"}), None, ("app",), (),
        None, None, None, None,
    )  # fmt: skip
    claims = {"iss": "https://idp.example", "client_id": "app", "exp": START + 60}
    with pytest.raises(AccessTokenError, match="`client_id` is not a configured client id"):
        check_jwt_claims(claims, policy, now=START, leeway=0)


def test_a_dev_emulator_token_for_an_app_configured_otherwise_says_what_to_do() -> None:
    # A newcomer's app with a hard-coded config behind `alb-oidc dev` got only "not one of the
    # configured alb_arns", with nothing to say that the emulator's variables are the fix.
    app = FakeALB().config()
    dev = parse_data_token(FakeALB(alb_arn=DEV_SIGNER_ARN).data_token())
    with pytest.raises(UntrustedSignerError, match=r"`alb-oidc dev` emulator's.*from_env\(\)"):
        check_data_token(dev, app, now=dev.exp - 60)
    other = FakeALB(
        alb_arn="arn:aws:elasticloadbalancing:eu-west-1:999999999999:loadbalancer/app/o/0123456789abcdef"
    )
    with pytest.raises(UntrustedSignerError) as refused:
        check_data_token(parse_data_token(other.data_token()), app, now=dev.exp - 60)
    assert "alb-oidc dev" not in str(refused.value)
