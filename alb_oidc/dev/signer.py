"""The emulator's signing key: a P-256 key that signs `x-amzn-oidc-data` like an ALB does.

The key is generated per run, or kept in a local file (`--key-file`) so that apps keep trusting
the emulator across restarts. Its `kid` is a UUID derived from the public key, and the signer is
`DEV_SIGNER_ARN`: a fixed, obviously fake ARN (account 000000000000, region `dev-local-1`) that
goes into the app's development `ALBConfig` and can never match a real ALB.

The key file (`DevKeys`) also keeps the dev IdP's RSA key, so that its key id and the access
tokens it signed stay valid across restarts too: two PKCS#8 PEM blocks, the P-256 key first.
A file holding only the P-256 key (as older versions wrote) gets the RSA key added on first use.
"""

from __future__ import annotations

import hashlib
import os
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from ..config import DEV_SIGNER_ARN
from ..errors import ConfigurationError
from ..testing import encode_data_token

__all__ = ["DEV_SIGNER_ARN", "DevKeys", "DevSigner"]


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
        """The P-256 key in the key file `path` (see `DevKeys.from_file`, which creates it)."""
        return DevKeys.from_file(path).signer

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


_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z ]+)-----.+?-----END \1-----\r?\n?", re.DOTALL)


def _pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@dataclass(frozen=True)
class DevKeys:
    """The keys `--key-file` keeps: the emulator's signer and the dev IdP's RSA key."""

    signer: DevSigner
    idp_key: rsa.RSAPrivateKey

    @classmethod
    def from_file(cls, path: str | Path) -> DevKeys:
        """The keys in PEM file `path`, created (mode 0600) with new keys if it does not exist;
        a file without an RSA key gets a new one appended."""
        path = Path(path)
        if not path.exists():
            keys = cls(DevSigner(), _new_rsa_key())
            path.parent.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "wb") as file:
                file.write(_pem(keys.signer.key) + _pem(keys.idp_key))
            return keys
        try:
            text = path.read_bytes()
            loaded = [
                serialization.load_pem_private_key(block[0], password=None)
                for block in _PEM_BLOCK.finditer(text)
            ]
        except (OSError, ValueError) as exc:
            raise ConfigurationError(f"cannot read the emulator key {path}: {exc}") from exc
        if not loaded:
            raise ConfigurationError(f"cannot read the emulator key {path}: no PEM private key")
        signer_key = next((k for k in loaded if isinstance(k, ec.EllipticCurvePrivateKey)), None)
        if signer_key is None:
            raise ConfigurationError(f"{path} does not hold an EC private key")
        signer = DevSigner(signer_key)
        idp_key = next((k for k in loaded if isinstance(k, rsa.RSAPrivateKey)), None)
        if idp_key is None:
            idp_key = _new_rsa_key()
            try:
                with path.open("ab") as file:
                    file.write(b"" if text.endswith(b"\n") else b"\n")
                    file.write(_pem(idp_key))
            except OSError as exc:
                raise ConfigurationError(
                    f"cannot add the dev IdP's key to {path}: {exc.strerror or exc}"
                ) from exc
        return cls(signer, idp_key)


def _new_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)
