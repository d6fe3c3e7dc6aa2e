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

`FakeIdP` is the same for any other OpenID Connect provider (Okta, Entra ID, Auth0, Keycloak, or
your machine clients' token issuer): it mints access and bearer tokens shaped for an
`OIDCAccessTokenConfig`, and serves its discovery document and JWKS through the same transport
as the ALB's keys:

    idp = FakeIdP(scopes_claim="scp", subject_claim="uid")
    config = alb.config(access_token=idp.config(), bearer=idp.config())
    app.add_middleware(ALBAuthMiddleware, config=config, http_client=alb.http_client(idp))
    client.get("/me", headers=alb.headers("alice", access_token=idp.access_token("alice")))
    client.get("/me", headers={"authorization": f"Bearer {idp.bearer_token('robot')}"})
"""

from __future__ import annotations

import base64
import hmac
import json
import os
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import httpx2
import jwt
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from .config import (
    _ALB_ARN,
    _KEY_URL_BY_PARTITION,
    JWT_ALGORITHMS,
    ALBConfig,
    CognitoConfig,
    OIDCAccessTokenConfig,
)
from .tokens import _UUID

__all__ = ["FakeALB", "FakeIdP", "b64url", "encode_data_token", "sign_es256"]

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


#: Seconds a Cognito access token is valid by default (the app client's setting, 5 minutes to
#: 1 day; "Access token expiration" in the Cognito developer guide).
COGNITO_ACCESS_TOKEN_LIFETIME = 3600


class FakeALB:
    """An ALB (and a Cognito user pool) for tests: real keys, real signatures, fake AWS.

    `alb_arn`, `client_id` and `user_pool_id` name the ALB, its app client and the user pool
    (the data token's `signer` and `client`, and the key and JWKS URLs). `issuer` is the data
    token's `iss` (default: the user pool's; give another IdP's issuer, e.g. `FakeIdP.issuer`,
    to test an `authenticate-oidc` rule). `kid` is the ALB key's id (a UUID, as the ALB's are;
    default: a new one). `clock` is used for `exp` (default `time.time`); pass the same clock to
    the middleware to test expiry without sleeping. `token_lifetime` is the data tokens'
    lifetime (the ALB's 120 s), `access_token_lifetime` the user pool's access tokens' (an hour,
    Cognito's default): a session's access token outlives many data tokens, as behind the ALB.
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
        access_token_lifetime: float = COGNITO_ACCESS_TOKEN_LIFETIME,
    ) -> None:
        arn = _ALB_ARN.fullmatch(alb_arn) if isinstance(alb_arn, str) else None
        if arn is None:
            raise ValueError(
                "alb_arn must be an Application Load Balancer ARN (arn:aws:elasticloadbalancing:"
                f"REGION:ACCOUNT:loadbalancer/app/NAME/ID), not {alb_arn!r}"
            )
        if kid is not None and not (isinstance(kid, str) and _UUID.fullmatch(kid)):
            raise ValueError(f"kid must be a UUID, as the ALB's key ids are, not {kid!r}")
        self.alb_arn = alb_arn
        self.partition, self.region = arn["partition"], arn["region"]
        default = _KEY_URL_BY_PARTITION.get(self.partition)
        # The key URL templates served: the partition's own (GovCloud's is an S3 bucket), and
        # any `key_url` given to `config()`; the last one is `key_url()`'s.
        self._key_url_templates: list[str] = [] if default is None else [default]
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
        self.access_token_lifetime = access_token_lifetime
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
        """Where `config()` fetches the public key for `kid` (default: this ALB's): the real
        AWS URL for the ARN's partition and region, or the `key_url` last given to `config()`."""
        if not self._key_url_templates:
            raise ValueError(
                f"partition {self.partition!r} has no documented ALB key endpoint: "
                "pass key_url to config()"
            )
        return self._filled(self._key_url_templates[-1], kid)

    def _filled(self, template: str, kid: str | None = None) -> str:
        """A key URL template with this ALB's region and `kid` (default: this ALB's) in it."""
        return template.replace("{region}", self.region).replace("{kid}", kid or self.kid)

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
        removes a field), so a test can forge any variant. `key` (a P-256 private key) signs
        instead of the ALB's key.
        """
        if key is not None and not (
            isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1)
        ):
            kind = type(key).__name__
            raise TypeError(f"key must be a P-256 EllipticCurvePrivateKey, not {kind}")
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
        header: Mapping[str, Any] | None = None,
        exp: float | None = None,
        key: rsa.RSAPrivateKey | None = None,
    ) -> str:
        """A Cognito-shaped RS256 access token (`token_use`, `client_id`, `scope`, groups),
        valid `access_token_lifetime` seconds unless `exp` is given.

        `scopes` and `groups` are names (a str is one name). `claims` are merged into the
        payload and `header` into the header (`kid` and `alg`, as Cognito's; None as a value
        removes a field); `key` (an RSA private key) signs instead of the pool's key.
        """
        if key is not None and not isinstance(key, rsa.RSAPrivateKey):
            raise TypeError(f"key must be an RSAPrivateKey, not {type(key).__name__}")
        now = int(self.clock())
        payload: dict[str, Any] = {
            "sub": sub,
            "iss": self.pool_issuer,
            "client_id": self.client_id,
            "origin_jti": str(uuid.uuid4()),
            "token_use": "access",
            "scope": " ".join(_names(scopes, "scopes")),
            "auth_time": now,
            "exp": int(now + self.access_token_lifetime) if exp is None else exp,
            "iat": now,
            "jti": str(uuid.uuid4()),
            "username": sub,
        }
        group_list = _names(groups, "groups")
        if group_list:
            payload["cognito:groups"] = group_list
        _merge(payload, claims)
        # Cognito's header holds `kid` and `alg` only ("Understanding the access token" in the
        # Cognito developer guide).
        head = {"kid": self.pool_kid, "alg": "RS256"}
        return _sign_jwt(payload, head, header, key or self.pool_key)

    def headers(
        self,
        sub: str = "user-1",
        *,
        email: str | None = None,
        scopes: Iterable[str] = ("openid",),
        groups: Iterable[str] = (),
        claims: Mapping[str, Any] | None = None,
        access_claims: Mapping[str, Any] | None = None,
        access_token: str | None = None,
    ) -> dict[str, str]:
        """The three headers the ALB sends for a logged-in user.

        The access token is this user pool's (with `scopes`, `groups` and `access_claims`),
        unless `access_token` gives another IdP's (`FakeIdP.access_token`, which takes the
        scopes and groups itself: they cannot be given here too).
        """
        if access_token is not None:
            given = [
                name
                for name, value in (
                    ("scopes", _names(scopes, "scopes") != ["openid"]),
                    ("groups", bool(_names(groups, "groups"))),
                    ("access_claims", access_claims is not None),
                )
                if value
            ]
            if given:
                raise ValueError(
                    f"{', '.join(given)} would be ignored with access_token=: give them to the "
                    "call that makes the access token"
                )
        else:
            access_token = self.access_token(
                sub, scopes=scopes, groups=groups, claims=access_claims
            )
        return {
            "x-amzn-oidc-data": self.data_token(sub, email=email, claims=claims),
            "x-amzn-oidc-accesstoken": access_token,
            "x-amzn-oidc-identity": sub,
        }

    def handle(self, request: httpx2.Request) -> httpx2.Response:
        """Answer a key request like AWS does: PEM per kid, JWKS for the pool; 404 otherwise."""
        url = str(request.url)
        self.requests.append(url)
        if request.method == "GET" and url in self._key_urls():
            return httpx2.Response(200, content=self.public_key_pem())
        if request.method == "GET" and url == self.jwks_url:
            return httpx2.Response(200, json=self.jwks())
        return httpx2.Response(404, text="not found")

    def _key_urls(self) -> set[str]:
        """This ALB's key URL under every template served, as httpx2 spells a request's URL."""
        return {str(httpx2.URL(self._filled(template))) for template in self._key_url_templates}

    def transport(self, *idps: FakeIdP) -> httpx2.MockTransport:
        """An `httpx2.MockTransport` serving this ALB's key and the pool's JWKS, and the
        discovery documents and JWKS of `idps`."""

        def handle(request: httpx2.Request) -> httpx2.Response:
            for idp in idps:
                response = idp.answer(request)
                if response is not None:
                    return response
            return self.handle(request)

        return httpx2.MockTransport(handle)

    def http_client(self, *idps: FakeIdP) -> httpx2.AsyncClient:
        """An `httpx2.AsyncClient` on `transport(*idps)`, to pass to the middleware."""
        return httpx2.AsyncClient(transport=self.transport(*idps))

    def config(self, *, cognito: bool | None = True, **overrides: Any) -> ALBConfig:
        """An `ALBConfig` trusting this ALB, its client and issuer, and its user pool's access
        tokens (unless `cognito` is false, or `access_token` is among the `overrides`).

        With a `key_url` override the transport serves the key there too (and `key_url()`
        names it); without one it is at the AWS URL for the ARN's partition."""
        if "access_token" in overrides:
            cognito = False
        settings: dict[str, Any] = {
            "alb_arns": [self.alb_arn],
            "client_ids": [self.client_id],
            "issuers": [self.issuer],
            "cognito": self.cognito_config() if cognito else None,
        }
        settings.update(overrides)
        config = ALBConfig(**settings)
        if config.key_url is not None:
            # Serve the key where this config fetches it, and name that URL in `key_url()`.
            if config.key_url in self._key_url_templates:
                self._key_url_templates.remove(config.key_url)
            self._key_url_templates.append(config.key_url)
        return config

    def cognito_config(self) -> CognitoConfig:
        """A `CognitoConfig` for this fake user pool."""
        return CognitoConfig(user_pool_id=self.user_pool_id, client_ids=[self.client_id])


