"""Pure token verification: the ALB data token (ES256) and the Cognito access token (RS256).

Nothing here does I/O or reads the clock; the caller passes keys and `now`. The data token is
parsed by hand rather than by a JWT library because the ALB pads every segment with `=`, which
RFC 7515 forbids and several libraries reject (PyJWT's behaviour changed on exactly this). The
signature is checked over the `header.payload` bytes exactly as received, padding included, since
that is what the ALB signed.

A data token goes through three steps:

1. `parse_data_token`: structure, alphabet, padding, JSON, field types. No trust yet.
2. `check_data_token`: `alg`, `signer`, `kid`, `client`, `iss`, `exp` against the config. These are
   cheap and, above all, run **before** any key is fetched (the ALB keys are shared by every ALB in
   the region, so a token from somebody else's ALB verifies; only `signer` tells them apart).
3. `verify_data_signature`: the ES256 signature with the key the caller fetched for `kid`.
"""

from __future__ import annotations

import binascii
import math
import re
from collections.abc import Mapping
from typing import Any, NamedTuple

import jwt
import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from pybase64 import b64decode as _simd_decode

from .config import ALBConfig, CognitoConfig
from .errors import (
    AccessTokenError,
    ClaimError,
    IdentityMismatchError,
    MalformedTokenError,
    SignatureError,
    TokenExpiredError,
    UntrustedSignerError,
    loggable,
)

__all__ = [
    "AccessToken",
    "DataToken",
    "access_token_kid",
    "check_data_token",
    "check_token_claims",
    "decode_access_token_unverified",
    "parse_access_token",
    "parse_data_token",
    "verify_access_token",
    "verify_data_signature",
]

_loads = orjson.loads
_PADDING = (b"", b"", b"==", b"=")
_EQUALS = ord("=")
# The characters that may end a segment of length 4n+2 / 4n+3: those whose unused low bits are 0.
# Anything else would let several strings decode to the same bytes.
_CANONICAL_LAST = {2: frozenset(b"AQgw"), 3: frozenset(b"AEIMQUYcgkosw048")}
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_DIGITS = re.compile(r"[0-9]{1,12}")
_P256_ORDER = (0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551).to_bytes(
    32, "big"
)
_ZERO = bytes(32)
_ES256 = ec.ECDSA(hashes.SHA256())
_PKCS1 = padding.PKCS1v15()
_SHA256 = hashes.SHA256()
_MAX_KID = 256


class DataToken(NamedTuple):
    """A parsed but not yet verified ALB data token."""

    signing_input: bytes
    signature: bytes
    header: Mapping[str, Any]
    claims: Mapping[str, Any]
    kid: str
    signer: str
    exp: float
    sub: str


def _json_object(data: bytes, what: str) -> dict[str, Any]:
    """Strict RFC 8259 JSON (UTF-8, no NaN or Infinity, bounded depth) that must be an object.

    A repeated member name keeps its last value, as RFC 7515 section 4 allows: there is one
    parse of the signed bytes, and everything (checks and the app's claims) reads that one dict.
    """
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise MalformedTokenError(f"token {what} is not valid JSON") from None
    if type(value) is not dict:
        raise MalformedTokenError(f"token {what} is not a JSON object")
    return value


def _timestamp(value: object, where: str) -> float:
    """A NumericDate. The ALB guide shows the header `exp` as a string of digits; accept that."""
    if type(value) is int:  # the usual case, first
        return float(value)
    if isinstance(value, str) and _DIGITS.fullmatch(value):
        return float(value)
    if type(value) is float and math.isfinite(value):
        return value
    raise MalformedTokenError(f"{where} `exp` is missing or not a number")


def _missing(name: str, where: str) -> MalformedTokenError:
    return MalformedTokenError(f"token {where} has no `{name}` string")


def _segment(segment: bytes) -> bytes:
    """Decode one base64url segment, padded (the ALB) or not (standard JWTs), strictly, of a token
    whose bytes hold no `+` or `/` (the caller checks that once for the whole token).

    Only the url-safe alphabet is allowed (no whitespace or inner `=`), padding must complete the
    last quantum exactly, and the last character must not carry stray bits (else several strings
    would decode to the same bytes).
    """
    remainder = len(segment) & 3
    if remainder:
        if remainder == 1 or segment[-1] not in _CANONICAL_LAST[remainder]:
            raise MalformedTokenError("token segment is not canonical base64url")
        segment += _PADDING[remainder]
    elif segment[-1:] == b"=":
        twice = segment[-2] == _EQUALS
        if segment[-3 if twice else -2] not in _CANONICAL_LAST[2 if twice else 3]:
            raise MalformedTokenError("token segment is not canonical base64url")
    elif not segment:
        raise MalformedTokenError("token segment is empty")
    try:
        # validate=True refuses anything outside the alphabet (with `-_` for `+/`) and padding
        # anywhere but at the end; `+` and `/`, which it would accept as aliases, are gone.
        return _simd_decode(segment, b"-_", True)  # positional: half the call's cost
    except (binascii.Error, ValueError):
        raise MalformedTokenError("token segment is not canonical base64url") from None


