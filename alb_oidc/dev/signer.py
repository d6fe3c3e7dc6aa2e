"""The emulator's signing key: a P-256 key that signs `x-amzn-oidc-data` like an ALB does.

The key is generated per run, or kept in a local file (`--key-file`) so that apps keep trusting
the emulator across restarts. Its `kid` is a UUID derived from the public key, and the signer is
`DEV_SIGNER_ARN`: a fixed, obviously fake ARN (account 000000000000, region `dev-local-1`) that
goes into the app's development `ALBConfig` and can never match a real ALB.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from ..errors import ConfigurationError
from ..testing import encode_data_token

__all__ = ["DEV_SIGNER_ARN", "DevSigner"]

DEV_SIGNER_ARN = (
    "arn:aws:elasticloadbalancing:dev-local-1:000000000000:"
    "loadbalancer/app/alb-oidc-dev-not-an-alb/0000000000000000"
)


class DevSigner:
    """Signs data tokens with one P-256 key; `kid` and `public_key_pem` serve the key endpoint."""

    def __init__(self, key: ec.EllipticCurvePrivateKey | None = None) -> None:
        self.key = key or ec.generate_private_key(ec.SECP256R1())
        if not isinstance(self.key.curve, ec.SECP256R1):
            raise ConfigurationError("the emulator's signing key must be a P-256 key")
        self.public_key_pem = self.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        # A kid names one key forever: derive it from the key, shaped as a version-4 UUID.
        digest = hashlib.sha256(self.public_key_pem).digest()[:16]
        self.kid = str(uuid.UUID(bytes=digest, version=4))

    @classmethod
    def from_file(cls, path: str | Path) -> DevSigner:
        """The key in PEM file `path`, created (mode 0600) with a new key if it does not exist."""
        path = Path(path)
        if path.exists():
            try:
                key = serialization.load_pem_private_key(path.read_bytes(), password=None)
            except (OSError, ValueError) as exc:
                raise ConfigurationError(f"cannot read the emulator key {path}: {exc}") from exc
            if not isinstance(key, ec.EllipticCurvePrivateKey):
                raise ConfigurationError(f"{path} does not hold an EC private key")
            return cls(key)
        signer = cls()
        path.parent.mkdir(parents=True, exist_ok=True)
        pem = signer.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as file:
            file.write(pem)
        return signer

    def cookie_key(self) -> bytes:
        """A 32-byte key for session cookies, derived from the signing key (stable with it)."""
        secret = self.key.private_numbers().private_value.to_bytes(32, "big")
        return hashlib.sha256(b"alb-oidc dev session cookie\x00" + secret).digest()

    def data_token(
        self, claims: Mapping[str, Any], *, issuer: str, client_id: str, exp: int
    ) -> str:
        """An `x-amzn-oidc-data` token: header fields in the ALB's order, claims + exp + iss."""
        header = {
            "typ": "JWT",
            "kid": self.kid,
            "alg": "ES256",
            "iss": issuer,
            "client": client_id,
            "signer": DEV_SIGNER_ARN,
            "exp": exp,
        }
        payload = {**claims, "exp": exp, "iss": issuer}
        return encode_data_token(self.key, header, payload)
