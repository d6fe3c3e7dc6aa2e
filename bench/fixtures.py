"""The tokens every contender verifies: ALB-sized, realistic, made once per run.

A real data token carries the IdP's userinfo; with Cognito that is `sub`, `email`,
`email_verified` (the string "true"), `username` and often `name`, which (with the header's ARN,
issuer and client) puts a token at about 850 bytes; federated users' `identities` add more.
The same claims are signed in the ALB's padded format (what we verify) and in the standard
unpadded format (what PyJWT accepts).

Like the real ALB, `TokenSet.stream` signs a new data token for every request, while each user
keeps the one access token of their session. The ALB's header carries `exp` (the request's time
plus 120 s), so the tokens it signs in one second share their header bytes: `stream` gives one
round of the users per second (`count` tokens per header), `stream(quiet=True)` a second of its
own to every token, as a quiet app gets them.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from jwt.algorithms import ECAlgorithm

from alb_oidc import ALBConfig
from alb_oidc.testing import FakeALB, FakeIdP


def okta_idp() -> FakeIdP:
    """An Okta-shaped IdP: RS256, `scp` a list, `groups`, the user id in `uid`."""
    return FakeIdP.okta(token_lifetime=LIFETIME)


def userinfo(index: int) -> dict[str, Any]:
    """Claims shaped like a Cognito user pool's userinfo (what the ALB puts in the payload)."""
    return {
        "sub": str(uuid.UUID(int=index + 1)),
        "email_verified": "true",
        "email": f"user{index:06d}@example.com",
        "username": str(uuid.UUID(int=index + 1)),
        "name": f"Example User {index:06d}",
    }


#: Seconds the tokens stay valid: longer than any run, so none expires while it is measured.
LIFETIME = 3 * 3600


