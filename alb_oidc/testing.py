"""Test helpers for apps that use alb-oidc: a fake ALB that mints real, verifiable tokens.

`FakeALB` owns a P-256 key (the ALB's) and an RSA key (a Cognito user pool's), mints tokens in the
exact wire format (padded segments, 64-byte r || s signatures), serves both public keys through an
`httpx2.MockTransport` at the real AWS URLs, and builds a matching `ALBConfig`. Nothing is
mocked inside alb-oidc: your app's middleware verifies these tokens exactly as it verifies the
ALB's. Keys are generated per instance; nothing secret is stored anywhere.

    alb = FakeALB()
    app.add_middleware(ALBAuthMiddleware, config=alb.config(), http_client=alb.http_client())
    client = TestClient(app)
    client.get("/me", headers=alb.headers("alice", scopes=["tasks/read"], groups=["admins"]))

With pytest the `fake_alb` fixture gives a fresh instance (the plugin is registered on install).
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import httpx2
import jwt
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from jwt.algorithms import RSAAlgorithm

from .config import ALBConfig, CognitoConfig

__all__ = ["FakeALB", "b64url", "encode_data_token", "sign_es256"]

DEFAULT_ALB_ARN = (
    "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/test-alb/0123456789abcdef"
)
DEFAULT_CLIENT_ID = "testclient0123456789abcdef"
DEFAULT_USER_POOL_ID = "eu-west-1_TestPool1"


def b64url(data: bytes, *, padded: bool = True) -> str:
    """base64url; padded with `=` like the ALB unless `padded=False` (the JWT standard)."""
    encoded = base64.urlsafe_b64encode(data).decode("ascii")
    return encoded if padded else encoded.rstrip("=")


def sign_es256(key: ec.EllipticCurvePrivateKey, message: bytes) -> bytes:
    """An ES256 signature in JOSE form: 64 raw bytes r || s (not DER)."""
    r, s = decode_dss_signature(key.sign(message, ec.ECDSA(hashes.SHA256())))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def _json(value: Mapping[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode("utf-8")


def encode_data_token(
    key: ec.EllipticCurvePrivateKey,
    header: Mapping[str, Any],
    payload: Mapping[str, Any],
    *,
    padded: bool = True,
) -> str:
    """An `x-amzn-oidc-data` token: padded base64url segments, signature over the padded text."""
    signing_input = (
        f"{b64url(_json(header), padded=padded)}.{b64url(_json(payload), padded=padded)}"
    )
    signature = sign_es256(key, signing_input.encode("ascii"))
    return f"{signing_input}.{b64url(signature, padded=padded)}"


class FakeALB:
    """An ALB (and a Cognito user pool) for tests: real keys, real signatures, fake AWS.

    `clock` is used for `exp` (default `time.time`); pass the same clock to the middleware to
    test expiry without sleeping. `token_lifetime` is the data and access tokens' lifetime.
    """

    def __init__(
        self,
        *,
        alb_arn: str = DEFAULT_ALB_ARN,
        client_id: str = DEFAULT_CLIENT_ID,
        user_pool_id: str = DEFAULT_USER_POOL_ID,
        issuer: str | None = None,
        kid: str | None = None,
        clock: Callable[[], float] = time.time,
        token_lifetime: float = 120,
    ) -> None:
        self.alb_arn = alb_arn
        self.region = alb_arn.split(":")[3]
        self.client_id = client_id
        self.user_pool_id = user_pool_id
        pool_region = user_pool_id.split("_", 1)[0]
        self.pool_issuer = f"https://cognito-idp.{pool_region}.amazonaws.com/{user_pool_id}"
        self.issuer = issuer or self.pool_issuer
        self.jwks_url = f"{self.pool_issuer}/.well-known/jwks.json"
        self.kid = kid or str(uuid.uuid4())
        self.pool_kid = f"fake-pool-key-{uuid.uuid4().hex[:8]}"
        self.clock = clock
        self.token_lifetime = token_lifetime
        self.alb_key = ec.generate_private_key(ec.SECP256R1())
        self._pool_key: rsa.RSAPrivateKey | None = None
        #: URLs requested through `transport()`, in order (to assert on caching and fetch counts).
        self.requests: list[str] = []

    @property
    def pool_key(self) -> rsa.RSAPrivateKey:
        """The user pool's RSA signing key (generated on first use: it takes a moment)."""
        if self._pool_key is None:
            self._pool_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return self._pool_key

    def key_url(self, kid: str | None = None) -> str:
        """Where the real ALB publishes the public key for `kid` (default: this ALB's)."""
        return f"https://public-keys.auth.elb.{self.region}.amazonaws.com/{kid or self.kid}"

    def public_key_pem(self) -> bytes:
        """The ALB public key as the key endpoint serves it."""
        return self.alb_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def jwks(self) -> dict[str, Any]:
        """The user pool's JWKS document."""
        jwk = json.loads(RSAAlgorithm.to_jwk(self.pool_key.public_key()))
        jwk.update({"kid": self.pool_kid, "alg": "RS256", "use": "sig"})
        return {"keys": [jwk]}

    def data_token(
        self,
        sub: str = "user-1",
        *,
        email: str | None = None,
        claims: Mapping[str, Any] | None = None,
        header: Mapping[str, Any] | None = None,
        exp: float | None = None,
        padded: bool = True,
        key: ec.EllipticCurvePrivateKey | None = None,
    ) -> str:
        """An `x-amzn-oidc-data` token in the ALB's wire format.

        `claims` are merged into the payload and `header` into the header (None as a value
        removes a field), so a test can forge any variant. `key` signs instead of the ALB's key.
        """
        expires = int(self.clock() + self.token_lifetime) if exp is None else exp
        payload: dict[str, Any] = {
            "sub": sub,
            "email": email if email is not None else f"{sub}@example.com",
            "email_verified": "true",
            "username": sub,
            "exp": expires,
            "iss": self.issuer,
        }
        head: dict[str, Any] = {
            "typ": "JWT",
            "kid": self.kid,
            "alg": "ES256",
            "iss": self.issuer,
            "client": self.client_id,
            "signer": self.alb_arn,
            "exp": expires,
        }
        _merge(payload, claims)
        _merge(head, header)
        return encode_data_token(key or self.alb_key, head, payload, padded=padded)

    def access_token(
        self,
        sub: str = "user-1",
        *,
        scopes: Iterable[str] = ("openid",),
        groups: Iterable[str] = (),
        claims: Mapping[str, Any] | None = None,
        exp: float | None = None,
        key: rsa.RSAPrivateKey | None = None,
    ) -> str:
        """A Cognito-shaped RS256 access token (`token_use`, `client_id`, `scope`, groups)."""
        now = int(self.clock())
        payload: dict[str, Any] = {
            "sub": sub,
            "iss": self.pool_issuer,
            "client_id": self.client_id,
            "origin_jti": str(uuid.uuid4()),
            "token_use": "access",
            "scope": " ".join(scopes),
            "auth_time": now,
            "exp": int(now + self.token_lifetime) if exp is None else exp,
            "iat": now,
            "jti": str(uuid.uuid4()),
            "username": sub,
        }
        group_list = list(groups)
        if group_list:
            payload["cognito:groups"] = group_list
        _merge(payload, claims)
        return jwt.encode(
            payload, key or self.pool_key, algorithm="RS256", headers={"kid": self.pool_kid}
        )

    def headers(
        self,
        sub: str = "user-1",
        *,
        email: str | None = None,
        scopes: Iterable[str] = ("openid",),
        groups: Iterable[str] = (),
        claims: Mapping[str, Any] | None = None,
        access_claims: Mapping[str, Any] | None = None,
    ) -> dict[str, str]:
        """The three headers the ALB sends for a logged-in user."""
        return {
            "x-amzn-oidc-data": self.data_token(sub, email=email, claims=claims),
            "x-amzn-oidc-accesstoken": self.access_token(
                sub, scopes=scopes, groups=groups, claims=access_claims
            ),
            "x-amzn-oidc-identity": sub,
        }

    def handle(self, request: httpx2.Request) -> httpx2.Response:
        """Answer a key request like AWS does: PEM per kid, JWKS for the pool; 404 otherwise."""
        url = str(request.url)
        self.requests.append(url)
        if request.method == "GET" and url == self.key_url():
            return httpx2.Response(200, content=self.public_key_pem())
        if request.method == "GET" and url == self.jwks_url:
            return httpx2.Response(200, json=self.jwks())
        return httpx2.Response(404, text="not found")

    def transport(self) -> httpx2.MockTransport:
        """An `httpx2.MockTransport` serving this ALB's key and the pool's JWKS."""
        return httpx2.MockTransport(self.handle)

    def http_client(self) -> httpx2.AsyncClient:
        """An `httpx2.AsyncClient` on `transport()`, to pass to the middleware."""
        return httpx2.AsyncClient(transport=self.transport())

    def config(self, *, cognito: bool = True, **overrides: Any) -> ALBConfig:
        """An `ALBConfig` trusting this ALB, its client and issuer (and its user pool)."""
        settings: dict[str, Any] = {
            "alb_arns": [self.alb_arn],
            "client_ids": [self.client_id],
            "issuers": [self.issuer],
            "cognito": self.cognito_config() if cognito else None,
        }
        settings.update(overrides)
        return ALBConfig(**settings)

    def cognito_config(self) -> CognitoConfig:
        """A `CognitoConfig` for this fake user pool."""
        return CognitoConfig(user_pool_id=self.user_pool_id, client_ids=[self.client_id])


def _merge(target: dict[str, Any], changes: Mapping[str, Any] | None) -> None:
    for name, value in (changes or {}).items():
        if value is None:
            target.pop(name, None)
        else:
            target[name] = value
