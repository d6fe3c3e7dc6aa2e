"""The attack corpus: forged or malformed requests, each with a one-line reason.

Each case builds the request's ALB headers (as raw ASGI pairs, so any byte can be sent) from a
`FakeALB` whose key and user pool the app trusts. `test_corpus.py` sends every case to an app
behind `ALBAuthMiddleware` and expects 401 with no outbound fetch.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from alb_oidc.testing import FakeALB, b64url, sign_es256

from ..conftest import asgi_headers

Headers = list[tuple[bytes, bytes]]
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
OTHER_ARN = (
    "arn:aws:elasticloadbalancing:eu-west-1:999999999999:loadbalancer/app/evil/fedcba9876543210"
)
DATA, ACCESS, IDENTITY = b"x-amzn-oidc-data", b"x-amzn-oidc-accesstoken", b"x-amzn-oidc-identity"


@dataclass(frozen=True)
class Attack:
    """One forged request: `build(alb)` returns its headers."""

    name: str
    reason: str
    build: Callable[[FakeALB], Headers]


def _valid(alb: FakeALB, sub: str = "victim") -> dict[bytes, bytes]:
    return dict(asgi_headers(alb.headers(sub)))


def _with(alb: FakeALB, **replace: bytes) -> Headers:
    """The victim's valid headers with some values replaced (data=..., access=..., identity=...)."""
    headers = _valid(alb)
    names = {"data": DATA, "access": ACCESS, "identity": IDENTITY}
    for key, value in replace.items():
        headers[names[key]] = value
    return list(headers.items())


def _data(alb: FakeALB, **kwargs: Any) -> Headers:
    """Headers whose data token is minted (and signed by the real ALB key) with `kwargs`."""
    return _with(alb, data=alb.data_token("victim", **kwargs).encode())


def _parts(alb: FakeALB) -> tuple[str, str, str]:
    header, payload, signature = alb.data_token("victim").split(".")
    return header, payload, signature


def _segment(value: dict[str, Any]) -> str:
    return b64url(json.dumps(value).encode())


def _decoded(segment: str) -> dict[str, Any]:
    return dict(json.loads(base64.urlsafe_b64decode(segment)))


def _signed_by(alb: FakeALB, alg: str, sign: Callable[[bytes], bytes]) -> Headers:
    """The victim's claims with header `alg`, signed by `sign` over the padded signing input."""
    header, payload, _ = _parts(alb)
    head = _segment({**_decoded(header), "alg": alg})
    signature = sign(f"{head}.{payload}".encode())
    return _with(alb, data=f"{head}.{payload}.{b64url(signature)}".encode())


def _raw_signature(alb: FakeALB, signature: bytes) -> Headers:
    header, payload, _ = _parts(alb)
    return _with(alb, data=f"{header}.{payload}.{b64url(signature)}".encode())


def _rs(r: int, s: int) -> bytes:
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def _kid(alb: FakeALB, kid: str) -> Headers:
    return _data(alb, header={"kid": kid})


def _pem(alb: FakeALB) -> bytes:
    return alb.public_key_pem()


def _hs256_pem(alb: FakeALB) -> Headers:
    return _signed_by(alb, "HS256", lambda m: hmac.new(_pem(alb), m, hashlib.sha256).digest())


def _rs256(alb: FakeALB) -> Headers:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return _signed_by(alb, "RS256", lambda m: key.sign(m, padding.PKCS1v15(), hashes.SHA256()))


def _ecdsa(alb: FakeALB, alg: str, curve: ec.EllipticCurve, size: int) -> Headers:
    key = ec.generate_private_key(curve)
    algorithm = hashes.SHA384() if size == 48 else hashes.SHA512()

    def sign(message: bytes) -> bytes:
        r, s = decode_dss_signature(key.sign(message, ec.ECDSA(algorithm)))
        return r.to_bytes(size, "big") + s.to_bytes(size, "big")

    return _signed_by(alb, alg, sign)