DEFAULT_IDP_ISSUER = "https://idp.example.com/oauth2/default"


class FakeIdP:
    """An OpenID Connect provider for tests: real keys, fake network.

    Mints access tokens (for `ALBConfig.access_token`) and bearer tokens (for `ALBConfig.bearer`)
    signed with `algorithm` (`RS256`, `ES256`, or any other that `OIDCAccessTokenConfig`
    accepts), shaped for the claims the config names: scopes under `scopes_claim` (a
    space-separated string, or a list with `scopes_as_list=True`), groups under `groups_claim`
    (nested objects for a dotted name), and the user id under `subject_claim` (with `sub` then
    set to `{sub}@login`, as Okta does). With a `client_id` (the app client the ALB logs in
    with), access tokens name it in `client_claim`; bearer tokens name their machine client
    there. `FakeALB.transport(idp)` serves its discovery document at
    `{issuer}/.well-known/openid-configuration` and its JWKS at `jwks_url`; `config()` builds
    the matching `OIDCAccessTokenConfig`.
    """

    def __init__(
        self,
        *,
        issuer: str = DEFAULT_IDP_ISSUER,
        audiences: Iterable[str] = ("api://default",),
        algorithm: str = "RS256",
        scopes_claim: str | None = "scope",
        groups_claim: str | None = None,
        subject_claim: str | None = "sub",
        scopes_as_list: bool = False,
        client_id: str | None = None,
        client_claim: str = "client_id",
        kid: str | None = None,
        clock: Callable[[], float] = time.time,
        token_lifetime: float = 3600,
    ) -> None:
        self.issuer = issuer
        self.audiences = tuple(_names(audiences, "audiences"))
        self.client_id = client_id
        self.client_claim = client_claim
        self.algorithm = algorithm
        self.scopes_claim = scopes_claim
        self.groups_claim = groups_claim
        self.subject_claim = subject_claim
        self.scopes_as_list = scopes_as_list
        self.kid = kid or f"fake-idp-key-{uuid.uuid4().hex[:8]}"
        self.clock = clock
        self.token_lifetime = token_lifetime
        self.discovery_url = f"{issuer.rstrip('/')}/.well-known/openid-configuration"
        self.jwks_url = f"{issuer.rstrip('/')}/v1/keys"
        self.key = _private_key_for(algorithm)
        #: URLs requested through the transport, in order.
        self.requests: list[str] = []

    @classmethod
    def okta(cls, **overrides: Any) -> FakeIdP:
        """An Okta-shaped IdP, as an Okta authorization server issues access tokens: scopes in
        `scp` (a list), groups in `groups`, the user id in `uid` (`sub` is then the login), the
        client in `cid`, and the issuer `https://acme.okta.example/oauth2/default`. `overrides`
        are any other arguments of `FakeIdP` (`client_id`, `clock`, `token_lifetime`, ...) or
        replace these."""
        settings: dict[str, Any] = {
            "issuer": "https://acme.okta.example/oauth2/default",
            "scopes_claim": "scp",
            "scopes_as_list": True,
            "groups_claim": "groups",
            "subject_claim": "uid",
            "client_claim": "cid",
        }
        settings.update(overrides)
        return cls(**settings)

    def config(self, **overrides: Any) -> OIDCAccessTokenConfig:
        """The `OIDCAccessTokenConfig` for this IdP (its JWKS found by discovery)."""
        settings: dict[str, Any] = {
            "issuer": self.issuer,
            "audiences": self.audiences,
            "algorithms": (self.algorithm,),
            "scopes_claim": self.scopes_claim,
            "groups_claim": self.groups_claim,
            "subject_claim": self.subject_claim,
        }
        settings.update(overrides)
        return OIDCAccessTokenConfig(**settings)

    def discovery_document(self) -> dict[str, Any]:
        """The IdP's OpenID Provider metadata (the fields alb-oidc reads, and a few more)."""
        base = self.issuer.rstrip("/")
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{base}/v1/authorize",
            "token_endpoint": f"{base}/v1/token",
            "userinfo_endpoint": f"{base}/v1/userinfo",
            "jwks_uri": self.jwks_url,
            "id_token_signing_alg_values_supported": [self.algorithm],
        }

    def jwks(self) -> dict[str, Any]:
        """The IdP's JWKS document: its public key, with `kid`, `alg` and `use`."""
        public = self.key.public_key()
        if isinstance(public, rsa.RSAPublicKey):
            jwk = json.loads(RSAAlgorithm.to_jwk(public))
        else:
            jwk = json.loads(ECAlgorithm.to_jwk(public))
        jwk.update({"kid": self.kid, "alg": self.algorithm, "use": "sig"})
        return {"keys": [jwk]}

    def access_token(
        self,
        sub: str = "user-1",
        *,
        scopes: Iterable[str] = ("openid",),
        groups: Iterable[str] = (),
        claims: Mapping[str, Any] | None = None,
        header: Mapping[str, Any] | None = None,
        exp: float | None = None,
        key: Any = None,
    ) -> str:
        """An access token for user `sub` (the data token's `sub`, which the config binds).

        `scopes` and `groups` are names (a str is one name). `claims` are merged into the
        payload and `header` into the header (None removes a field), so a test can forge any
        variant; `key` signs instead of the IdP's key.
        """
        payload = self._payload(scopes, groups, exp)
        if self.client_id is not None:
            payload[self.client_claim] = self.client_id
        if self.subject_claim in (None, "sub"):
            payload["sub"] = sub
        else:
            payload["sub"] = f"{sub}@login"
            _set_path(payload, self.subject_claim, sub)
        _merge(payload, claims)
        return self._sign(payload, header, key)

    def bearer_token(
        self,
        client: str = "client-1",
        *,
        scopes: Iterable[str] = (),
        groups: Iterable[str] = (),
        claims: Mapping[str, Any] | None = None,
        header: Mapping[str, Any] | None = None,
        exp: float | None = None,
        key: Any = None,
    ) -> str:
        """A client-credentials token of machine client `client` (its `sub`, and its
        `client_claim`: `client_id`, or Okta's `cid`)."""
        payload = self._payload(scopes, groups, exp)
        payload["sub"] = payload[self.client_claim] = client
        _merge(payload, claims)
        return self._sign(payload, header, key)

    def _payload(
        self, scopes: Iterable[str], groups: Iterable[str], exp: float | None
    ) -> dict[str, Any]:
        now = int(self.clock())
        payload: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audiences[0] if len(self.audiences) == 1 else list(self.audiences),
            "iat": now,
            "exp": int(now + self.token_lifetime) if exp is None else exp,
            "jti": str(uuid.uuid4()),
        }
        scope_list = _names(scopes, "scopes")
        if self.scopes_claim is not None and scope_list:
            value = scope_list if self.scopes_as_list else " ".join(scope_list)
            _set_path(payload, self.scopes_claim, value)
        group_list = _names(groups, "groups")
        if self.groups_claim is not None and group_list:
            _set_path(payload, self.groups_claim, group_list)
        return payload

    def _sign(self, payload: dict[str, Any], header: Mapping[str, Any] | None, key: Any) -> str:
        head = {"typ": "JWT", "kid": self.kid, "alg": self.algorithm}
        return _sign_jwt(payload, head, header, key or self.key)

    def answer(self, request: httpx2.Request) -> httpx2.Response | None:
        """The discovery document or the JWKS for a GET of theirs; None for another URL."""
        url = str(request.url)
        if request.method != "GET" or url not in (self.discovery_url, self.jwks_url):
            return None
        self.requests.append(url)
        if url == self.discovery_url:
            return httpx2.Response(200, json=self.discovery_document())
        return httpx2.Response(200, json=self.jwks())

    def transport(self) -> httpx2.MockTransport:
        """An `httpx2.MockTransport` serving this IdP alone (404 for anything else)."""
        return httpx2.MockTransport(
            lambda request: self.answer(request) or httpx2.Response(404, text="not found")
        )


