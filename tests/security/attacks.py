"""The attack corpus: forged or malformed requests, each with a one-line reason.

Each case builds the request's headers (as raw ASGI pairs, so any byte can be sent). `ATTACKS`
build the ALB's headers from a `FakeALB` whose key and user pool the app trusts;
`TOKEN_ATTACKS` aim at another IdP's access tokens (`ALBConfig.access_token`) and machine
clients' bearer tokens (`ALBConfig.bearer`), each sent to the app of its setting (`SETTINGS`),
next to `CONTROLS` that app must accept. `test_corpus.py` sends every case to an app behind
`ALBAuthMiddleware` and expects 401 with the pinned error code (and, for token attacks, a part
of the detail) and no outbound fetch. `KNOWN_BUGS` lists the cases the library fails today.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import jwt
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from alb_oidc import ALBConfig
from alb_oidc.authenticator import MAX_HEADER_BYTES
from alb_oidc.testing import FakeALB, FakeIdP, b64url, sign_es256

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
    Attack(
        "data-signed-deep-claim",
        "validly signed by the ALB, a userinfo claim of 600 nested arrays (within orjson's 1024)",
        lambda a: _data(a, claims={"x": _nested(600)}),
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


# --- access tokens of any OpenID Connect IdP, and machine clients' bearer tokens ---------------
#
# These need an app that verifies another IdP's access tokens (`ALBConfig.access_token`) or
# bearer tokens (`ALBConfig.bearer`): each `TokenAttack` names its setting (`SETTINGS`), whose
# `Scene` holds the ALB, the IdP and the app's configuration. The app is warmed up with the
# victim's valid login and a valid bearer token first, so every key is held.

IDP_ISSUER = "https://idp.example.com/oauth2/default"
APP_AUDIENCE = "api://default"  # the access tokens' `aud`: the app behind the ALB's login
API_AUDIENCE = "https://api.example.com"  # the bearer tokens' `aud`: the same app, as an API
EC_KID, PS_KID = "idp-es256-key", "idp-ps256-key"  # the mixed setting's second and third keys
AUTHORIZATION = b"authorization"


class IdP(FakeIdP):
    """A `FakeIdP` whose JWKS also publishes `extra` keys: `kid` -> (private key, JWK `alg`)."""

    def __init__(self, **settings: Any) -> None:
        super().__init__(**settings)
        self.extra: dict[str, tuple[Any, str]] = {}

    def jwks(self) -> dict[str, Any]:
        document = super().jwks()
        for kid, (key, alg) in self.extra.items():
            public = key.public_key()
            codec = RSAAlgorithm if isinstance(public, rsa.RSAPublicKey) else ECAlgorithm
            jwk = json.loads(codec.to_jwk(public))
            document["keys"].append({**jwk, "kid": kid, "alg": alg, "use": "sig"})
        return document


@dataclass(frozen=True)
class Scene:
    """One app's setting: the ALB; the IdP, whose access tokens are for APP_AUDIENCE; the same
    IdP (issuer and keys) as `machines`, minting bearer tokens for API_AUDIENCE; the config."""

    alb: FakeALB
    idp: IdP
    machines: IdP
    config: ALBConfig
    memo: dict[str, Any] = field(default_factory=dict)

    def mint(self, kind: str, **kwargs: Any) -> str:
        """The victim's access token (`kind` "access") or machine client `job`'s bearer token
        (`kind` "bearer"), minted with `FakeIdP`'s arguments."""
        if kind == "access":
            return self.idp.access_token("victim", **kwargs)
        return self.machines.bearer_token("job", **kwargs)

    def audience(self, kind: str) -> str:
        return APP_AUDIENCE if kind == "access" else API_AUDIENCE

    def groups_claim(self, kind: str) -> str:
        claim = (self.idp if kind == "access" else self.machines).groups_claim
        assert claim is not None
        return claim

    def login(self, access_token: str | bytes, sub: str = "victim") -> Headers:
        """`sub`'s valid ALB login (its data token and identity) carrying `access_token`."""
        raw = access_token.encode() if isinstance(access_token, str) else access_token
        return [(DATA, self.alb.data_token(sub).encode()), (ACCESS, raw), (IDENTITY, sub.encode())]

    def bearer(self, token: str | bytes, scheme: bytes = b"Bearer ") -> Headers:
        raw = token.encode() if isinstance(token, str) else token
        return [(AUTHORIZATION, scheme + raw)]

    def key(self, kid: str) -> Any:
        """The private key of one of the IdP's extra keys."""
        return self.idp.extra[kid][0]

    def once(self, name: str, make: Callable[[], Any]) -> Any:
        """`make()`, made once per scene: the same bytes for a priming request and the attack."""
        if name not in self.memo:
            self.memo[name] = make()
        return self.memo[name]

    def warm_up(self) -> list[Headers]:
        """Valid requests, each accepted, that leave every key held: the victim's login with an
        access token of the IdP, and a machine client's bearer token."""
        requests = []
        if self.config.access_token is not None:
            requests.append(self.login(self.mint("access", scopes=["openid"])))
        if self.config.bearer is not None:
            requests.append(self.bearer(self.mint("bearer", scopes=["reports:read"])))
        return requests


def _setting(
    alb: FakeALB,
    *,
    access: bool = True,
    bearer: bool = True,
    alb_arns: bool = True,
    algorithms: tuple[str, ...] = ("RS256",),
    userinfo_groups: str | None = None,
    issuer: str = IDP_ISSUER,
    **shape: Any,
) -> Scene:
    idp = IdP(
        issuer=issuer, audiences=[APP_AUDIENCE], algorithm=algorithms[0], clock=alb.clock, **shape
    )
    machines = copy.copy(idp)  # the same issuer and keys (served once, by `idp`)
    machines.audiences, machines.groups_claim = (API_AUDIENCE,), "roles"
    machines.scopes_claim, machines.subject_claim, machines.scopes_as_list = "scope", "sub", False
    settings: dict[str, Any] = {"leeway": LEEWAY, "groups_claim": userinfo_groups}
    if access:
        settings["access_token"] = idp.config(algorithms=algorithms)
    if bearer:
        settings["bearer"] = machines.config(algorithms=algorithms)
    if alb_arns:
        config = alb.config(cognito=False, **settings)
    else:
        config = ALBConfig(alb_arns=[], **settings)
    return Scene(alb, idp, machines, config)


def _mixed(alb: FakeALB) -> Scene:
    scene = _setting(alb, algorithms=("RS256", "ES256", "PS256"))
    scene.idp.extra[EC_KID] = (ec.generate_private_key(ec.SECP256R1()), "ES256")
    scene.idp.extra[PS_KID] = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "PS256",
    )
    return scene