def _tampered_payload(alb: FakeALB) -> Headers:
    header, payload, signature = _parts(alb)
    claims = {**_decoded(payload), "sub": "admin"}
    return _with(alb, data=f"{header}.{_segment(claims)}.{signature}".encode(), identity=b"admin")


def _tampered_header(alb: FakeALB) -> Headers:
    header, payload, signature = _parts(alb)
    return _with(
        alb, data=f"{_segment({**_decoded(header), 'typ': 'jwt'})}.{payload}.{signature}".encode()
    )


def _duplicate_keys(alb: FakeALB) -> Headers:
    header, payload, signature = _parts(alb)
    text = json.dumps(_decoded(header))[:-1] + f', "signer": "{OTHER_ARN}"}}'
    return _with(alb, data=f"{b64url(text.encode())}.{payload}.{signature}".encode())


def _other_alb_same_key(alb: FakeALB) -> Headers:
    # ALBeast: every ALB in the region signs with the same keys; only `signer` tells them apart.
    return _data(alb, header={"signer": OTHER_ARN})


def _der(alb: FakeALB) -> Headers:
    header, payload, _ = _parts(alb)
    message = f"{header}.{payload}".encode()
    der = alb.alb_key.sign(message, ec.ECDSA(hashes.SHA256()))
    return _with(alb, data=f"{header}.{payload}.{b64url(der)}".encode())


def _resegment(alb: FakeALB, change: Callable[[list[str]], list[str]]) -> Headers:
    return _with(alb, data=".".join(change(list(_parts(alb)))).encode())


def _replace_data(alb: FakeALB, change: Callable[[str], str]) -> Headers:
    return _with(alb, data=change(alb.data_token("victim")).encode())


def _header_list(alb: FakeALB, extra: Headers) -> Headers:
    return [*_with(alb), *extra]


def _access(alb: FakeALB, token: str) -> Headers:
    return _with(alb, access=token.encode())


def _other_pool(alb: FakeALB) -> Headers:
    other = FakeALB(user_pool_id="eu-west-1_OtherPool", clock=alb.clock)
    return _access(alb, other.access_token("victim"))


def _unsigned_access(alb: FakeALB, alg: str, key: str | bytes | None) -> Headers:
    claims = jwt.decode(alb.access_token("victim"), options={"verify_signature": False})
    return _access(alb, jwt.encode(claims, key, algorithm=alg, headers={"kid": alb.pool_kid}))


def _pool_pem(alb: FakeALB) -> bytes:
    return alb.pool_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _now(alb: FakeALB) -> int:
    return int(alb.clock())


LEEWAY = 30  # the default the corpus app runs with


def _alias_in_signature(token_of: Callable[[], str], padded: bool) -> str:
    """A valid token whose signature segment spells one `-` or `_` as `+` or `/`.

    Lenient base64 decoders read `+` as `-` and `/` as `_`, so the signature decodes to the very
    bytes that were signed, and the token verifies unless the standard alphabet is refused outright.
    """
    for _ in range(64):  # 86 random base64url characters lack both only once in ~16 tokens
        head, payload, signature = token_of().split(".")
        for plain, alias in (("-", "+"), ("_", "/")):
            if plain in signature:
                at = signature.index(plain)
                return f"{head}.{payload}.{signature[:at]}{alias}{signature[at + 1 :]}"
    raise AssertionError("no token with - or _ in its signature")  # pragma: no cover


def _replayed_access(alb: FakeALB) -> Headers:
    """Mallory's own valid login, carrying the victim's access token."""
    return [
        (DATA, alb.data_token("mallory").encode()),
        (ACCESS, alb.access_token("victim", scopes=("openid", "admin")).encode()),
    ]