def parse_data_token(raw: bytes | str) -> DataToken:
    """Split and decode an `x-amzn-oidc-data` value; verifies nothing (`MalformedTokenError`)."""
    if isinstance(raw, str):
        try:
            raw = raw.encode("ascii")
        except UnicodeEncodeError:
            raise MalformedTokenError("token is not ASCII") from None
    if b"+" in raw or b"/" in raw:  # the standard alphabet's two: never in base64url
        raise MalformedTokenError("token segment is not canonical base64url")
    segments = raw.split(b".")
    if len(segments) != 3:
        raise MalformedTokenError("token is not three base64url segments")
    header_segment, payload_segment, signature_segment = segments
    signature = _segment(signature_segment)
    if len(signature) != 64:
        raise MalformedTokenError("signature is not 64 bytes (r || s)")
    try:
        header = _loads(_segment(header_segment))
        claims = _loads(_segment(payload_segment))
    except orjson.JSONDecodeError:
        raise MalformedTokenError("token header or payload is not valid JSON") from None
    if type(header) is not dict or type(claims) is not dict:
        raise MalformedTokenError("token header or payload is not a JSON object")
    exp, payload_exp = header.get("exp"), claims.get("exp")
    if not (type(exp) is int and type(payload_exp) is int and exp == payload_exp):
        exp = _timestamp(exp, "header")  # the ALB guide's string form, or a float
        if _timestamp(payload_exp, "payload") != exp:
            raise MalformedTokenError("header and payload `exp` disagree")
    kid, signer, sub = header.get("kid"), header.get("signer"), claims.get("sub")
    if type(kid) is not str or not kid:
        raise _missing("kid", "header")
    if type(signer) is not str or not signer:
        raise _missing("signer", "header")
    if type(sub) is not str or not sub:
        raise _missing("sub", "payload")
    return DataToken(
        raw[: len(header_segment) + 1 + len(payload_segment)],
        signature,
        header,
        claims,
        kid,
        signer,
        float(exp),
        sub,
    )


def check_data_token(token: DataToken, config: ALBConfig, *, now: float) -> str:
    """Check everything but the signature; return the URL of the public key to verify it with.

    Runs before any key fetch, so that only tokens for a configured ALB can cause one, and only
    for a `kid` that is a UUID (it becomes part of the URL).
    """
    if token.header.get("alg") != "ES256":
        raise ClaimError("token `alg` must be ES256", claim="alg", code="bad_alg")
    key_url = config.key_urls.get(token.signer)
    if key_url is None:
        # The signer is not secret and names the ALB to add to `alb_arns`; a client can put
        # anything there, so it is quoted escaped and cut short.
        raise UntrustedSignerError(
            f"token signer '{loggable(token.signer, 160)}' is not one of the configured alb_arns"
        )
    if len(token.kid) > _MAX_KID or not _UUID.fullmatch(token.kid):
        raise ClaimError("token `kid` is not a UUID", claim="kid")
    check_token_claims(token, config, now=now)
    return key_url.replace("{kid}", token.kid)


def check_token_claims(token: DataToken, config: ALBConfig, *, now: float) -> None:
    """The checks of `check_data_token` that depend on more than `signer` and `kid`: `alg`,
    `client`, `iss` and `exp`. For a (`signer`, `kid`) pair that passed before, this is all that
    is left to check before the signature."""
    header = token.header
    if header.get("alg") != "ES256":
        raise ClaimError("token `alg` must be ES256", claim="alg", code="bad_alg")
    if config.client_ids and header.get("client") not in config.client_ids:
        raise ClaimError("token `client` is not a configured client id", claim="client")
    issuer = header.get("iss")
    if token.claims.get("iss", issuer) != issuer:
        raise ClaimError("header and payload `iss` disagree", claim="iss")
    if config.issuers and issuer not in config.issuers:
        raise ClaimError("token `iss` is not a configured issuer", claim="iss")
    if now > token.exp + config.leeway:
        raise TokenExpiredError()


def verify_data_signature(token: DataToken, key: ec.EllipticCurvePublicKey) -> None:
    """Verify the 64-byte r || s ES256 signature over the raw `header.payload` bytes."""
    r, s = token.signature[:32], token.signature[32:]
    # 0 < r, s < n (compared as 32-byte big-endian strings). OpenSSL refuses these too; checking
    # here keeps the rule visible and independent of the library underneath.
    if not (_ZERO < r < _P256_ORDER and _ZERO < s < _P256_ORDER):
        raise SignatureError("token signature is invalid")
    try:
        key.verify(_der_signature(r, s), token.signing_input, _ES256)
    except InvalidSignature:
        raise SignatureError("token signature is invalid") from None


