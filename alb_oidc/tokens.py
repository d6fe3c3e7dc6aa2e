"""Pure token verification: the ALB data token (ES256), and access and bearer tokens (JWTs of
Cognito or any OpenID Connect IdP).

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
from types import MappingProxyType
from typing import Any, NamedTuple

import jwt
import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from pybase64 import b64decode as _simd_decode

from .config import DEV_SIGNER_ARN, ALBConfig, CognitoConfig, OIDCAccessTokenConfig
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
    "AccessPolicy",
    "AccessToken",
    "DataHeader",
    "DataToken",
    "DataTokenParts",
    "PublicJWK",
    "access_token_kid",
    "bound_subject",
    "check_data_token",
    "check_jwt_claims",
    "check_payload_claims",
    "check_token_claims",
    "claim_at",
    "data_token_bytes",
    "data_token_of",
    "decode_access_token_unverified",
    "jwt_bytes",
    "names_at",
    "parse_access_token",
    "parse_data_header",
    "parse_data_token",
    "parse_jwt",
    "split_data_token",
    "verify_access_token",
    "verify_data_signature",
    "verify_jwt",
    "verify_jwt_signature",
]

_loads = orjson.loads
_tuple_new = tuple.__new__
_PADDING = (b"", b"", b"==", b"=")
_PLUS, _SLASH, _DOT, _EQUALS, _LBRACE, _LBRACKET = b"+/.={["  # byte values: `in`, comparisons
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
_DEV_SIGNER_HINT = (
    " (it is the `alb-oidc dev` emulator's: configure the app from the ALB_OIDC_* variables "
    "the emulator prints, with ALBConfig.from_env())"
)
#: The longest `kid` accepted anywhere (it names a key in a URL or a JWKS document).
MAX_KID = 256


class DataToken(NamedTuple):
    """A parsed but not yet verified ALB data token.

    `flat_claims` is True when the payload's bytes show that no claim is an object or an array
    (no `[`, and no `{` but the one that opens the payload), so the claims need no deep copy to
    be made read-only; False means "not known" (a `{` inside a string is enough).
    """

    signing_input: bytes
    signature: bytes
    header: Mapping[str, Any]  # shared by every token with the same header bytes: never changed
    claims: Mapping[str, Any]
    kid: str
    signer: str
    exp: float
    sub: str
    flat_claims: bool = False


def _json_object(data: bytes, what: str) -> dict[str, Any]:
    """Strict RFC 8259 JSON (UTF-8, no NaN or Infinity, bounded depth) that must be an object.

    A repeated member name keeps its last value, as RFC 7515 section 4 allows: there is one
    parse of the signed bytes, and everything (checks and the app's claims) reads that one dict.
    """
    try:
        value = _loads(data)
    except orjson.JSONDecodeError:
        raise MalformedTokenError(f"token {what} is not valid JSON") from None
    if type(value) is not dict:
        raise MalformedTokenError(f"token {what} is not a JSON object")
    return value


def _flat_object(decoded: bytes) -> bool:
    """Whether the bytes of a JSON object (already parsed as one) show that none of its members
    is an object or an array: no `[` at all, and no `{` but the opening one. Two memchr-speed
    scans instead of a look at the type of every member. A bracket inside a string makes the
    answer False, which only ever costs the slower path."""
    return _LBRACKET not in decoded and decoded.rfind(_LBRACE) == 0


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
    elif not segment:
        raise MalformedTokenError("token segment is empty")
    elif segment[-1] == _EQUALS:
        if segment[-2] == _EQUALS:
            if segment[-3] not in _CANONICAL_LAST[2]:
                raise MalformedTokenError("token segment is not canonical base64url")
        elif segment[-2] not in _CANONICAL_LAST[3]:
            raise MalformedTokenError("token segment is not canonical base64url")
    try:
        # validate=True refuses anything outside the alphabet (with `-_` for `+/`) and padding
        # anywhere but at the end; `+` and `/`, which it would accept as aliases, are gone.
        return _simd_decode(segment, b"-_", True)  # positional: half the call's cost
    except (binascii.Error, ValueError):
        raise MalformedTokenError("token segment is not canonical base64url") from None


def parse_data_token(raw: bytes | str) -> DataToken:
    """Split and decode an `x-amzn-oidc-data` value; verifies nothing (`MalformedTokenError`)."""
    return data_token_of(split_data_token(raw))


#: `split_data_token`'s output: the signing input (`header.payload`), then the header, payload
#: and signature segments, all still base64url.
DataTokenParts = tuple[bytes, bytes, bytes, bytes]


def data_token_bytes(raw: bytes | str) -> bytes:
    """A data token given as a str (which must be ASCII: `MalformedTokenError`) or as any
    bytes-like object, as bytes: tables of verified tokens key on hashable bytes."""
    if isinstance(raw, str):
        try:
            return raw.encode("ascii")
        except UnicodeEncodeError:
            raise MalformedTokenError("token is not ASCII") from None
    return bytes(raw)


def split_data_token(raw: bytes | str) -> DataTokenParts:
    """The signing input and the three segments of a token (`DataTokenParts`);
    `MalformedTokenError` for anything but three segments of the base64url alphabet."""
    if type(raw) is not bytes:
        raw = data_token_bytes(raw)
    # Byte values, not one-byte strings: `int in bytes` is one memchr, `bytes in bytes` first
    # tries to read its operand as an int and clears the error. `+` and `/` are the standard
    # alphabet's, never base64url's.
    if _PLUS in raw or _SLASH in raw:
        raise MalformedTokenError("token segment is not canonical base64url")
    parts = _three_segments(raw)
    if parts is None:
        raise MalformedTokenError("token is not three base64url segments")
    return parts


def _three_segments(raw: bytes) -> DataTokenParts | None:
    """The signing input and the three segments of a JWT, or None unless there are exactly
    three. Partitioning (memchr) rather than `split` (a byte-by-byte loop), and the signing
    input comes out whole on the way."""
    signing_input, _, signature_segment = raw.rpartition(b".")
    header_segment, dot, payload_segment = signing_input.partition(b".")
    if not dot or _DOT in payload_segment:
        return None
    return signing_input, header_segment, payload_segment, signature_segment


class DataHeader(NamedTuple):
    """A data token's decoded header, and the fields the checks read from it."""

    fields: Mapping[str, Any]
    kid: str
    signer: str
    exp: float


def parse_data_header(segment: bytes) -> DataHeader:
    """Decode a data token's header segment; `MalformedTokenError` unless it is a JSON object
    with a `kid` and a `signer` string and a numeric `exp`."""
    fields = _json_object(_segment(segment), "header")
    kid, signer = fields.get("kid"), fields.get("signer")
    if type(kid) is not str or not kid:
        raise _missing("kid", "header")
    if type(signer) is not str or not signer:
        raise _missing("signer", "header")
    return DataHeader(fields, kid, signer, _timestamp(fields.get("exp"), "header"))


def data_token_of(parts: DataTokenParts, header: DataHeader | None = None) -> DataToken:
    """The `DataToken` of `split_data_token`'s output. `header` is the header segment already
    decoded (from a token with the very same header bytes), or None to decode it here."""
    signing_input, header_segment, payload_segment, signature_segment = parts
    signature = _segment(signature_segment)
    if len(signature) != 64:
        raise MalformedTokenError("signature is not 64 bytes (r || s)")
    if header is None:
        header = parse_data_header(header_segment)
    payload = _segment(payload_segment)
    claims = _json_object(payload, "payload")
    flat = _flat_object(payload)
    exp = header.exp
    payload_exp = claims.get("exp")
    # An int equal to the header's is the usual case; anything else is read as a NumericDate.
    if not (type(payload_exp) is int and payload_exp == exp) and (
        _timestamp(payload_exp, "payload") != exp
    ):
        raise MalformedTokenError("header and payload `exp` disagree")
    sub = claims.get("sub")
    if type(sub) is not str or not sub:
        raise _missing("sub", "payload")
    # The very object `DataToken(...)` makes, without its generated `__new__` (a Python function
    # that costs more than the tuple itself, on every request).
    fields = (
        signing_input,
        signature,
        header.fields,
        claims,
        header.kid,
        header.signer,
        exp,
        sub,
        flat,
    )
    return _tuple_new(DataToken, fields)


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
        hint = _DEV_SIGNER_HINT if token.signer == DEV_SIGNER_ARN else ""
        raise UntrustedSignerError(
            f"token signer '{loggable(token.signer, 160)}' is not one of the configured alb_arns"
            f"{hint}"
        )
    if len(token.kid) > MAX_KID or not _UUID.fullmatch(token.kid):
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
    if config.issuers and header.get("iss") not in config.issuers:
        raise ClaimError("token `iss` is not a configured issuer", claim="iss")
    check_payload_claims(token, leeway=config.leeway, now=now)


def check_payload_claims(token: DataToken, *, leeway: float, now: float) -> None:
    """The checks that depend on the payload and the time: the payload's `iss` (if any) agrees
    with the header's, and `exp` (plus `leeway`) has not passed. For a token whose header bytes
    passed every other check before, this is all that is left before the signature."""
    issuer = token.header.get("iss")
    if token.claims.get("iss", issuer) != issuer:
        raise ClaimError("header and payload `iss` disagree", claim="iss")
    if now > token.exp + leeway:
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
    """A parsed but not yet verified access or bearer token (a standard, unpadded JWT)."""

    signing_input: bytes
    signature: bytes
    header: Mapping[str, Any]  # read-only; shared by tokens with the same (small, flat) header
    claims: Mapping[str, Any]
    kid: str
    alg: str = "RS256"


_RS256_ONLY = frozenset({"RS256"})
# Where an access token names its OAuth client: RFC 9068 and Okta/Auth0/Keycloak `client_id` or
# `azp` (Auth0, Keycloak, Entra v2), Okta's `cid`, Entra v1's `appid`.
_CLIENT_CLAIMS = ("azp", "client_id", "cid", "appid")


class PublicJWK(NamedTuple):
    """A signing key of a JWKS document, and the algorithm the document ties it to, if any."""

    key: RSAPublicKey | ec.EllipticCurvePublicKey
    alg: str | None


#: How many decoded JWT headers `parse_jwt` remembers. An IdP signs every token with one of a few
#: keys, so its tokens' header bytes are one of a few strings, and decoding them is a pure
#: function of the bytes: done once. Anyone can send any header, whether or not the token then
#: verifies, hence the bounds: this many headers, each of at most `JWT_HEADER_KEPT_BYTES`.
JWT_HEADERS_HELD = 64
#: The longest header segment kept. IdPs' headers (`alg`, `kid`, sometimes `typ`) are about 100.
JWT_HEADER_KEPT_BYTES = 512
_JWT_HEADERS: dict[bytes, Mapping[str, Any]] = {}


def _jwt_header(segment: bytes, label: str) -> Mapping[str, Any]:
    """Decode a JWT's header segment (read-only), and keep it for `parse_jwt` if it is small
    and flat (a JSON object of strings, numbers, booleans and nulls, as IdPs send): what is
    kept, and shared, is then read-only all the way down."""
    try:
        decoded = _segment(segment)
        header: Mapping[str, Any] = MappingProxyType(_json_object(decoded, "header"))
    except MalformedTokenError:
        raise AccessTokenError(f"{label} is not a JWT") from None
    if len(segment) <= JWT_HEADER_KEPT_BYTES and _flat_object(decoded):
        if len(_JWT_HEADERS) >= JWT_HEADERS_HELD:
            # Full only under a stream of made-up headers. Emptied at once rather than evicting
            # one: `clear` is one step for other threads, and the real headers come back next.
            _JWT_HEADERS.clear()
        _JWT_HEADERS[segment] = header
    return header


def parse_jwt(
    raw: bytes | str, *, algorithms: frozenset[str] = _RS256_ONLY, label: str = "access token"
) -> AccessToken:
    """Split and decode a standard JWT; check its header names an algorithm of `algorithms` and
    a `kid`. Verifies nothing else (`AccessTokenError`, whose message starts with `label`).

    The same strict base64url and JSON rules as for the data token apply, without the ALB's
    padding (RFC 7515 forbids it); the header is checked before the rest is decoded.
    """
    if type(raw) is not bytes:
        raw = jwt_bytes(raw)
    if not raw.isascii():
        raise AccessTokenError(f"{label} is not ASCII")
    parts = _three_segments(raw)
    if parts is None:
        raise AccessTokenError(f"{label} is not a JWT (an opaque token cannot be verified)")
    signing_input, header_segment, payload_segment, signature_segment = parts
    # `+` and `/` are the standard alphabet's, never base64url's; `=` is padding, which JWTs omit.
    if _PLUS in raw or _SLASH in raw or _EQUALS in raw:
        raise AccessTokenError(f"{label} is malformed")
    header = _JWT_HEADERS.get(header_segment) or _jwt_header(header_segment, label)
    alg = header.get("alg")
    if type(alg) is not str or alg not in algorithms:
        # The value itself is not quoted: it is the token's, and messages never hold a token's.
        raise AccessTokenError(
            f"{label} `alg` is not one of the configured algorithms "
            f"({', '.join(sorted(algorithms))})"
        )
    kid = header.get("kid")
    if type(kid) is not str or not kid or len(kid) > MAX_KID:
        raise AccessTokenError(f"{label} has no usable `kid`")
    try:
        claims = _json_object(_segment(payload_segment), "payload")
        signature = _segment(signature_segment)
    except MalformedTokenError:
        raise AccessTokenError(f"{label} is malformed") from None
    # Built like `DataToken` in `data_token_of`, without the generated `__new__`.
    return _tuple_new(AccessToken, (signing_input, signature, header, claims, kid, alg))


def jwt_bytes(raw: bytes | str) -> bytes:
    """A JWT given as a str or as any bytes-like object, as bytes (the header table and the
    result caches key on hashable bytes). A str is encoded as UTF-8 with lone surrogates kept,
    so that anything but ASCII reaches `parse_jwt`, which refuses it."""
    return raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else bytes(raw)


def parse_access_token(raw: bytes | str) -> AccessToken:
    """`parse_jwt` for a Cognito access token (RS256)."""
    return parse_jwt(raw)


def access_token_kid(raw: bytes | str) -> str:
    """Return the `kid` of a Cognito access token after checking its header names RS256."""
    return parse_jwt(raw).kid


class AccessPolicy(NamedTuple):
    """What an access or bearer token must satisfy, from an `OIDCAccessTokenConfig`
    (`AccessPolicy.of`) or a `CognitoConfig` (`AccessPolicy.cognito`)."""

    label: str  # "access token" or "bearer token": how messages name the token
    issuer: str
    algorithms: frozenset[str]
    audiences: tuple[str, ...] | None  # `aud` must hold one; None: no `aud` (Cognito)
    client_ids: tuple[str, ...] | None  # the token's client must be one; None: any
    client_claims: tuple[str, ...]  # where the client is: the first of these the token has
    token_use: str | None  # Cognito's `token_use` claim
    scopes_claim: str | None
    groups_claim: str | None
    subject_claim: str | None
    # `nbf` and `iat` are checked when present (Cognito's preset leaves them, as it always has).
    check_nbf_iat: bool = True

    @classmethod
    def of(cls, config: OIDCAccessTokenConfig, *, label: str = "access token") -> AccessPolicy:
        """The policy of an `OIDCAccessTokenConfig`."""
        return cls(
            label,
            config.issuer,
            frozenset(config.algorithms),
            tuple(config.audiences),
            tuple(config.client_ids) or None,
            _CLIENT_CLAIMS,
            None,
            config.scopes_claim,
            config.groups_claim,
            config.subject_claim,
        )

    @classmethod
    def cognito(cls, cognito: CognitoConfig, *, label: str = "access token") -> AccessPolicy:
        """The Cognito preset: RS256, `client_id` and `token_use` instead of `aud`, scopes in
        `scope` and groups in `cognito:groups`, bound by `sub`."""
        return cls(
            label,
            cognito.issuer or "",
            _RS256_ONLY,
            None,
            tuple(cognito.client_ids),
            ("client_id",),
            "access",
            "scope",
            "cognito:groups",
            "sub",
            # The ALB's access tokens as they always were; bearer tokens (new) get every check.
            check_nbf_iat=label != "access token",
        )


class _JWS(NamedTuple):
    key_type: type[Any]  # the public key class the algorithm needs
    curve: type[ec.EllipticCurve] | None  # ES*: the curve, and its size in bytes
    size: int
    scheme: Any  # the padding (RS*, PS*) or the ECDSA object (ES*)
    digest: hashes.HashAlgorithm


def _jws_table() -> dict[str, _JWS]:
    table = {}
    for bits, digest in (
        ("256", hashes.SHA256()),
        ("384", hashes.SHA384()),
        ("512", hashes.SHA512()),
    ):
        table["RS" + bits] = _JWS(RSAPublicKey, None, 0, padding.PKCS1v15(), digest)
        # RFC 7518 section 3.5: the salt is as long as the hash, and MGF1 uses the same hash.
        pss = padding.PSS(mgf=padding.MGF1(digest), salt_length=digest.digest_size)
        table["PS" + bits] = _JWS(RSAPublicKey, None, 0, pss, digest)
    table["ES256"] = _JWS(ec.EllipticCurvePublicKey, ec.SECP256R1, 32, _ES256, hashes.SHA256())
    table["ES384"] = _JWS(
        ec.EllipticCurvePublicKey, ec.SECP384R1, 48, ec.ECDSA(hashes.SHA384()), hashes.SHA384()
    )
    table["ES512"] = _JWS(
        ec.EllipticCurvePublicKey, ec.SECP521R1, 66, ec.ECDSA(hashes.SHA512()), hashes.SHA512()
    )
    return table


_JWS_BY_ALG = _jws_table()


def verify_jwt_signature(
    token: AccessToken, key: Any, *, key_alg: str | None = None, label: str = "access token"
) -> None:
    """Verify `token`'s signature with `key`, by the algorithm its header names (which the
    parser has checked against the configuration).

    The key must be of that algorithm's type (an RSA key for RS*/PS*, a key on the named curve
    for ES*), and `key_alg` (the JWK's own `alg`, if it has one) must be that algorithm: a key
    published for one algorithm is never used with another. `key` may be a `PublicJWK`, whose
    `alg` is then `key_alg`.
    """
    if isinstance(key, PublicJWK):
        key, key_alg = key
    jws = _JWS_BY_ALG[token.alg]
    if (
        not isinstance(key, jws.key_type)
        or (jws.curve is not None and not isinstance(key.curve, jws.curve))
        or (key_alg is not None and key_alg != token.alg)
    ):
        raise AccessTokenError(f"{label} `alg` does not match the key its `kid` names")
    signature = token.signature
    try:
        if jws.curve is None:
            key.verify(signature, token.signing_input, jws.scheme, jws.digest)
            return
        size = jws.size
        if len(signature) == 2 * size:
            r = int.from_bytes(signature[:size], "big")
            s = int.from_bytes(signature[size:], "big")
            if r and s:
                key.verify(encode_dss_signature(r, s), token.signing_input, jws.scheme)
                return
    except InvalidSignature:
        pass
    raise AccessTokenError(f"{label} signature is invalid")


def _numeric(claims: Mapping[str, Any], name: str, label: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if type(value) is int or (type(value) is float and math.isfinite(value)):
        return float(value)
    raise AccessTokenError(f"{label} `{name}` is not a number")


def check_jwt_claims(
    claims: Mapping[str, Any], policy: AccessPolicy, *, now: float, leeway: float
) -> None:
    """`iss`, then `aud` (or Cognito's `token_use` and `client_id`), `exp`, and `nbf` and `iat`
    when present (but for Cognito's preset), each against `now` with `leeway` seconds of clock
    skew."""
    label = policy.label
    if claims.get("iss") != policy.issuer:
        raise AccessTokenError(f"{label} `iss` is not the configured issuer")
    if policy.token_use is not None and claims.get("token_use") != policy.token_use:
        raise AccessTokenError(f"{label} is not an access token (`token_use`)")
    if policy.client_ids is not None:
        # The first of `client_claims` the token has names its client (a loop, not a generator:
        # this runs once per new access token, and a generator costs more than the search).
        # With no claim to look in (a hand-built policy), no token names a configured client.
        name, client_id = (policy.client_claims or ("client_id",))[0], None
        for claim in policy.client_claims:
            if claim in claims:
                name, client_id = claim, claims[claim]
                break
        if type(client_id) is not str or client_id not in policy.client_ids:
            raise AccessTokenError(f"{label} `{name}` is not a configured client id")
    if policy.audiences is not None:
        aud = claims.get("aud")
        audiences = policy.audiences
        if type(aud) is str:
            held = aud in audiences
        elif type(aud) is list:
            held = any(type(item) is str and item in audiences for item in aud)
        else:
            held = False
        if not held:
            raise AccessTokenError(f"{label} `aud` holds none of the configured audiences")
    exp = _numeric(claims, "exp", label)
    if exp is None:
        raise AccessTokenError(f"{label} has no numeric `exp`")
    if now > exp + leeway:
        raise AccessTokenError(f"{label} expired", code="access_token_expired")
    if not policy.check_nbf_iat:
        return
    nbf = _numeric(claims, "nbf", label)
    if nbf is not None and now + leeway < nbf:
        raise AccessTokenError(f"{label} is not valid yet (`nbf`)")
    iat = _numeric(claims, "iat", label)
    if iat is not None and iat > now + leeway:
        raise AccessTokenError(f"{label} was issued in the future (`iat`)")


def verify_jwt(
    token: AccessToken,
    key: Any,
    policy: AccessPolicy,
    *,
    now: float,
    leeway: float,
    key_alg: str | None = None,
) -> Mapping[str, Any]:
    """Verify a parsed token's signature with `key`, then its claims; return the claims."""
    verify_jwt_signature(token, key, key_alg=key_alg, label=policy.label)
    check_jwt_claims(token.claims, policy, now=now, leeway=leeway)
    return token.claims


def claim_at(claims: Mapping[str, Any], path: str, *, label: str = "access token") -> Any:
    """The claim named `path`; failing that, a dotted `path` walks nested objects
    (`realm_access.roles`). None if absent; `AccessTokenError` if a step is not an object."""
    value = claims.get(path)
    if value is not None or "." not in path:
        return value
    found: Any = claims
    for part in path.split("."):
        if not isinstance(found, Mapping):
            raise AccessTokenError(f"{label} `{path}`: `{part}` is not inside an object")
        found = found.get(part)
        if found is None:
            return None
    return found


_STR_ONLY = frozenset({str})
_NO_NAME = frozenset({""})


def names_at(claims: Mapping[str, Any], path: str | None, *, label: str) -> frozenset[str]:
    """The names (scopes, groups) at `path`: a space-separated string or a list of strings.

    Anything else (a number, an object, a list holding non-strings) is refused rather than
    guessed at: an object's keys or a number's text must never become a group.
    """
    if path is None:
        return frozenset()
    value = claim_at(claims, path, label=label)
    if value is None:
        return frozenset()
    if type(value) is str:
        # RFC 6749 section 3.3 (and RFC 9068): names are separated by the space character
        # alone. `split()` would also split at a no-break space, a tab or U+2028, turning one
        # name an IdP let a user shape (`doc:42\u00a0admin`) into two (`admin`).
        names = frozenset(value.split(" "))
        return names - _NO_NAME if "" in names else names
    if isinstance(value, list | tuple) and _STR_ONLY.issuperset(map(type, value)):
        return frozenset(value)
    raise AccessTokenError(f"{label} `{path}` is not a string or a list of strings")


def bound_subject(claims: Mapping[str, Any], policy: AccessPolicy) -> str | None:
    """The value of the policy's `subject_claim` (a non-empty string), or None when unbound."""
    name = policy.subject_claim
    if name is None:
        return None
    value = claim_at(claims, name, label=policy.label)
    if type(value) is not str or not value:
        raise AccessTokenError(f"{policy.label} has no `{name}` string")
    return value


def verify_access_token(
    token: AccessToken | bytes | str,
    key: RSAPublicKey | PublicJWK,
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
        token = parse_jwt(token)
    claims = verify_jwt(token, key, AccessPolicy.cognito(cognito), now=now, leeway=leeway)
    if claims.get("sub") != sub:
        raise IdentityMismatchError("access token `sub` differs from the verified user")
    return dict(claims)


def decode_access_token_unverified(raw: str) -> dict[str, Any] | None:
    """Read an access token's claims WITHOUT verifying it; None if it is not a JWT (opaque).

    Only used when `ALBConfig.insecure_decode_unverified_access_token` is on.
    """
    try:
        claims: dict[str, Any] = jwt.decode(raw, options={"verify_signature": False})
    except jwt.InvalidTokenError:
        return None
    return claims