ATTACKS = [
    # --- algorithm substitution ------------------------------------------------------------
    Attack(
        "alg-none-unsigned",
        "alg none with an empty signature",
        lambda a: _resegment(a, lambda p: [_segment({**_decoded(p[0]), "alg": "none"}), p[1], ""]),
    ),
    Attack(
        "alg-none-64-bytes",
        "alg none with a signature-sized blob",
        lambda a: _signed_by(a, "none", lambda m: b"\x00" * 64),
    ),
    Attack("hs256-pem-secret", "HS256 keyed with the ALB's public PEM (key confusion)", _hs256_pem),
    Attack(
        "hs256-64-bytes",
        "HS256 claimed, 64 bytes of HMAC output padded to ES256 size",
        lambda a: _signed_by(a, "HS256", lambda m: hmac.new(_pem(a), m, hashlib.sha512).digest()),
    ),
    Attack("rs256", "RS256 with an attacker's RSA key", _rs256),
    Attack(
        "es384",
        "ES384 with an attacker's P-384 key",
        lambda a: _ecdsa(a, "ES384", ec.SECP384R1(), 48),
    ),
    Attack(
        "es512",
        "ES512 with an attacker's P-521 key",
        lambda a: _ecdsa(a, "ES512", ec.SECP521R1(), 66),
    ),
    Attack(
        "es256-alg-lowercase",
        "alg spelled es256",
        lambda a: _signed_by(a, "es256", lambda m: sign_es256(a.alb_key, m)),
    ),
    # --- whose token ----------------------------------------------------------------------
    Attack(
        "other-alb-same-key",
        "validly signed by the regional key, but another ALB's signer",
        _other_alb_same_key,
    ),
    Attack(
        "attacker-key-right-signer",
        "right signer and kid, signed with the attacker's key",
        lambda a: _data(a, key=ec.generate_private_key(ec.SECP256R1())),
    ),
    Attack(
        "wrong-client",
        "signed, but for another OAuth client",
        lambda a: _data(a, header={"client": "someone-elses-client"}),
    ),
    Attack(
        "wrong-iss",
        "signed, but from another IdP",
        lambda a: _data(
            a,
            header={"iss": "https://evil.example.com"},
            claims={"iss": "https://evil.example.com"},
        ),
    ),
    Attack(
        "iss-disagree",
        "header iss is ours, payload iss another",
        lambda a: _data(a, claims={"iss": "https://evil.example.com"}),
    ),
    # --- time -----------------------------------------------------------------------------
    Attack("expired", "expired an hour ago", lambda a: _data(a, exp=_now(a) - 3600)),
    Attack(
        "just-outside-leeway",
        "expired leeway + 1 s ago",
        lambda a: _data(a, exp=_now(a) - LEEWAY - 1),
    ),
    Attack(
        "exp-disagree",
        "header exp in the future, payload exp expired",
        lambda a: _data(a, claims={"exp": _now(a) - 3600}),
    ),
    Attack(
        "exp-missing",
        "no exp at all",
        lambda a: _data(a, header={"exp": None}, claims={"exp": None}),
    ),
    # --- tampering ------------------------------------------------------------------------
    Attack("tampered-payload", "sub changed to admin, original signature", _tampered_payload),
    Attack(
        "tampered-header",
        "header re-encoded with a changed field, original signature",
        _tampered_header,
    ),
    Attack(
        "duplicate-json-keys",
        "a second signer member appended to the signed header",
        _duplicate_keys,
    ),
    Attack(
        "padding-stripped",
        "the padding removed (the signature covers it)",
        lambda a: _replace_data(a, lambda t: ".".join(s.rstrip("=") for s in t.split("."))),
    ),
    # --- the signature itself ("psychic signatures" and encodings) ---------------------------
    Attack("signature-zeros", "r = s = 0", lambda a: _raw_signature(a, bytes(64))),
    Attack("r-zero", "r = 0", lambda a: _raw_signature(a, _rs(0, 1))),
    Attack("s-zero", "s = 0", lambda a: _raw_signature(a, _rs(1, 0))),
    Attack("r-order", "r = n", lambda a: _raw_signature(a, _rs(P256_ORDER, 1))),
    Attack("s-order", "s = n", lambda a: _raw_signature(a, _rs(1, P256_ORDER))),
    Attack("r-s-max", "r = s = 2^256 - 1", lambda a: _raw_signature(a, b"\xff" * 64)),
    Attack("der-signature", "DER-encoded signature instead of r || s", _der),
    Attack(
        "der-of-psychic",
        "DER of r = s = 0",
        lambda a: _raw_signature(a, encode_dss_signature(0, 0)),
    ),
    Attack("signature-63", "63-byte signature", lambda a: _raw_signature(a, b"\x01" * 63)),
    Attack("signature-65", "65-byte signature", lambda a: _raw_signature(a, b"\x01" * 65)),
    # --- structure ------------------------------------------------------------------------
    Attack("two-segments", "signature segment missing", lambda a: _resegment(a, lambda p: p[:2])),
    Attack("four-segments", "an extra segment", lambda a: _resegment(a, lambda p: [*p, p[2]])),
    Attack("empty-token", "an empty data header", lambda a: _with(a, data=b"")),
    Attack(
        "non-base64",
        "a '*' in the payload",
        lambda a: _resegment(a, lambda p: [p[0], "*" + p[1][1:], p[2]]),
    ),
    Attack(
        "standard-alphabet",
        "'+' and '/' instead of '-' and '_'",
        lambda a: _replace_data(
            a,
            lambda t: (
                t.replace("-", "+").replace("_", "/")
                if "-" in t or "_" in t
                else t[:5] + "+" + t[6:]
            ),
        ),
    ),
    Attack(
        "alias-in-signature",
        "one '-' or '_' of a valid signature written as '+' or '/' (the same bytes, leniently)",
        lambda a: _with(a, data=_alias_in_signature(lambda: a.data_token("victim"), True).encode()),
    ),
    Attack(
        "slash-in-payload",
        "'/' for '_' in the payload only",
        lambda a: _resegment(
            a, lambda p: [p[0], p[1].replace("_", "/", 1) if "_" in p[1] else "/" + p[1][1:], p[2]]
        ),
    ),
    Attack(
        "access-alias-in-signature",
        "the access token's signature with one '-' or '_' written as '+' or '/'",
        lambda a: _access(a, _alias_in_signature(lambda: a.access_token("victim"), False)),
    ),
    Attack(
        "access-replayed-by-another-user",
        "another user's valid data token with the victim's access token (more scopes)",
        _replayed_access,
    ),
    Attack(
        "too-much-padding",
        "three '=' on the header",
        lambda a: _resegment(a, lambda p: [p[0].rstrip("=") + "===", p[1], p[2]]),
    ),
    Attack(
        "header-not-json",
        "header is base64 of text",
        lambda a: _resegment(a, lambda p: [b64url(b"not json"), p[1], p[2]]),
    ),
    Attack(
        "payload-array",
        "payload is a JSON array",
        lambda a: _resegment(a, lambda p: [p[0], b64url(b"[1,2]"), p[2]]),
    ),
    Attack(
        "payload-nan",
        "payload exp is NaN",
        lambda a: _resegment(a, lambda p: [p[0], b64url(b'{"sub":"victim","exp":NaN}'), p[2]]),
    ),
    # --- kid: it becomes part of a URL ------------------------------------------------------
    Attack("kid-not-uuid", "kid is a word", lambda a: _kid(a, "current")),
    Attack("kid-slash", "kid with a path", lambda a: _kid(a, "a/b")),
    Attack("kid-dotdot", "kid climbs the path", lambda a: _kid(a, "../../etc/passwd")),
    Attack("kid-encoded-slash", "kid with %2f", lambda a: _kid(a, "..%2f..%2fadmin")),
    Attack("kid-query", "kid with a query", lambda a: _kid(a, f"{a.kid}?x=1")),
    Attack("kid-fragment", "kid with a fragment", lambda a: _kid(a, f"{a.kid}#x")),
    Attack(
        "kid-userinfo",
        "kid with @ (another host)",
        lambda a: _kid(a, f"x@evil.example.com/{a.kid}"),
    ),
    Attack("kid-url", "kid is a full URL", lambda a: _kid(a, "https://evil.example.com/key.pem")),
    Attack("kid-10kb", "kid of 10 KB", lambda a: _kid(a, "a" * 10_240)),
    Attack("kid-uuid-braces", "kid a UUID in braces", lambda a: _kid(a, "{" + a.kid + "}")),
    # --- headers --------------------------------------------------------------------------
    Attack(
        "data-duplicated",
        "two data headers",
        lambda a: _header_list(a, [(DATA, a.data_token("admin").encode())]),
    ),
    Attack(
        "data-comma-joined",
        "two data tokens in one header",
        lambda a: _with(a, data=f"{a.data_token('victim')},{a.data_token('admin')}".encode()),
    ),
    Attack(
        "data-oversized",
        "a 17 KB data header",
        lambda a: _with(a, data=a.data_token("victim", claims={"x": "y" * 17_000}).encode()),
    ),
    Attack(
        "identity-duplicated",
        "two identity headers",
        lambda a: _header_list(a, [(IDENTITY, b"admin")]),
    ),
    Attack("identity-other-sub", "identity of another user", lambda a: _with(a, identity=b"admin")),
    Attack(
        "identity-unicode-lookalike",
        "identity with a Cyrillic i in place of a Latin one",
        lambda a: _with(a, identity="vict\u0456m".encode()),
    ),
    Attack(
        "no-data-but-identity",
        "identity and access token without the data token",
        lambda a: [(n, v) for n, v in _with(a) if n != DATA],
    ),
    # --- the access token -----------------------------------------------------------------
    Attack(
        "access-missing",
        "Cognito configured, access token absent",
        lambda a: [(n, v) for n, v in _with(a) if n != ACCESS],
    ),
    Attack("access-other-pool", "access token of another user pool", _other_pool),
    Attack(
        "access-other-client",
        "access token for another app client",
        lambda a: _access(a, a.access_token("victim", claims={"client_id": "other-client"})),
    ),
    Attack(
        "access-id-token",
        "an id token in the access token's place",
        lambda a: _access(a, a.access_token("victim", claims={"token_use": "id"})),
    ),
    Attack(
        "access-expired",
        "an expired access token",
        lambda a: _access(a, a.access_token("victim", exp=_now(a) - 3600)),
    ),
    Attack(
        "access-other-sub",
        "somebody else's access token (admin's scopes)",
        lambda a: _access(a, a.access_token("admin", scopes=["admin"], groups=["admins"])),
    ),
    Attack(
        "access-alg-none", "access token with alg none", lambda a: _unsigned_access(a, "none", None)
    ),
    Attack(
        "access-hs256-pem",
        "access token HS256 keyed with the pool's public PEM",
        lambda a: _access(a, _hs256_access(a)),
    ),
    Attack(
        "access-tampered", "scope widened, original signature", lambda a: _access(a, _widened(a))
    ),
    # --- bytes that are not what a server should pass on ----------------------------------------
    Attack(
        "data-control-char",
        "a control character in the data header",
        lambda a: _with(
            a,
            data=a.data_token("victim").encode()[:10]
            + b"\x01"
            + a.data_token("victim").encode()[10:],
        ),
    ),
    Attack(
        "data-utf8",
        "a non-ASCII character in the data header",
        lambda a: _with(a, data="é".encode() + a.data_token("victim").encode()),
    ),
    Attack(
        "access-control-char",
        "a control character in the access token",
        lambda a: _with(a, access=b"\x7f" + a.access_token("victim").encode()),
    ),
    Attack("access-utf8", "a non-ASCII access token", lambda a: _with(a, access="tökén".encode())),
    Attack(
        "identity-newline",
        "a header injection attempt in the identity",
        lambda a: _with(a, identity=b"victim\r\nx-amzn-oidc-identity: admin"),
    ),
    Attack("identity-nul", "a NUL after the right sub", lambda a: _with(a, identity=b"victim\x00")),
    Attack(
        "identity-latin1", "invalid UTF-8 in the identity", lambda a: _with(a, identity=b"\xff")
    ),
]