@dataclass
class TokenSet:
    """`count` users' tokens from one fake ALB (one data token and one access token each), valid
    for `LIFETIME` seconds from now.

    One more user is minted at index `count` (the spare): its request warms the key caches
    without touching the tokens being measured.
    """

    count: int
    with_access: bool = True
    #: Another IdP's access tokens (Okta-shaped, `access_token=`) instead of Cognito's, and a
    #: machine client's bearer token per user (`bearer=`).
    idp: FakeIdP | None = None
    #: Without `with_access`: each user still sends an opaque access token (Google's `ya29.`
    #: kind), which the ALB forwards and the middleware must read past.
    opaque: bool = False
    alb: FakeALB = field(init=False)
    data: list[bytes] = field(init=False, default_factory=list)
    standard: list[str] = field(init=False, default_factory=list)
    access: list[bytes] = field(init=False, default_factory=list)
    subs: list[str] = field(init=False, default_factory=list)
    bearer: list[bytes] = field(init=False, default_factory=list)
    streamed: int = field(init=False, default=0)
    _quiet_last: bool = field(init=False, default=False)

    def __post_init__(self) -> None:
        self.alb = FakeALB(token_lifetime=LIFETIME, clock=time.time)
        # The second (`exp`) of the last streamed token: past the users' own tokens, so no
        # streamed token repeats one's header and payload.
        self._second = int(self.alb.clock()) + LIFETIME
        for index in range(self.count + 1):
            self.add(index)

    def add(self, index: int) -> None:
        """Mint user `index`'s tokens."""
        claims = userinfo(index)
        sub = claims["sub"]
        self.subs.append(sub)
        self.data.append(self.alb.data_token(sub, claims=claims).encode("ascii"))
        self.standard.append(self.alb.data_token(sub, claims=claims, padded=False))
        if self.with_access:
            scopes = ("openid", "email", "profile", "tasks/read", "tasks/write")
            if self.idp is None:
                token = self.alb.access_token(sub, scopes=scopes, groups=("admins", "staff"))
            else:
                token = self.idp.access_token(sub, scopes=scopes, groups=("admins", "staff"))
                client = f"client-{index:06d}"
                machine = self.idp.bearer_token(client, scopes=("tasks/read", "tasks/write"))
                self.bearer.append(machine.encode("ascii"))
            self.access.append(token.encode("ascii"))
        elif self.opaque:
            self.access.append(opaque_access_token())

    def stream(self, count: int, *, quiet: bool = False) -> Iterator[tuple[int, bytes]]:
        """`count` new (user index, data token) pairs, signed one by one as they are taken.

        The ALB signs a new data token for every request (its `exp` is the request's time plus
        120 s), so a user's steady state is a token never seen before. These go round robin over
        the users (not the spare). A busy app gets many requests a second, and the tokens the ALB
        signs in one second share their header (which holds `exp`): here each round of the users
        is one second, so `count` tokens share a header, and each of a user's tokens carries an
        `exp` after their previous one's. With `quiet`, every token gets a second (a header) of
        its own, as the first request of each second does. Either way no two tokens of a
        `TokenSet` share both header and payload: a second holds each user at most once.
        """
        for _ in range(count):
            user = self.streamed % self.count
            if quiet or user == 0 or self._quiet_last:
                self._second += 1
            self._quiet_last = quiet
            claims = userinfo(user)
            self.streamed += 1
            data = self.alb.data_token(claims["sub"], claims=claims, exp=self._second)
            yield user, data.encode("ascii")

    def config(self, **overrides: Any) -> ALBConfig:
        """The config that trusts these tokens (Cognito included when access tokens exist, or
        the IdP's access and bearer tokens)."""
        if self.idp is not None:
            overrides.setdefault("access_token", self.idp.config())
            overrides.setdefault("bearer", self.idp.config())
            return self.alb.config(**overrides)
        return self.alb.config(cognito=self.with_access, **overrides)

    def transport(self) -> Any:
        """The transport that serves the ALB key (and the user pool's or the IdP's keys)."""
        return self.alb.transport() if self.idp is None else self.alb.transport(self.idp)

    def bearer_headers(self, index: int) -> list[tuple[bytes, bytes]]:
        """A machine client's request: its bearer token and no ALB header."""
        headers = [
            (b"host", b"api.example.com"),
            (b"user-agent", b"python-httpx/0.28 bench"),
            (b"accept", b"*/*"),
            (b"x-forwarded-for", b"203.0.113.8"),
            (b"x-amzn-trace-id", b"Root=1-67891233-abcdef012345678912345679"),
            (b"authorization", b"Bearer " + self.bearer[index]),
        ]
        return _as_received(headers)

    @property
    def public_key(self) -> ec.EllipticCurvePublicKey:
        """The ALB public key."""
        return self.alb.alb_key.public_key()

    def jwk(self) -> dict[str, Any]:
        """The ALB key as the JWK that aws-jwt-verify caches."""
        jwk: dict[str, Any] = json.loads(ECAlgorithm.to_jwk(self.public_key))
        jwk.update(kid=self.alb.kid, use="sig", alg="ES256")
        return jwk

    def headers(self, index: int, data: bytes | None = None) -> list[tuple[bytes, bytes]]:
        """Request headers as an ASGI server hands them over, for user `index` with their own
        data token or `data`."""
        headers = [
            (b"host", b"app.example.com"),
            (b"user-agent", b"Mozilla/5.0 (X11; Linux x86_64) bench"),
            (b"accept", b"*/*"),
            (b"x-forwarded-for", b"203.0.113.7"),
            (b"x-amzn-trace-id", b"Root=1-67891233-abcdef012345678912345678"),
            (b"x-amzn-oidc-data", self.data[index] if data is None else data),
            (b"x-amzn-oidc-identity", self.subs[index].encode("ascii")),
        ]
        if self.access:
            headers.append((b"x-amzn-oidc-accesstoken", self.access[index]))
        return _as_received(headers)


#: The length of an opaque access token like Google's (`ya29.` and base64url characters).
OPAQUE_BYTES = 219


def opaque_access_token() -> bytes:
    """A new opaque access token, shaped like Google's: nothing in it can be verified."""
    text = "ya29." + secrets.token_urlsafe(OPAQUE_BYTES)[: OPAQUE_BYTES - 5]
    return text.encode("ascii")


def _as_received(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """`headers` as new bytes objects, as a server makes them for every request (so no hash
    computed for an earlier request is reused)."""
    return [(bytes(bytearray(name)), bytes(bytearray(value))) for name, value in headers]


def es256_inputs(tokens: Iterable[bytes]) -> list[tuple[bytes, bytes]]:
    """(DER signature, signing input) per data token: the ES256 floor's work and nothing else."""
    inputs = []
    for raw in tokens:
        signing_input, sig = _split(raw)
        der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
        inputs.append((der, signing_input))
    return inputs


def rs256_inputs(tokens: Iterable[bytes]) -> list[tuple[bytes, bytes]]:
    """(signature, signing input) per access token: the RS256 floor's work and nothing else."""
    return [(signature, signing_input) for signing_input, signature in map(_split, tokens)]


def _split(raw: bytes) -> tuple[bytes, bytes]:
    signing_input, _, signature = raw.rpartition(b".")
    return signing_input, base64.urlsafe_b64decode(signature + b"=" * (-len(signature) % 4))


ES256 = ec.ECDSA(hashes.SHA256())
RS256 = (padding.PKCS1v15(), hashes.SHA256())