def _names(names: Iterable[str], what: str) -> list[str]:
    """Scopes, groups or audiences as a list; a str is one name (not its characters)."""
    if isinstance(names, str):
        return [names]
    if isinstance(names, bytes | Mapping) or not isinstance(names, Iterable):
        raise TypeError(f"{what} must be a str or an iterable of str, not {type(names).__name__}")
    return list(names)


def _sign_jwt(
    payload: dict[str, Any], head: dict[str, Any], header: Mapping[str, Any] | None, key: Any
) -> str:
    """A standard (unpadded) JWT of `payload`, its header `head` with `header` merged in (None
    removes a field), signed with `key` by the header's `alg` when the key can sign with it."""
    head = dict(head)
    _merge(head, header)
    algorithm = head.get("alg")
    if isinstance(algorithm, str) and _can_sign(key, algorithm):
        # PyJWS signs the payload as given: a test may forge any claim (an `iss` list too). A
        # `typ` it would add by itself is left out unless `head` has one.
        fields = {name: value for name, value in head.items() if name != "alg"}
        fields.setdefault("typ", None)
        signed: str = jwt.PyJWS().encode(_json(payload), key, algorithm=algorithm, headers=fields)
        return signed
    # What no IdP should send, for tests of refusals: `none` (no signature), HS* with the bytes
    # given as `key` (PyJWT refuses a public key as an HMAC secret), an algorithm the key cannot
    # sign with (64 random bytes).
    body = f"{b64url(_json(head), padded=False)}.{b64url(_json(payload), padded=False)}"
    signature = b"" if algorithm == "none" else os.urandom(64)
    if isinstance(algorithm, str) and algorithm.startswith("HS") and isinstance(key, bytes):
        digest = {"HS256": "sha256", "HS384": "sha384", "HS512": "sha512"}[algorithm]
        signature = hmac.new(key, body.encode("ascii"), digest).digest()
    return f"{body}.{b64url(signature, padded=False)}"