def _hs256_access(alb: FakeALB) -> str:
    claims = jwt.decode(alb.access_token("victim"), options={"verify_signature": False})
    header = b64url(json.dumps({"alg": "HS256", "kid": alb.pool_kid}).encode(), padded=False)
    body = b64url(json.dumps(claims).encode(), padded=False)
    mac = hmac.new(_pool_pem(alb), f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{b64url(mac, padded=False)}"


def _widened(alb: FakeALB) -> str:
    header, payload, signature = alb.access_token("victim").split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["scope"] = "openid admin"
    claims["cognito:groups"] = ["admins"]
    body = b64url(json.dumps(claims).encode(), padded=False)
    return f"{header}.{body}.{signature}"


#: Why each attack is refused: the `error` code of the 401 answer. Pinning it proves that each
#: case is stopped by the check it targets, not by an accident earlier on.
EXPECTED_ERROR = {
    "alg-none-unsigned": "malformed_token",
    "alg-none-64-bytes": "bad_alg",
    "hs256-pem-secret": "malformed_token",
    "hs256-64-bytes": "bad_alg",
    "rs256": "malformed_token",
    "es384": "malformed_token",
    "es512": "malformed_token",
    "es256-alg-lowercase": "bad_alg",
    "other-alb-same-key": "untrusted_signer",
    "attacker-key-right-signer": "bad_signature",
    "wrong-client": "bad_claim",
    "wrong-iss": "bad_claim",
    "iss-disagree": "bad_claim",
    "expired": "token_expired",
    "just-outside-leeway": "token_expired",
    "exp-disagree": "malformed_token",
    "exp-missing": "malformed_token",
    "tampered-payload": "bad_signature",
    "tampered-header": "bad_signature",
    "duplicate-json-keys": "untrusted_signer",
    "padding-stripped": "bad_signature",
    "signature-zeros": "bad_signature",
    "r-zero": "bad_signature",
    "s-zero": "bad_signature",
    "r-order": "bad_signature",
    "s-order": "bad_signature",
    "r-s-max": "bad_signature",
    "der-signature": "malformed_token",
    "der-of-psychic": "malformed_token",
    "signature-63": "malformed_token",
    "signature-65": "malformed_token",
    "two-segments": "malformed_token",
    "four-segments": "malformed_token",
    "empty-token": "malformed_token",
    "non-base64": "malformed_token",
    "standard-alphabet": "malformed_token",
    "too-much-padding": "malformed_token",
    "alias-in-signature": "malformed_token",
    "slash-in-payload": "malformed_token",
    "access-alias-in-signature": "bad_access_token",
    "access-replayed-by-another-user": "identity_mismatch",
    "header-not-json": "malformed_token",
    "payload-array": "malformed_token",
    "payload-nan": "malformed_token",
    "kid-not-uuid": "bad_claim",
    "kid-slash": "bad_claim",
    "kid-dotdot": "bad_claim",
    "kid-encoded-slash": "bad_claim",
    "kid-query": "bad_claim",
    "kid-fragment": "bad_claim",
    "kid-userinfo": "bad_claim",
    "kid-url": "bad_claim",
    "kid-10kb": "bad_claim",
    "kid-uuid-braces": "bad_claim",
    "data-duplicated": "bad_header",
    "data-comma-joined": "bad_header",
    "data-oversized": "bad_header",
    "identity-duplicated": "bad_header",
    "identity-other-sub": "identity_mismatch",
    "identity-unicode-lookalike": "identity_mismatch",
    "no-data-but-identity": "bad_header",
    "access-missing": "bad_access_token",
    "access-other-pool": "bad_access_token",
    "access-other-client": "bad_access_token",
    "access-id-token": "bad_access_token",
    "access-expired": "access_token_expired",
    "access-other-sub": "identity_mismatch",
    "access-alg-none": "bad_access_token",
    "access-hs256-pem": "bad_access_token",
    "access-tampered": "bad_access_token",
    "data-control-char": "bad_header",
    "data-utf8": "malformed_token",
    "access-control-char": "bad_header",
    "access-utf8": "bad_access_token",
    "identity-newline": "bad_header",
    "identity-nul": "bad_header",
    "identity-latin1": "identity_mismatch",
}
