"""Encrypted, tamper-proof cookies for the dev tools, sharded like the ALB's session cookie.

A value is JSON, sealed with AES-256-GCM under a per-run key, with the cookie's name as associated
data (so a cookie cannot be replayed under another name), then base64url-encoded and split into
shards `NAME-0`, `NAME-1`, ... of at most `SHARD_SIZE` characters. Any change to any byte of any
shard, a missing shard, or an expired `exp` makes `load` return None: the caller starts a fresh
login instead of trusting the cookie.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import time
from collections.abc import Callable, Mapping
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = [
    "MAX_SHARDS",
    "SHARD_SIZE",
    "CookieTooLargeError",
    "SealedCookie",
    "cookie_header",
    "expire_header",
]

#: Characters per shard: with the name and attributes, a cookie stays under browsers' 4 KB.
SHARD_SIZE = 4000
#: The ALB writes at most four shards.
MAX_SHARDS = 4
_NONCE = 12


class CookieTooLargeError(ValueError):
    """The value does not fit in `MAX_SHARDS` shards (claims too large for a session cookie)."""


class SealedCookie:
    """Seals JSON objects into sharded cookies and opens them again.

    `key` is 32 bytes (a fresh random key when omitted, so cookies die with the process);
    `clock` is used to check the `exp` field every sealed value carries.
    """

    def __init__(self, key: bytes | None = None, *, clock: Callable[[], float] = time.time):
        key = os.urandom(32) if key is None else key
        if len(key) != 32:
            raise ValueError("the cookie key must be 32 bytes")
        self._aead = AESGCM(key)
        self._clock = clock

    def seal(self, name: str, value: Mapping[str, Any]) -> list[tuple[str, str]]:
        """The shards for `value` (which must have a numeric `exp`), as (cookie name, value)."""
        nonce = os.urandom(_NONCE)
        plain = json.dumps(value, separators=(",", ":")).encode("utf-8")
        sealed = nonce + self._aead.encrypt(nonce, plain, name.encode("ascii"))
        text = base64.urlsafe_b64encode(sealed).decode("ascii").rstrip("=")
        shards = [text[i : i + SHARD_SIZE] for i in range(0, len(text), SHARD_SIZE)]
        if len(shards) > MAX_SHARDS:
            raise CookieTooLargeError(
                f"{name}: {len(text)} characters need {len(shards)} shards; at most {MAX_SHARDS}"
            )
        return [(f"{name}-{index}", shard) for index, shard in enumerate(shards)]

    def open(self, name: str, cookies: Mapping[str, str]) -> dict[str, Any] | None:
        """The value sealed under `name` in `cookies`, or None if absent, altered or expired."""
        parts: list[str] = []
        for index in range(MAX_SHARDS):
            shard = cookies.get(f"{name}-{index}")
            if shard is None:
                break
            parts.append(shard)
        if not parts:
            return None
        text = "".join(parts)
        try:
            sealed = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            # Only the canonical encoding: otherwise the last character's unused bits would let
            # an altered cookie open to the same value.
            if base64.urlsafe_b64encode(sealed).decode("ascii").rstrip("=") != text:
                return None
            plain = self._aead.decrypt(sealed[:_NONCE], sealed[_NONCE:], name.encode("ascii"))
            value = json.loads(plain)
        except (binascii.Error, ValueError, InvalidTag):
            return None
        if not isinstance(value, dict):
            return None
        exp = value.get("exp")
        if not isinstance(exp, int | float) or exp <= self._clock():
            return None
        return value


def cookie_header(name: str, value: str, *, max_age: int, secure: bool) -> tuple[bytes, bytes]:
    """A `Set-Cookie` header for one shard (HttpOnly, Path=/, SameSite=Lax; Secure on https)."""
    attributes = f"Max-Age={max_age}; Path=/; HttpOnly; SameSite=Lax" + (
        "; Secure" if secure else ""
    )
    return b"set-cookie", f"{name}={value}; {attributes}".encode("latin-1")


def expire_header(name: str, *, secure: bool) -> tuple[bytes, bytes]:
    """A `Set-Cookie` header that deletes cookie `name`."""
    return cookie_header(name, "", max_age=0, secure=secure)