#: The apps the token attacks are sent to, by name.
SETTINGS: dict[str, Callable[[FakeALB], Scene]] = {
    # RS256 only; groups in `groups` (access tokens), `roles` (bearer) and the userinfo's `groups`.
    "oidc": lambda alb: _setting(alb, groups_claim="groups", userinfo_groups="groups"),
    # RS256, ES256 and PS256: the IdP's RSA key (its JWK says RS256), an EC key (ES256) and a
    # second RSA key (PS256), so a key of each type is one `kid` away.
    "mixed": _mixed,
    # Okta-shaped: `scp` a list, `groups`, and the user id in `uid` (`sub` is the login).
    "okta": lambda alb: _setting(
        alb,
        bearer=False,
        issuer="https://acme.okta.example/oauth2/default",
        scopes_claim="scp",
        scopes_as_list=True,
        groups_claim="groups",
        subject_claim="uid",
    ),
    # Keycloak-shaped: a client's roles at a dotted path.
    "keycloak": lambda alb: _setting(
        alb,
        bearer=False,
        issuer="https://sso.example.com/realms/acme",
        groups_claim="resource_access.api.roles",
    ),
    # An API that only machine clients call: no ALB is trusted at all.
    "api-only": lambda alb: _setting(alb, access=False, alb_arns=False),
}


@dataclass(frozen=True)
class TokenAttack:
    """One forged request to the app of `setting`: `build(scene)` returns its headers, sent
    after the `prime` requests (each of which must be accepted)."""

    name: str
    reason: str
    setting: str
    build: Callable[[Scene], Headers]
    prime: Callable[[Scene], list[Headers]] | None = None


@dataclass(frozen=True)
class Control:
    """A request to the app of `setting` that must be accepted as `sub`: it proves the setting
    accepts what the attacks next to it twist, so their refusals mean something."""

    name: str
    reason: str
    setting: str
    build: Callable[[Scene], Headers]
    sub: str


def _twins(
    suffix: str, reason: str, token: Callable[[Scene, str], str], setting: str = "oidc"
) -> list[TokenAttack]:
    """The same forgery as an access token (`oidc-<suffix>`, in the victim's ALB login) and as
    a bearer token (`bearer-<suffix>`); `token(scene, kind)` makes it."""
    return [
        TokenAttack(f"oidc-{suffix}", reason, setting, lambda s: s.login(token(s, "access"))),
        TokenAttack(f"bearer-{suffix}", reason, setting, lambda s: s.bearer(token(s, "bearer"))),
    ]


def _public_pem(key: Any) -> bytes:
    return bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


def _published_jwk(scene: Scene) -> bytes:
    """The IdP's RSA key exactly as its JWKS publishes it (what an attacker downloads)."""
    return json.dumps(scene.idp.jwks()["keys"][0]).encode()


def _json_segment(segment: str) -> dict[str, Any]:
    return dict(json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))))