def _der_signature(r: bytes, s: bytes) -> bytes:
    """The DER `SEQUENCE { INTEGER r, INTEGER s }` that OpenSSL verifies, from the JOSE halves.

    Built by hand: at most 72 bytes, so every length fits in one byte. Each integer is minimal
    (leading zero bytes dropped) and positive (a zero byte in front of a high first bit). Both are
    non-zero here, so neither is empty.
    """
    if r[0] and s[0]:  # no leading zero byte: 255 signatures in 256
        high_r, high_s = r[0] >> 7, s[0] >> 7
        return _DER_START[high_r + high_s][high_r] + r + _DER_INTEGER[high_s] + s
    r = r.lstrip(b"\0")
    s = s.lstrip(b"\0")
    if r[0] & 0x80:
        r = b"\0" + r
    if s[0] & 0x80:
        s = b"\0" + s
    return b"0" + bytes((len(r) + len(s) + 4, 2, len(r))) + r + bytes((2, len(s))) + s


# The DER framing of two 32-byte integers, by how many need a 0x00 in front (a high first bit):
# SEQUENCE header + first INTEGER header, then the second INTEGER's header.
_DER_INTEGER = (b"\x02\x20", b"\x02\x21\x00")
_DER_START = tuple(
    tuple(bytes((0x30, 0x44 + extra)) + _DER_INTEGER[high_r] for high_r in (0, 1))
    for extra in (0, 1, 2)
)


class AccessToken(NamedTuple):
    """A parsed but not yet verified Cognito access token (a standard, unpadded RS256 JWT)."""

    signing_input: bytes
    signature: bytes
    header: Mapping[str, Any]
    claims: Mapping[str, Any]
    kid: str


def parse_access_token(raw: bytes | str) -> AccessToken:
    """Split and decode an access token; check its header names RS256 and a `kid`.

    Verifies nothing else (`AccessTokenError`). The same strict base64url and JSON rules as
    for the data token apply; the header is checked before the rest is decoded.
    """
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "surrogatepass")
    if not raw.isascii():
        raise AccessTokenError("access token is not ASCII")
    segments = raw.split(b".")
    if len(segments) != 3:
        raise AccessTokenError("access token is not a JWT")
    if b"+" in raw or b"/" in raw:  # the standard alphabet's two: never in base64url
        raise AccessTokenError("access token is malformed")
    header_segment, payload_segment, signature_segment = segments
    try:
        header = _json_object(_segment(header_segment), "header")
    except MalformedTokenError:
        raise AccessTokenError("access token is not a JWT") from None
    if header.get("alg") != "RS256":
        raise AccessTokenError("access token `alg` must be RS256")
    kid = header.get("kid")
    if type(kid) is not str or not kid or len(kid) > _MAX_KID:
        raise AccessTokenError("access token has no usable `kid`")
    try:
        claims = _json_object(_segment(payload_segment), "payload")
        signature = _segment(signature_segment)
    except MalformedTokenError:
        raise AccessTokenError("access token is malformed") from None
    return AccessToken(
        raw[: len(header_segment) + 1 + len(payload_segment)], signature, header, claims, kid
    )


def access_token_kid(raw: bytes | str) -> str:
    """Return the `kid` of a Cognito access token after checking its header names RS256."""
    return parse_access_token(raw).kid


def verify_access_token(
    token: AccessToken | bytes | str,
    key: RSAPublicKey,
    cognito: CognitoConfig,
    *,
    sub: str,
    now: float,
    leeway: float,
) -> dict[str, Any]:
    """Verify a Cognito access token's RS256 signature and claims; return its claims.

    Checks the signature with `key` (PKCS #1 v1.5, SHA-256), then `iss`, `token_use ==
    "access"`, `client_id`, `exp` (with `leeway`, against `now`) and that `sub` equals the
    verified data token's `sub`. `token` may be raw or already parsed by `parse_access_token`.
    """
    if not isinstance(token, AccessToken):
        token = parse_access_token(token)
    try:
        key.verify(token.signature, token.signing_input, _PKCS1, _SHA256)
    except InvalidSignature:
        raise AccessTokenError("access token signature is invalid") from None
    claims = dict(token.claims)
    if claims.get("iss") != cognito.issuer:
        raise AccessTokenError("access token `iss` is not the configured user pool")
    if claims.get("token_use") != "access":
        raise AccessTokenError("token in x-amzn-oidc-accesstoken is not an access token")
    if claims.get("client_id") not in cognito.client_ids:
        raise AccessTokenError("access token `client_id` is not a configured client id")
    exp = claims.get("exp")
    if isinstance(exp, bool) or not isinstance(exp, int | float) or not math.isfinite(exp):
        raise AccessTokenError("access token has no numeric `exp`")
    if now > exp + leeway:
        raise AccessTokenError("access token expired", code="access_token_expired")
    if claims.get("sub") != sub:
        raise IdentityMismatchError("access token `sub` differs from the verified user")
    return claims


def decode_access_token_unverified(raw: str) -> dict[str, Any] | None:
    """Read an access token's claims WITHOUT verifying it; None if it is not a JWT (opaque).

    Only used when `ALBConfig.insecure_decode_unverified_access_token` is on.
    """
    try:
        claims: dict[str, Any] = jwt.decode(raw, options={"verify_signature": False})
    except jwt.InvalidTokenError:
        return None
    return claims