def _can_sign(key: Any, algorithm: str) -> bool:
    """Whether `key` is a private key for the asymmetric `algorithm` (its type, its curve)."""
    if algorithm not in JWT_ALGORITHMS:
        return False
    if algorithm[:2] in ("RS", "PS"):
        return isinstance(key, rsa.RSAPrivateKey)
    curve = {"ES256": "secp256r1", "ES384": "secp384r1", "ES512": "secp521r1"}[algorithm]
    return isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == curve


def _private_key_for(algorithm: str) -> Any:
    """A new private key for `algorithm`: RSA-2048 for RS*/PS*, the named curve for ES*."""
    curves: dict[str, ec.EllipticCurve] = {
        "ES256": ec.SECP256R1(),
        "ES384": ec.SECP384R1(),
        "ES512": ec.SECP521R1(),
    }
    if algorithm in curves:
        return ec.generate_private_key(curves[algorithm])
    if algorithm[:2] in ("RS", "PS"):
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    raise ValueError(f"FakeIdP signs with RS*, PS* or ES* algorithms, not {algorithm!r}")


def _set_path(target: dict[str, Any], path: str, value: Any) -> None:
    """Set `value` at a dotted `path`, making the nested objects on the way; a claim name
    that looks like a URL (`https://example.com/roles`) is set whole."""
    if "://" in path or "." not in path:
        target[path] = value
        return
    *parents, last = path.split(".")
    for part in parents:
        target = target.setdefault(part, {})
    target[last] = value


def _merge(target: dict[str, Any], changes: Mapping[str, Any] | None) -> None:
    for name, value in (changes or {}).items():
        if value is None:
            target.pop(name, None)
        else:
            target[name] = value