def _jwt_parts(token: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    header, payload, signature = token.split(".")
    return _json_segment(header), _json_segment(payload), signature


def _compact(header: dict[str, Any], claims: dict[str, Any], sign: Callable[[bytes], bytes]) -> str:
    head = b64url(json.dumps(header).encode(), padded=False)
    body = b64url(json.dumps(claims).encode(), padded=False)
    return f"{head}.{body}.{b64url(sign(f'{head}.{body}'.encode()), padded=False)}"


def _rs256_by(key: Any) -> Callable[[bytes], bytes]:
    return lambda message: bytes(key.sign(message, padding.PKCS1v15(), hashes.SHA256()))


def _resigned(
    scene: Scene, kind: str, *, claims: dict[str, Any] | None = None, **header: Any
) -> str:
    """A valid token of `kind` whose header gets `header` and whose payload gets `claims` (None
    removes a field), then signed RS256 by the IdP's own key: a valid signature, so only the
    check aimed at can stop it. For values `FakeIdP` cannot sign: PyJWT refuses to encode them,
    and `FakeIdP` then falls back to random signature bytes."""
    head, payload, _ = _jwt_parts(scene.mint(kind))
    for fields, changes in ((head, header), (payload, claims or {})):
        for name, value in changes.items():
            if value is None:
                fields.pop(name, None)
            else:
                fields[name] = value
    return _compact(head, payload, _rs256_by(scene.idp.key))


def _with_signature(token: str, signature: bytes) -> str:
    head, payload, _ = token.split(".")
    return f"{head}.{payload}.{b64url(signature, padded=False)}"


def _widened_jwt(token: str) -> str:
    head, _, signature = token.split(".")
    claims = _jwt_parts(token)[1]
    claims.update(scope="openid admin", groups=["admins"], roles=["admins"])
    return f"{head}.{b64url(json.dumps(claims).encode(), padded=False)}.{signature}"


def _padded_jwt(token: str) -> str:
    """`token` with its segments padded the ALB's way (`=`); one `=` more if none needed it."""
    padded = ".".join(s + "=" * (-len(s) % 4) for s in token.split("."))
    return padded if "=" in padded else padded + "=="


def _deep_payload(token: str) -> str:
    """`token`'s header and signature around a payload of 5,000 nested arrays."""
    head, _, signature = token.split(".")
    return f"{head}.{b64url(b'[' * 5000 + b']' * 5000, padded=False)}.{signature}"


def _nested(depth: int) -> list[Any]:
    """`depth` arrays, each holding the next: `[[[...]]]`."""
    value: list[Any] = []
    for _ in range(depth - 1):
        value = [value]
    return value


def _names(count: int) -> list[str]:
    return [f"group-{index:05d}" for index in range(count)]


def _fitting(mint: Callable[[list[str]], str]) -> int:
    """The largest number of groups whose token `mint(groups)` fits in one 16 KB header."""
    low, high = 1, 2000
    while low < high:
        middle = (low + high + 1) // 2
        if len(mint(_names(middle))) <= MAX_HEADER_BYTES:
            low = middle
        else:
            high = middle - 1
    return low


def _under_the_cap(mint: Callable[[list[str]], str]) -> str:
    """The largest token `mint(groups)` makes that still fits in one 16 KB header."""
    token = mint(_names(_fitting(mint)))
    assert MAX_HEADER_BYTES - 64 < len(token) <= MAX_HEADER_BYTES, len(token)
    return token


def _past_the_cap(mint: Callable[[list[str]], str]) -> str:
    """The smallest token `mint(groups)` makes that no longer fits: one group more."""
    token = mint(_names(_fitting(mint) + 1))
    assert MAX_HEADER_BYTES < len(token) < MAX_HEADER_BYTES + 64, len(token)
    return token


def _mallorys_token(scene: Scene) -> str:
    return str(scene.once("mallory", lambda: scene.idp.access_token("mallory", scopes=["admin"])))


TOKEN_ATTACKS = [
    # --- algorithm confusion: RS / PS / ES / HS / none -----------------------------------------
    *_twins("alg-none", "alg none, no signature", lambda s, k: s.mint(k, header={"alg": "none"})),
    *_twins(
        "alg-none-capitalised",
        "alg None with a signature-sized blob",
        lambda s, k: s.mint(k, header={"alg": "None"}),
    ),
    *_twins(
        "hs256-pem",
        "HS256 keyed with the IdP's RSA public key as PEM (key confusion)",
        lambda s, k: s.mint(k, header={"alg": "HS256"}, key=_public_pem(s.idp.key)),
    ),
    *_twins(
        "hs256-jwk",
        "HS256 keyed with the IdP's RSA public key as its JWKS publishes it (JWK JSON)",
        lambda s, k: s.mint(k, header={"alg": "HS256"}, key=_published_jwk(s)),
    ),
    *_twins(
        "es256-on-rs256-config",
        "ES256 with an attacker's P-256 key, where only RS256 is configured",
        lambda s, k: s.mint(
            k, header={"alg": "ES256"}, key=ec.generate_private_key(ec.SECP256R1())
        ),
    ),
    *_twins(
        "ps256-on-rs256-config",
        "PS256 validly signed by the IdP's own key, where only RS256 is configured",
        lambda s, k: s.mint(k, header={"alg": "PS256"}),
    ),
    *_twins(
        "alg-missing",
        "no alg at all, validly RS256-signed by the IdP's key",
        lambda s, k: _resigned(s, k, alg=None),
    ),
    *_twins(
        "alg-list",
        "alg a list holding RS256, validly signed",
        lambda s, k: _resigned(s, k, alg=["RS256"]),
    ),
    *_twins(
        "alg-object",
        "alg an object, validly signed",
        lambda s, k: _resigned(s, k, alg={"RS256": True}),
    ),
    *_twins(
        "alg-lowercase",
        "alg spelled rs256, validly signed",
        lambda s, k: _resigned(s, k, alg="rs256"),
    ),
    *_twins(
        "rs256-names-the-ec-key",
        "RS256 signed by the IdP's RSA key, its kid naming the IdP's EC key (both configured)",
        lambda s, k: s.mint(k, header={"alg": "RS256", "kid": EC_KID}),
        "mixed",
    ),
    *_twins(
        "es256-names-the-rsa-key",
        "ES256 signed by the IdP's EC key, its kid naming the IdP's RSA key (both configured)",
        lambda s, k: s.mint(k, header={"alg": "ES256"}, key=s.key(EC_KID)),
        "mixed",
    ),
    *_twins(
        "rs256-with-a-ps256-jwk",
        "a valid RS256 signature by the key whose JWK says alg PS256 (both configured)",
        lambda s, k: s.mint(k, header={"alg": "RS256", "kid": PS_KID}, key=s.key(PS_KID)),
        "mixed",
    ),
    *_twins(
        "ps256-with-an-rs256-jwk",
        "a valid PS256 signature by the key whose JWK says alg RS256 (both configured)",
        lambda s, k: s.mint(k, header={"alg": "PS256"}),
        "mixed",
    ),
    *_twins(
        "es256-psychic",
        "ES256 naming the IdP's EC key, r = s = 0",
        lambda s, k: _with_signature(
            s.mint(k, header={"alg": "ES256", "kid": EC_KID}, key=s.key(EC_KID)), bytes(64)
        ),
        "mixed",
    ),
    *_twins(
        "hs256-ec-pem",
        "HS256 keyed with the IdP's EC public key as PEM, naming that key",
        lambda s, k: s.mint(
            k, header={"alg": "HS256", "kid": EC_KID}, key=_public_pem(s.key(EC_KID))
        ),
        "mixed",
    ),
    # --- whose token: aud and iss --------------------------------------------------------------
    *_twins("aud-absent", "no aud", lambda s, k: s.mint(k, claims={"aud": None})),
    *_twins("aud-other", "aud another API", lambda s, k: s.mint(k, claims={"aud": "api://other"})),
    *_twins(
        "aud-list-without-ours",
        "aud a list of other APIs",
        lambda s, k: s.mint(k, claims={"aud": ["api://other", "https://other.example.com"]}),
    ),
    *_twins(
        "aud-nested-list",
        "aud a list holding a list holding ours",
        lambda s, k: s.mint(k, claims={"aud": [[s.audience(k)]]}),
    ),
    *_twins(
        "aud-object",
        "aud an object whose key is ours",
        lambda s, k: s.mint(k, claims={"aud": {s.audience(k): True}}),
    ),
    *_twins(
        "iss-trailing-slash",
        "iss with a trailing slash",
        lambda s, k: s.mint(k, claims={"iss": IDP_ISSUER + "/"}),
    ),
    *_twins(
        "iss-other-host",
        "iss another host, same path",
        lambda s, k: s.mint(k, claims={"iss": "https://evil.example.com/oauth2/default"}),
    ),
    *_twins(
        "iss-uppercase-host",
        "iss with the host in capitals (the same URL, another string)",
        lambda s, k: s.mint(k, claims={"iss": IDP_ISSUER.replace("idp.example", "IDP.EXAMPLE")}),
    ),
    *_twins("iss-absent", "no iss", lambda s, k: s.mint(k, claims={"iss": None})),
    *_twins(
        "iss-list",
        "iss a list holding ours, validly signed (PyJWT will not encode it)",
        lambda s, k: _resigned(s, k, claims={"iss": [IDP_ISSUER]}),
    ),
    # --- time -------------------------------------------------------------------------------
    *_twins(
        "expired", "expired an hour ago", lambda s, k: s.mint(k, exp=int(s.alb.clock()) - 3600)
    ),
    *_twins(
        "expired-past-leeway",
        "expired leeway + 1 s ago",
        lambda s, k: s.mint(k, exp=int(s.alb.clock()) - LEEWAY - 1),
    ),
    *_twins("exp-missing", "no exp", lambda s, k: s.mint(k, claims={"exp": None})),
    *_twins(
        "exp-string", "exp a string of digits", lambda s, k: s.mint(k, claims={"exp": "9999999999"})
    ),
    *_twins(
        "nbf-future",
        "nbf beyond the leeway",
        lambda s, k: s.mint(k, claims={"nbf": int(s.alb.clock()) + LEEWAY + 1}),
    ),
    *_twins(
        "iat-future",
        "iat beyond the leeway",
        lambda s, k: s.mint(k, claims={"iat": int(s.alb.clock()) + LEEWAY + 1}),
    ),
    # --- keys and signatures -----------------------------------------------------------------
    *_twins(
        "kid-unknown",
        "a kid the JWKS does not hold (no refetch within the cooldown)",
        lambda s, k: s.mint(k, header={"kid": "unknown-kid"}),
    ),
    *_twins("kid-number", "kid a number", lambda s, k: _resigned(s, k, kid=7)),
    *_twins(
        "kid-oversized",
        "a kid of 257 characters, validly signed",
        lambda s, k: _resigned(s, k, kid="k" * 257),
    ),
    *_twins(
        "signed-by-another-idp",
        "the IdP's kid, signed by another IdP's RSA key",
        lambda s, k: s.mint(k, key=s.alb.pool_key),
    ),
    *_twins(
        "tampered",
        "scope and groups widened, original signature",
        lambda s, k: _widened_jwt(s.mint(k)),
    ),
    *_twins(
        "signature-empty",
        "RS256 with an empty signature",
        lambda s, k: s.mint(k).rsplit(".", 1)[0] + ".",
    ),
    *_twins(
        "signature-oversized",
        "RS256 with a 512-byte signature",
        lambda s, k: _with_signature(s.mint(k), b"\x01" * 512),
    ),
    # --- bytes on the wire -------------------------------------------------------------------
    *_twins(
        "alias-in-signature",
        "one '-' or '_' of a valid signature written as '+' or '/'",
        lambda s, k: _alias_in_signature(lambda: s.mint(k), False),
    ),
    *_twins("padded", "a valid token padded with '='", lambda s, k: _padded_jwt(s.mint(k))),
    *_twins(
        "opaque", "an opaque token (RFC 6749's example)", lambda s, k: "2YotnFZFEjr1zCsicMWpAA"
    ),
    *_twins(
        "deep-json",
        "a payload of 5,000 nested arrays",
        lambda s, k: _deep_payload(s.mint(k)),
    ),
    *_twins(
        "groups-enormous",
        "20,000 groups: far past the 16 KB header cap",
        lambda s, k: s.mint(k, groups=_names(20_000)),
    ),
    *_twins(
        "groups-just-past-the-cap",
        "groups making the token 16 KB + 1 byte or more",
        lambda s, k: _past_the_cap(lambda names: s.mint(k, groups=names)),
    ),
    # --- claim types ----------------------------------------------------------------------
    *_twins(
        "groups-object",
        "groups an object {'admin': true}",
        lambda s, k: s.mint(k, claims={s.groups_claim(k): {"admin": True}}),
    ),
    *_twins(
        "groups-list-with-object",
        "groups a list holding an object",
        lambda s, k: s.mint(k, claims={s.groups_claim(k): ["users", {"admin": True}]}),
    ),
    *_twins(
        "groups-list-with-number",
        "groups a list holding a number",
        lambda s, k: s.mint(k, claims={s.groups_claim(k): ["users", 1]}),
    ),
    *_twins("groups-true", "groups true", lambda s, k: s.mint(k, claims={s.groups_claim(k): True})),
    *_twins("scopes-number", "scope a number", lambda s, k: s.mint(k, claims={"scope": 7})),
    *_twins(
        "scopes-object",
        "scope an object",
        lambda s, k: s.mint(k, claims={"scope": {"admin": "yes"}}),
    ),
    *_twins(
        "scopes-list-with-number",
        "scope a list holding a number",
        lambda s, k: s.mint(k, claims={"scope": ["openid", 1]}),
    ),
    *_twins("sub-absent", "no sub", lambda s, k: s.mint(k, claims={"sub": None})),
    *_twins("sub-number", "sub a number", lambda s, k: s.mint(k, claims={"sub": 7})),
    *_twins("sub-empty", "sub an empty string", lambda s, k: s.mint(k, claims={"sub": ""})),
    *_twins(
        "signed-deep-claim",
        "validly signed by the IdP, a claim of 600 nested arrays (within orjson's 1024)",
        lambda s, k: s.mint(k, claims={"x": _nested(600)}),
    ),
    # --- access tokens: whose, and where ----------------------------------------------------
    TokenAttack(
        "oidc-other-users-token",
        "the victim's login with mallory's access token (admin scope)",
        "oidc",
        lambda s: s.login(_mallorys_token(s)),
    ),
    TokenAttack(
        "oidc-other-users-cached-token",
        "mallory's access token, accepted (and cached) with her login, replayed in the victim's",
        "oidc",
        lambda s: s.login(_mallorys_token(s)),
        prime=lambda s: [s.login(_mallorys_token(s), "mallory")],
    ),
    TokenAttack(
        "oidc-bearer-token-as-access-token",
        "a machine client's bearer token (the API's audience) in the victim's login",
        "oidc",
        lambda s: s.login(s.mint("bearer")),
    ),
    TokenAttack(
        "oidc-id-token-as-access-token",
        "an id token of the same IdP (aud the OAuth client) in the access token's place",
        "oidc",
        lambda s: s.login(s.mint("access", claims={"aud": s.alb.client_id, "nonce": "n"})),
    ),
    TokenAttack(
        "oidc-access-missing",
        "access_token configured, the access header absent",
        "oidc",
        lambda s: [(n, v) for n, v in s.login("unused") if n != ACCESS],
    ),
    TokenAttack(
        "oidc-access-empty",
        "the victim's login with an empty access header",
        "oidc",
        lambda s: s.login(b""),
    ),
    TokenAttack(
        "oidc-access-without-data",
        "a valid access token without the data token",
        "oidc",
        lambda s: [(ACCESS, s.mint("access").encode())],
    ),
    TokenAttack(
        "oidc-bearer-token-in-access-header",
        "a valid bearer token in x-amzn-oidc-accesstoken, without the data token",
        "oidc",
        lambda s: [(ACCESS, s.mint("bearer").encode())],
    ),
    TokenAttack(
        "userinfo-groups-object",
        "the userinfo's groups an object {'admins': 1}",
        "oidc",
        lambda s: [
            (DATA, s.alb.data_token("victim", claims={"groups": {"admins": 1}}).encode()),
            (ACCESS, s.mint("access").encode()),
        ],
    ),
    TokenAttack(
        "userinfo-groups-list-with-object",
        "the userinfo's groups a list holding an object",
        "oidc",
        lambda s: [
            (DATA, s.alb.data_token("victim", claims={"groups": ["a", {"b": 1}]}).encode()),
            (ACCESS, s.mint("access").encode()),
        ],
    ),
    # --- the subject binding (Okta: the user id is `uid`, `sub` the login) -------------------
    TokenAttack(
        "okta-other-users-token",
        "the victim's login with mallory's access token (admin scope)",
        "okta",
        lambda s: s.login(s.idp.access_token("mallory", scopes=["admin"])),
    ),
    TokenAttack(
        "okta-sub-is-the-victims",
        "mallory's access token whose sub (not uid) says victim",
        "okta",
        lambda s: s.login(s.idp.access_token("mallory", claims={"sub": "victim"})),
    ),
    TokenAttack(
        "okta-uid-absent",
        "no uid (sub alone)",
        "okta",
        lambda s: s.login(s.idp.access_token("victim", claims={"uid": None, "sub": "victim"})),
    ),
    TokenAttack(
        "okta-uid-list",
        "uid a list holding the victim's id",
        "okta",
        lambda s: s.login(s.idp.access_token("victim", claims={"uid": ["victim"]})),
    ),
    TokenAttack(
        "okta-scp-object",
        "scp an object",
        "okta",
        lambda s: s.login(s.idp.access_token("victim", claims={"scp": {"admin": True}})),
    ),
    # --- dotted paths (Keycloak: resource_access.api.roles) ---------------------------------
    TokenAttack(
        "keycloak-path-middle-list",
        "resource_access.api a list",
        "keycloak",
        lambda s: s.login(
            s.mint("access", claims={"resource_access": {"api": ["roles", "admin"]}})
        ),
    ),
    TokenAttack(
        "keycloak-path-middle-string",
        "resource_access.api a string",
        "keycloak",
        lambda s: s.login(s.mint("access", claims={"resource_access": {"api": "roles admin"}})),
    ),
    TokenAttack(
        "keycloak-path-top-list",
        "resource_access a list",
        "keycloak",
        lambda s: s.login(
            s.mint("access", claims={"resource_access": [{"api": {"roles": ["admin"]}}]})
        ),
    ),
    TokenAttack(
        "keycloak-path-leaf-object",
        "resource_access.api.roles an object",
        "keycloak",
        lambda s: s.login(
            s.mint("access", claims={"resource_access": {"api": {"roles": {"admin": True}}}})
        ),
    ),
    TokenAttack(
        "keycloak-whole-name-object",
        "a claim named resource_access.api.roles (taken before the walk) holding an object",
        "keycloak",
        lambda s: s.login(s.mint("access", claims={"resource_access.api.roles": {"admin": 1}})),
    ),
    # --- bearer tokens: what the Authorization header holds ----------------------------------
    TokenAttack(
        "bearer-data-token",
        "the victim's data token (padded ALB token) as a bearer token",
        "oidc",
        lambda s: s.bearer(s.alb.data_token("victim")),
    ),
    TokenAttack(
        "bearer-access-token-of-the-app",
        "the victim's access token (the app's audience, same IdP and key) as a bearer token",
        "oidc",
        lambda s: s.bearer(s.mint("access", scopes=["reports:read"])),
    ),
    TokenAttack("bearer-empty", "'Bearer ' and nothing", "oidc", lambda s: s.bearer(b"")),
    TokenAttack(
        "bearer-scheme-only", "'Bearer' without a space", "oidc", lambda s: s.bearer(b"", b"Bearer")
    ),
    TokenAttack(
        "bearer-scheme-twice",
        "'Bearer Bearer <token>'",
        "oidc",
        lambda s: s.bearer(s.mint("bearer"), b"Bearer Bearer "),
    ),
    TokenAttack(
        "bearer-comma-joined",
        "two bearer tokens in one header (what a proxy makes of two)",
        "oidc",
        lambda s: s.bearer(f"{s.mint('bearer')}, Bearer {s.mint('bearer')}"),
    ),
    TokenAttack(
        "bearer-two-tokens",
        "two bearer tokens separated by a space",
        "oidc",
        lambda s: s.bearer(f"{s.mint('bearer')} {s.mint('bearer')}"),
    ),
    TokenAttack(
        "authorization-duplicated",
        "two Authorization headers, each a valid bearer token",
        "oidc",
        lambda s: [*s.bearer(s.mint("bearer")), *s.bearer(s.machines.bearer_token("other"))],
    ),
    TokenAttack(
        "authorization-duplicated-other-case",
        "Authorization and authorization, each a valid bearer token",
        "oidc",
        lambda s: [
            (b"Authorization", b"Bearer " + s.mint("bearer").encode()),
            *s.bearer(s.machines.bearer_token("other")),
        ],
    ),
    TokenAttack(
        "bearer-with-stray-access-header",
        "a valid bearer token, and x-amzn-oidc-accesstoken without the data token",
        "oidc",
        lambda s: [(ACCESS, s.mint("access").encode()), *s.bearer(s.mint("bearer"))],
    ),
    TokenAttack(
        "bearer-with-stray-identity",
        "a valid bearer token, and x-amzn-oidc-identity: victim without the data token",
        "oidc",
        lambda s: [(IDENTITY, b"victim"), *s.bearer(s.mint("bearer"))],
    ),
    TokenAttack(
        "bearer-with-expired-login",
        "an expired ALB login next to a valid bearer token (the ALB's headers decide)",
        "oidc",
        lambda s: [
            (DATA, s.alb.data_token("victim", exp=int(s.alb.clock()) - 3600).encode()),
            *s.bearer(s.mint("bearer")),
        ],
    ),
    TokenAttack(
        "bearer-with-forged-login",
        "a login forged with the attacker's key next to the attacker's valid bearer token",
        "oidc",
        lambda s: [
            (
                DATA,
                s.alb.data_token("victim", key=ec.generate_private_key(ec.SECP256R1())).encode(),
            ),
            *s.bearer(s.mint("bearer")),
        ],
    ),
    TokenAttack(
        "bearer-with-empty-data-header",
        "an empty x-amzn-oidc-data next to a valid bearer token (present, so the ALB's)",
        "oidc",
        lambda s: [(DATA, b""), *s.bearer(s.mint("bearer"))],
    ),
    TokenAttack(
        "bearer-control-char",
        "a control character after a valid bearer token",
        "oidc",
        lambda s: s.bearer(s.mint("bearer") + "\x01"),
    ),
    TokenAttack(
        "bearer-utf8",
        "a non-ASCII bearer token",
        "oidc",
        lambda s: s.bearer("tökén".encode()),
    ),
    TokenAttack(
        "bearer-tab-separated",
        "'Bearer<TAB><token>' (not the Bearer scheme: no credentials)",
        "oidc",
        lambda s: s.bearer(s.mint("bearer"), b"Bearer\t"),
    ),
    TokenAttack(
        "api-only-alb-login",
        "a valid ALB login to an API that trusts no ALB",
        "api-only",
        lambda s: s.login(s.mint("access")),
    ),
]


CONTROLS = [
    Control(
        "oidc-groups-under-the-cap",
        "an access token of as many groups as fit in 16 KB",
        "oidc",
        lambda s: s.login(_under_the_cap(lambda names: s.mint("access", groups=names))),
        "victim",
    ),
    Control(
        "bearer-roles-under-the-cap",
        "a bearer token of as many roles as fit in 16 KB",
        "oidc",
        lambda s: s.bearer(_under_the_cap(lambda names: s.mint("bearer", groups=names))),
        "job",
    ),
    Control(
        "oidc-login-with-garbage-bearer",
        "the victim's valid login next to a garbage bearer token (the ALB's headers decide)",
        "oidc",
        lambda s: [*s.login(s.mint("access")), *s.bearer(b"garbage")],
        "victim",
    ),
    Control(
        "mixed-es256-access",
        "ES256 by the IdP's EC key",
        "mixed",
        lambda s: s.login(
            s.mint("access", header={"alg": "ES256", "kid": EC_KID}, key=s.key(EC_KID))
        ),
        "victim",
    ),
    Control(
        "mixed-ps256-access",
        "PS256 by the IdP's PS256 key",
        "mixed",
        lambda s: s.login(
            s.mint("access", header={"alg": "PS256", "kid": PS_KID}, key=s.key(PS_KID))
        ),
        "victim",
    ),
    Control(
        "mixed-es256-bearer",
        "ES256 by the IdP's EC key",
        "mixed",
        lambda s: s.bearer(
            s.mint("bearer", header={"alg": "ES256", "kid": EC_KID}, key=s.key(EC_KID))
        ),
        "job",
    ),
    Control(
        "mixed-ps256-bearer",
        "PS256 by the IdP's PS256 key",
        "mixed",
        lambda s: s.bearer(
            s.mint("bearer", header={"alg": "PS256", "kid": PS_KID}, key=s.key(PS_KID))
        ),
        "job",
    ),
    Control(
        "okta-login",
        "the victim's Okta-shaped access token",
        "okta",
        lambda s: s.login(s.mint("access", scopes=["openid"], groups=["admins"])),
        "victim",
    ),
    Control(
        "keycloak-login",
        "the victim's Keycloak-shaped access token, roles at the dotted path",
        "keycloak",
        lambda s: s.login(s.mint("access", groups=["editor"])),
        "victim",
    ),
    Control(
        "api-only-bearer",
        "a machine client of an API that trusts no ALB",
        "api-only",
        lambda s: s.bearer(s.mint("bearer")),
        "job",
    ),
]


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
    "data-signed-deep-claim": "malformed_token",
    # access tokens of any IdP (access_token=) and bearer tokens (bearer=)
    "oidc-alg-none": "bad_access_token",
    "bearer-alg-none": "invalid_token",
    "oidc-alg-none-capitalised": "bad_access_token",
    "bearer-alg-none-capitalised": "invalid_token",
    "oidc-hs256-pem": "bad_access_token",
    "bearer-hs256-pem": "invalid_token",
    "oidc-hs256-jwk": "bad_access_token",
    "bearer-hs256-jwk": "invalid_token",
    "oidc-es256-on-rs256-config": "bad_access_token",
    "bearer-es256-on-rs256-config": "invalid_token",
    "oidc-ps256-on-rs256-config": "bad_access_token",
    "bearer-ps256-on-rs256-config": "invalid_token",
    "oidc-alg-missing": "bad_access_token",
    "bearer-alg-missing": "invalid_token",
    "oidc-alg-list": "bad_access_token",
    "bearer-alg-list": "invalid_token",
    "oidc-alg-object": "bad_access_token",
    "bearer-alg-object": "invalid_token",
    "oidc-alg-lowercase": "bad_access_token",
    "bearer-alg-lowercase": "invalid_token",
    "oidc-rs256-names-the-ec-key": "bad_access_token",
    "bearer-rs256-names-the-ec-key": "invalid_token",
    "oidc-es256-names-the-rsa-key": "bad_access_token",
    "bearer-es256-names-the-rsa-key": "invalid_token",
    "oidc-rs256-with-a-ps256-jwk": "bad_access_token",
    "bearer-rs256-with-a-ps256-jwk": "invalid_token",
    "oidc-ps256-with-an-rs256-jwk": "bad_access_token",
    "bearer-ps256-with-an-rs256-jwk": "invalid_token",
    "oidc-es256-psychic": "bad_access_token",
    "bearer-es256-psychic": "invalid_token",
    "oidc-hs256-ec-pem": "bad_access_token",
    "bearer-hs256-ec-pem": "invalid_token",
    "oidc-aud-absent": "bad_access_token",
    "bearer-aud-absent": "invalid_token",
    "oidc-aud-other": "bad_access_token",
    "bearer-aud-other": "invalid_token",
    "oidc-aud-list-without-ours": "bad_access_token",
    "bearer-aud-list-without-ours": "invalid_token",
    "oidc-aud-nested-list": "bad_access_token",
    "bearer-aud-nested-list": "invalid_token",
    "oidc-aud-object": "bad_access_token",
    "bearer-aud-object": "invalid_token",
    "oidc-iss-trailing-slash": "bad_access_token",
    "bearer-iss-trailing-slash": "invalid_token",
    "oidc-iss-other-host": "bad_access_token",
    "bearer-iss-other-host": "invalid_token",
    "oidc-iss-uppercase-host": "bad_access_token",
    "bearer-iss-uppercase-host": "invalid_token",
    "oidc-iss-absent": "bad_access_token",
    "bearer-iss-absent": "invalid_token",
    "oidc-expired": "access_token_expired",
    "bearer-expired": "invalid_token",
    "oidc-expired-past-leeway": "access_token_expired",
    "bearer-expired-past-leeway": "invalid_token",
    "oidc-exp-missing": "bad_access_token",
    "bearer-exp-missing": "invalid_token",
    "oidc-exp-string": "bad_access_token",
    "bearer-exp-string": "invalid_token",
    "oidc-nbf-future": "bad_access_token",
    "bearer-nbf-future": "invalid_token",
    "oidc-iat-future": "bad_access_token",
    "bearer-iat-future": "invalid_token",
    "oidc-kid-unknown": "bad_access_token",
    "bearer-kid-unknown": "invalid_token",
    "oidc-kid-number": "bad_access_token",
    "bearer-kid-number": "invalid_token",
    "oidc-signed-by-another-idp": "bad_access_token",
    "bearer-signed-by-another-idp": "invalid_token",
    "oidc-tampered": "bad_access_token",
    "bearer-tampered": "invalid_token",
    "oidc-signature-empty": "bad_access_token",
    "bearer-signature-empty": "invalid_token",
    "oidc-signature-oversized": "bad_access_token",
    "bearer-signature-oversized": "invalid_token",
    "oidc-alias-in-signature": "bad_access_token",
    "bearer-alias-in-signature": "invalid_token",
    "oidc-padded": "bad_access_token",
    "bearer-padded": "invalid_token",
    "oidc-opaque": "bad_access_token",
    "bearer-opaque": "invalid_token",
    "oidc-deep-json": "bad_access_token",
    "bearer-deep-json": "invalid_token",
    "oidc-groups-enormous": "bad_header",
    "bearer-groups-enormous": "invalid_token",
    "oidc-groups-just-past-the-cap": "bad_header",
    "bearer-groups-just-past-the-cap": "invalid_token",
    "oidc-groups-object": "bad_access_token",
    "bearer-groups-object": "invalid_token",
    "oidc-groups-list-with-object": "bad_access_token",
    "bearer-groups-list-with-object": "invalid_token",
    "oidc-groups-list-with-number": "bad_access_token",
    "bearer-groups-list-with-number": "invalid_token",
    "oidc-groups-true": "bad_access_token",
    "bearer-groups-true": "invalid_token",
    "oidc-scopes-number": "bad_access_token",
    "bearer-scopes-number": "invalid_token",
    "oidc-scopes-object": "bad_access_token",
    "bearer-scopes-object": "invalid_token",
    "oidc-scopes-list-with-number": "bad_access_token",
    "bearer-scopes-list-with-number": "invalid_token",
    "oidc-sub-absent": "bad_access_token",
    "bearer-sub-absent": "invalid_token",
    "oidc-sub-number": "bad_access_token",
    "bearer-sub-number": "invalid_token",
    "oidc-other-users-token": "identity_mismatch",
    "oidc-other-users-cached-token": "identity_mismatch",
    "oidc-bearer-token-as-access-token": "bad_access_token",
    "oidc-id-token-as-access-token": "bad_access_token",
    "oidc-access-missing": "bad_access_token",
    "oidc-access-without-data": "bad_header",
    "oidc-bearer-token-in-access-header": "bad_header",
    "userinfo-groups-object": "bad_claim",
    "userinfo-groups-list-with-object": "bad_claim",
    "okta-other-users-token": "identity_mismatch",
    "okta-sub-is-the-victims": "identity_mismatch",
    "okta-uid-absent": "bad_access_token",
    "okta-uid-list": "bad_access_token",
    "okta-scp-object": "bad_access_token",
    "keycloak-path-middle-list": "bad_access_token",
    "keycloak-path-middle-string": "bad_access_token",
    "keycloak-path-top-list": "bad_access_token",
    "keycloak-path-leaf-object": "bad_access_token",
    "keycloak-whole-name-object": "bad_access_token",
    "bearer-data-token": "invalid_token",
    "bearer-access-token-of-the-app": "invalid_token",
    "bearer-empty": "invalid_token",
    "bearer-scheme-only": "invalid_token",
    "bearer-scheme-twice": "invalid_token",
    "bearer-comma-joined": "invalid_token",
    "bearer-two-tokens": "invalid_token",
    "authorization-duplicated": "bad_header",
    "authorization-duplicated-other-case": "bad_header",
    "bearer-with-stray-access-header": "bad_header",
    "bearer-with-stray-identity": "bad_header",
    "bearer-with-expired-login": "token_expired",
    "bearer-with-forged-login": "bad_signature",
    "bearer-control-char": "invalid_token",
    "bearer-utf8": "invalid_token",
    "bearer-tab-separated": "missing_token",
    "oidc-iss-list": "bad_access_token",
    "bearer-iss-list": "invalid_token",
    "oidc-kid-oversized": "bad_access_token",
    "bearer-kid-oversized": "invalid_token",
    "oidc-sub-empty": "bad_access_token",
    "bearer-sub-empty": "invalid_token",
    "oidc-signed-deep-claim": "bad_access_token",
    "bearer-signed-deep-claim": "invalid_token",
    "oidc-access-empty": "bad_access_token",
    "bearer-with-empty-data-header": "malformed_token",
    "api-only-alb-login": "untrusted_signer",
}

