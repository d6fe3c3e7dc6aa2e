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

import base64
import binascii
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from .config import ALBConfig, CognitoConfig
from .errors import (
    AccessTokenError,
    ClaimError,
    IdentityMismatchError,
    MalformedTokenError,
    SignatureError,
    TokenExpiredError,
    UntrustedSignerError,
)

__all__ = [
    "DataToken",
    "access_token_kid",
    "check_data_token",
    "decode_access_token_unverified",
    "parse_data_token",
    "verify_access_token",
    "verify_data_signature",
]

# Three segments of base64url, each optionally padded with at most two `=` (the ALB's form).
_DATA_TOKEN = re.compile(rb"([A-Za-z0-9_-]+={0,2})\.([A-Za-z0-9_-]+={0,2})\.([A-Za-z0-9_-]+={0,2})")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_DIGITS = re.compile(r"[0-9]{1,12}")
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
_ES256 = ec.ECDSA(hashes.SHA256())
_MAX_KID = 256


@dataclass(frozen=True, slots=True)
class DataToken:
    """A parsed but not yet verified ALB data token."""

    signing_input: bytes
    signature: bytes
    header: Mapping[str, Any]
    claims: Mapping[str, Any]
    kid: str
    signer: str
    exp: float
    sub: str


def _b64decode(segment: bytes) -> bytes:
    """Decode one base64url segment, padded or not, refusing non-canonical encodings."""
    core = segment.rstrip(b"=")
    padding = len(segment) - len(core)
    if len(core) % 4 == 1 or (padding and (len(core) + padding) % 4):
        raise MalformedTokenError("token segment has invalid base64url padding")
    try:
        decoded = base64.urlsafe_b64decode(core + b"=" * (-len(core) % 4))
    except binascii.Error:
        raise MalformedTokenError("token segment is not base64url") from None
    # Leftover bits in the last character would let many byte strings decode to one value.
    if base64.urlsafe_b64encode(decoded).rstrip(b"=") != core:
        raise MalformedTokenError("token segment is not canonical base64url")
    return decoded


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise MalformedTokenError("token JSON has a duplicated key")
    return result


def _bad_constant(name: str) -> None:
    raise MalformedTokenError("token JSON has a non-finite number")


def _json_object(data: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(
            data.decode("utf-8"), object_pairs_hook=_no_duplicates, parse_constant=_bad_constant
        )
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise MalformedTokenError(f"token {what} is not valid JSON") from None
    if not isinstance(value, dict):
        raise MalformedTokenError(f"token {what} is not a JSON object")
    return value


def _timestamp(value: object, where: str) -> float:
    """A NumericDate. The ALB guide shows the header `exp` as a string of digits; accept that."""
    if isinstance(value, str) and _DIGITS.fullmatch(value):
        return float(value)
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    raise MalformedTokenError(f"{where} `exp` is missing or not a number")


def _string(mapping: Mapping[str, Any], name: str, where: str) -> str:
    value = mapping.get(name)
    if not isinstance(value, str) or not value:
        raise MalformedTokenError(f"token {where} has no `{name}` string")
    return value


def parse_data_token(raw: bytes | str) -> DataToken:
    """Split and decode an `x-amzn-oidc-data` value; verifies nothing (`MalformedTokenError`)."""
    if isinstance(raw, str):
        try:
            raw = raw.encode("ascii")
        except UnicodeEncodeError:
            raise MalformedTokenError("token is not ASCII") from None
    match = _DATA_TOKEN.fullmatch(raw)
    if match is None:
        raise MalformedTokenError("token is not three base64url segments")
    header_segment, payload_segment, signature_segment = match.groups()
    signature = _b64decode(signature_segment)
    if len(signature) != 64:
        raise MalformedTokenError("signature is not 64 bytes (r || s)")
    header = _json_object(_b64decode(header_segment), "header")
    claims = _json_object(_b64decode(payload_segment), "payload")
    header_exp = _timestamp(header.get("exp"), "header")
    if _timestamp(claims.get("exp"), "payload") != header_exp:
        raise MalformedTokenError("header and payload `exp` disagree")
    return DataToken(
        signing_input=raw[: len(header_segment) + 1 + len(payload_segment)],
        signature=signature,
        header=header,
        claims=claims,
        kid=_string(header, "kid", "header"),
        signer=_string(header, "signer", "header"),
        exp=header_exp,
        sub=_string(claims, "sub", "payload"),
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
        raise UntrustedSignerError("token was not signed by a configured ALB")
    if len(token.kid) > _MAX_KID or not _UUID.fullmatch(token.kid):
        raise ClaimError("token `kid` is not a UUID", claim="kid")
    if config.client_ids and token.header.get("client") not in config.client_ids:
        raise ClaimError("token `client` is not a configured client id", claim="client")
    issuer = token.header.get("iss")
    if "iss" in token.claims and token.claims["iss"] != issuer:
        raise ClaimError("header and payload `iss` disagree", claim="iss")
    if config.issuers and issuer not in config.issuers:
        raise ClaimError("token `iss` is not a configured issuer", claim="iss")
    if now > token.exp + config.leeway:
        raise TokenExpiredError()
    return key_url.replace("{kid}", token.kid)


def verify_data_signature(token: DataToken, key: ec.EllipticCurvePublicKey) -> None:
    """Verify the 64-byte r || s ES256 signature over the raw `header.payload` bytes."""
    r = int.from_bytes(token.signature[:32], "big")
    s = int.from_bytes(token.signature[32:], "big")
    # OpenSSL refuses these too; checking here keeps the rule visible and library-independent.
    if not (0 < r < _P256_ORDER and 0 < s < _P256_ORDER):
        raise SignatureError("token signature is invalid")
    try:
        key.verify(encode_dss_signature(r, s), token.signing_input, _ES256)
    except InvalidSignature:
        raise SignatureError("token signature is invalid") from None


def access_token_kid(raw: str) -> str:
    """Return the `kid` of a Cognito access token after checking its header names RS256."""
    try:
        header = jwt.get_unverified_header(raw)
    except jwt.InvalidTokenError:
        raise AccessTokenError("access token is not a JWT") from None
    if header.get("alg") != "RS256":
        raise AccessTokenError("access token `alg` must be RS256")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid or len(kid) > _MAX_KID:
        raise AccessTokenError("access token has no usable `kid`")
    return kid


def verify_access_token(
    raw: str,
    key: RSAPublicKey,
    cognito: CognitoConfig,
    *,
    sub: str,
    now: float,
    leeway: float,
) -> dict[str, Any]:
    """Verify a Cognito access token's RS256 signature and claims; return its claims.

    Checks `iss`, `token_use == "access"`, `client_id`, `exp` (with `leeway`, against `now`) and
    that `sub` equals the verified data token's `sub`.
    """
    try:
        claims: dict[str, Any] = jwt.decode(
            raw,
            key,
            algorithms=["RS256"],
            # Time and audience are checked below, against the injected clock; Cognito access
            # tokens carry `client_id` instead of `aud`.
            options={
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
                "verify_aud": False,
            },
        )
    except jwt.InvalidSignatureError:
        raise AccessTokenError("access token signature is invalid") from None
    except jwt.InvalidTokenError:
        raise AccessTokenError("access token is malformed") from None
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