#: What the `detail` of each token attack's 401 says (a part of it): with its `error` code, this
#: pins the check that stops it (a bad access token is `bad_access_token` whichever check fails).
EXPECTED_DETAIL = {
    "oidc-alg-none": "is not one of the configured algorithms",
    "bearer-alg-none": "is not one of the configured algorithms",
    "oidc-alg-none-capitalised": "is not one of the configured algorithms",
    "bearer-alg-none-capitalised": "is not one of the configured algorithms",
    "oidc-hs256-pem": "is not one of the configured algorithms",
    "bearer-hs256-pem": "is not one of the configured algorithms",
    "oidc-hs256-jwk": "is not one of the configured algorithms",
    "bearer-hs256-jwk": "is not one of the configured algorithms",
    "oidc-es256-on-rs256-config": "is not one of the configured algorithms",
    "bearer-es256-on-rs256-config": "is not one of the configured algorithms",
    "oidc-ps256-on-rs256-config": "is not one of the configured algorithms",
    "bearer-ps256-on-rs256-config": "is not one of the configured algorithms",
    "oidc-alg-missing": "`alg` is not one of the configured algorithms",
    "bearer-alg-missing": "`alg` is not one of the configured algorithms",
    "oidc-alg-list": "`alg` is not one of the configured algorithms",
    "bearer-alg-list": "`alg` is not one of the configured algorithms",
    "oidc-alg-object": "`alg` is not one of the configured algorithms",
    "bearer-alg-object": "`alg` is not one of the configured algorithms",
    "oidc-alg-lowercase": "`alg` is not one of the configured algorithms",
    "bearer-alg-lowercase": "`alg` is not one of the configured algorithms",
    "oidc-rs256-names-the-ec-key": "`alg` does not match the key its `kid` names",
    "bearer-rs256-names-the-ec-key": "`alg` does not match the key its `kid` names",
    "oidc-es256-names-the-rsa-key": "`alg` does not match the key its `kid` names",
    "bearer-es256-names-the-rsa-key": "`alg` does not match the key its `kid` names",
    "oidc-rs256-with-a-ps256-jwk": "`alg` does not match the key its `kid` names",
    "bearer-rs256-with-a-ps256-jwk": "`alg` does not match the key its `kid` names",
    "oidc-ps256-with-an-rs256-jwk": "`alg` does not match the key its `kid` names",
    "bearer-ps256-with-an-rs256-jwk": "`alg` does not match the key its `kid` names",
    "oidc-es256-psychic": "signature is invalid",
    "bearer-es256-psychic": "signature is invalid",
    "oidc-hs256-ec-pem": "is not one of the configured algorithms",
    "bearer-hs256-ec-pem": "is not one of the configured algorithms",
    "oidc-aud-absent": "`aud` holds none of the configured audiences",
    "bearer-aud-absent": "`aud` holds none of the configured audiences",
    "oidc-aud-other": "`aud` holds none of the configured audiences",
    "bearer-aud-other": "`aud` holds none of the configured audiences",
    "oidc-aud-list-without-ours": "`aud` holds none of the configured audiences",
    "bearer-aud-list-without-ours": "`aud` holds none of the configured audiences",
    "oidc-aud-nested-list": "`aud` holds none of the configured audiences",
    "bearer-aud-nested-list": "`aud` holds none of the configured audiences",
    "oidc-aud-object": "`aud` holds none of the configured audiences",
    "bearer-aud-object": "`aud` holds none of the configured audiences",
    "oidc-iss-trailing-slash": "`iss` is not the configured issuer",
    "bearer-iss-trailing-slash": "`iss` is not the configured issuer",
    "oidc-iss-other-host": "`iss` is not the configured issuer",
    "bearer-iss-other-host": "`iss` is not the configured issuer",
    "oidc-iss-uppercase-host": "`iss` is not the configured issuer",
    "bearer-iss-uppercase-host": "`iss` is not the configured issuer",
    "oidc-iss-absent": "`iss` is not the configured issuer",
    "bearer-iss-absent": "`iss` is not the configured issuer",
    "oidc-expired": "token expired",
    "bearer-expired": "token expired",
    "oidc-expired-past-leeway": "token expired",
    "bearer-expired-past-leeway": "token expired",
    "oidc-exp-missing": "has no numeric `exp`",
    "bearer-exp-missing": "has no numeric `exp`",
    "oidc-exp-string": "`exp` is not a number",
    "bearer-exp-string": "`exp` is not a number",
    "oidc-nbf-future": "is not valid yet (`nbf`)",
    "bearer-nbf-future": "is not valid yet (`nbf`)",
    "oidc-iat-future": "was issued in the future (`iat`)",
    "bearer-iat-future": "was issued in the future (`iat`)",
    "oidc-kid-unknown": "`kid` is not in the IdP's JWKS",
    "bearer-kid-unknown": "`kid` is not in the IdP's JWKS",
    "oidc-kid-number": "has no usable `kid`",
    "bearer-kid-number": "has no usable `kid`",
    "oidc-signed-by-another-idp": "signature is invalid",
    "bearer-signed-by-another-idp": "signature is invalid",
    "oidc-tampered": "signature is invalid",
    "bearer-tampered": "signature is invalid",
    "oidc-signature-empty": "malformed",
    "bearer-signature-empty": "malformed",
    "oidc-signature-oversized": "signature is invalid",
    "bearer-signature-oversized": "signature is invalid",
    "oidc-alias-in-signature": "malformed",
    "bearer-alias-in-signature": "malformed",
    "oidc-padded": "malformed",
    "bearer-padded": "malformed",
    "oidc-opaque": "is not a JWT (an opaque token cannot be verified)",
    "bearer-opaque": "is not a JWT (an opaque token cannot be verified)",
    "oidc-deep-json": "malformed",
    "bearer-deep-json": "malformed",
    "oidc-groups-enormous": "authentication header is too large",
    "bearer-groups-enormous": "authentication header is too large",
    "oidc-groups-just-past-the-cap": "authentication header is too large",
    "bearer-groups-just-past-the-cap": "authentication header is too large",
    "oidc-groups-object": "is not a string or a list of strings",
    "bearer-groups-object": "is not a string or a list of strings",
    "oidc-groups-list-with-object": "is not a string or a list of strings",
    "bearer-groups-list-with-object": "is not a string or a list of strings",
    "oidc-groups-list-with-number": "is not a string or a list of strings",
    "bearer-groups-list-with-number": "is not a string or a list of strings",
    "oidc-groups-true": "is not a string or a list of strings",
    "bearer-groups-true": "is not a string or a list of strings",
    "oidc-scopes-number": "`scope` is not a string or a list of strings",
    "bearer-scopes-number": "`scope` is not a string or a list of strings",
    "oidc-scopes-object": "`scope` is not a string or a list of strings",
    "bearer-scopes-object": "`scope` is not a string or a list of strings",
    "oidc-scopes-list-with-number": "`scope` is not a string or a list of strings",
    "bearer-scopes-list-with-number": "`scope` is not a string or a list of strings",
    "oidc-sub-absent": "has no `sub` string",
    "bearer-sub-absent": "has no `sub` string",
    "oidc-sub-number": "has no `sub` string",
    "bearer-sub-number": "has no `sub` string",
    "oidc-other-users-token": "access token `sub` differs from the verified user",
    "oidc-other-users-cached-token": "access token `sub` differs from the verified user",
    "oidc-bearer-token-as-access-token": "`aud` holds none of the configured audiences",
    "oidc-id-token-as-access-token": "`aud` holds none of the configured audiences",
    "oidc-access-missing": "x-amzn-oidc-accesstoken is required but missing",
    "oidc-access-without-data": "x-amzn-oidc-data is missing but other ALB headers",
    "oidc-bearer-token-in-access-header": "x-amzn-oidc-data is missing but other ALB headers",
    "userinfo-groups-object": "userinfo `groups` is not a string or a list of strings",
    "userinfo-groups-list-with-object": "userinfo `groups` is not a string or a list of strings",
    "okta-other-users-token": "access token `uid` differs from the verified user",
    "okta-sub-is-the-victims": "access token `uid` differs from the verified user",
    "okta-uid-absent": "access token has no `uid` string",
    "okta-uid-list": "access token has no `uid` string",
    "okta-scp-object": "`scp` is not a string or a list of strings",
    "keycloak-path-middle-list": "is not inside an object",
    "keycloak-path-middle-string": "is not inside an object",
    "keycloak-path-top-list": "is not inside an object",
    "keycloak-path-leaf-object": "`resource_access.api.roles` is not a string or a list",
    "keycloak-whole-name-object": "`resource_access.api.roles` is not a string or a list",
    "bearer-data-token": "bearer token is malformed",
    "bearer-access-token-of-the-app": "`aud` holds none of the configured audiences",
    "bearer-empty": "bearer token is empty",
    "bearer-scheme-only": "bearer token is empty",
    "bearer-scheme-twice": "bearer token is not a JWT",
    "bearer-comma-joined": "authentication header holds several values",
    "bearer-two-tokens": "bearer token is not a JWT",
    "authorization-duplicated": "authentication header is duplicated",
    "authorization-duplicated-other-case": "authentication header is duplicated",
    "bearer-with-stray-access-header": "x-amzn-oidc-data is missing but other ALB headers",
    "bearer-with-stray-identity": "x-amzn-oidc-data is missing but other ALB headers",
    "bearer-with-expired-login": "token expired",
    "bearer-with-forged-login": "token signature is invalid",
    "bearer-control-char": "authentication header has control characters",
    "bearer-utf8": "bearer token is not ASCII",
    "bearer-tab-separated": "not authenticated",
    "oidc-iss-list": "`iss` is not the configured issuer",
    "bearer-iss-list": "`iss` is not the configured issuer",
    "oidc-kid-oversized": "has no usable `kid`",
    "bearer-kid-oversized": "has no usable `kid`",
    "oidc-sub-empty": "has no `sub` string",
    "bearer-sub-empty": "has no `sub` string",
    "oidc-signed-deep-claim": "claims nest deeper than 64 levels",
    "bearer-signed-deep-claim": "claims nest deeper than 64 levels",
    "oidc-access-empty": "access token is not a JWT",
    "bearer-with-empty-data-header": "token is not three base64url segments",
    "api-only-alb-login": "is not one of the configured alb_arns",
}


class KnownBug(NamedTuple):
    """What goes wrong with a case today: why, and the exception the test dies of."""

    reason: str
    raises: type[BaseException]


#: Cases whose correct outcome the library does not give yet: the corpus asserts the correct
#: outcome and marks them xfail(strict=True, raises=...), so a fix turns them into failures
#: that say to move them out of here, and any other failure is reported as such.
KNOWN_BUGS: dict[str, KnownBug] = {}
