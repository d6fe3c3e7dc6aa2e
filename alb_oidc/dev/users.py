"""Users of the dev identity provider: scrypt password hashes, a users file, the demo users.

A users file is TOML or JSON with a list of users::

    [[users]]
    username = "alice"
    password_hash = "scrypt$16384$8$1$<salt hex>$<hash hex>"   # alb-oidc hash-password
    email = "alice@example.com"
    groups = ["admins"]
    scopes = ["openid", "tasks/read", "tasks/write"]
    claims = { name = "Alice Example" }

`sub` defaults to a UUID derived from the username, so it is stable across runs.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import json
import math
import os
import tomllib
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigurationError

__all__ = [
    "DEMO_PASSWORDS",
    "DevUser",
    "demo_users",
    "hash_password",
    "load_users",
    "verify_password",
]

#: The demo users' passwords (printed by `alb-oidc demo`): each is the username.
DEMO_PASSWORDS = {"alice": "alice", "bob": "bob"}

# scrypt cost: interactive-login strength (RFC 7914 suggests N=2**14, r=8, p=1) and about 16 MB.
_N, _R, _P = 2**14, 8, 1
_UUID_NAMESPACE = uuid.UUID("6f1c1f5e-3b8e-4c59-9a49-0f2f7a1d2c11")
_RESERVED_CLAIMS = frozenset({"sub", "iss", "aud", "exp", "iat", "nbf", "token_use", "client_id"})


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """An scrypt hash of `password`: `scrypt$N$r$p$salt$hash` (hex), for a users file."""
    salt = os.urandom(16) if salt is None else salt
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${_N}${_R}${_P}${salt.hex()}${digest.hex()}"


def verify_password(password: str, encoded: str) -> bool:
    """Whether `password` matches an `encoded` hash from `hash_password` (constant-time compare)."""
    try:
        scheme, n, r, p, salt, expected = encoded.split("$")
        if scheme != "scrypt":
            return False
        expected_digest = bytes.fromhex(expected)
        digest = hashlib.scrypt(
            password.encode("utf-8"),
            salt=bytes.fromhex(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expected_digest),
            maxmem=128 * 1024 * 1024,
        )
    except ValueError:
        return False
    return hmac.compare_digest(digest, expected_digest)


@dataclass(frozen=True)
class DevUser:
    """One user of the dev IdP. `claims` are extra userinfo claims (for example `name`)."""

    username: str
    password_hash: str
    email: str | None = None
    groups: Sequence[str] = ()
    scopes: Sequence[str] = ("openid",)
    claims: Mapping[str, Any] = field(default_factory=dict)
    sub: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.username, str) or not self.username.strip():
            raise ConfigurationError("a user needs a non-empty username")
        where = f"user {self.username!r}"
        for name in ("sub", "email"):
            value = getattr(self, name)
            # The IdP and the emulator send these as strings (`x-amzn-oidc-identity` is `sub`),
            # so anything else would only fail later, at every login.
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise ConfigurationError(f"{where}: {name} must be a non-empty string: {value!r}")
        if not isinstance(self.password_hash, str) or not self.password_hash.startswith("scrypt$"):
            raise ConfigurationError(
                f"{where}: password_hash must come from `alb-oidc hash-password` (scrypt$...)"
            )
        for name in ("groups", "scopes"):
            value = getattr(self, name)
            if isinstance(value, str) or not all(isinstance(item, str) for item in value):
                raise ConfigurationError(f"{where}: {name} must be a list of strings")
            object.__setattr__(self, name, tuple(value))
        if not isinstance(self.claims, Mapping):
            raise ConfigurationError(f"{where}: claims must be a table/object")
        reserved = sorted(_RESERVED_CLAIMS & set(self.claims))
        if reserved:
            raise ConfigurationError(f"{where}: claims may not set {', '.join(reserved)}")
        for name, value in self.claims.items():
            problem = _not_json(value, repr(name))
            if problem:
                # Userinfo answers JSON: a TOML date (`born = 1990-01-01`) would fail every login.
                raise ConfigurationError(f"{where}: claim {problem}")
        if self.sub is None:
            object.__setattr__(self, "sub", str(uuid.uuid5(_UUID_NAMESPACE, self.username)))

    def userinfo(self) -> dict[str, Any]:
        """The claims the userinfo endpoint returns (Cognito style: `email_verified` a string)."""
        info: dict[str, Any] = {"sub": self.sub, "username": self.username}
        if self.email:
            info.update(email=self.email, email_verified="true")
        info.update(self.claims)
        return info


def _not_json(value: Any, where: str) -> str | None:
    """What in `value` (named `where`) is not a JSON value, or None if all of it is."""
    if value is None or isinstance(value, bool | int | str):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else f"{where} is {value}, which JSON cannot hold"
    if isinstance(value, list | tuple):
        items = (_not_json(item, f"{where}[{index}]") for index, item in enumerate(value))
        return next((problem for problem in items if problem), None)
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                return f"{where} has a key that is not a string: {key!r}"
            problem = _not_json(item, f"{where}[{key!r}]")
            if problem:
                return problem
        return None
    hint = ""
    if isinstance(value, datetime.date | datetime.time):
        hint = f'; write it as a string: "{value.isoformat()}"'
    return f"{where} is a {type(value).__name__}, not a JSON value{hint}"


def demo_users() -> list[DevUser]:
    """The demo users: alice/alice (group admins; tasks/read and tasks/write) and bob/bob."""
    return [
        DevUser(
            username="alice",
            password_hash=hash_password(DEMO_PASSWORDS["alice"]),
            email="alice@example.com",
            groups=("admins",),
            scopes=("openid", "tasks/read", "tasks/write"),
            claims={"name": "Alice Example"},
        ),
        DevUser(
            username="bob",
            password_hash=hash_password(DEMO_PASSWORDS["bob"]),
            email="bob@example.com",
            scopes=("openid", "tasks/read"),
            claims={"name": "Bob Example"},
        ),
    ]


def load_users(path: str | Path) -> list[DevUser]:
    """Read users from a TOML or JSON file (by extension); see the module docstring."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
        document: Any = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"cannot read users file {path}: {exc}") from exc
    entries = document.get("users") if isinstance(document, dict) else None
    if not isinstance(entries, list) or not entries:
        raise ConfigurationError(f"{path}: expected a non-empty list `users`")
    return _users(path, entries)


def _users(path: Path, entries: Iterable[Any]) -> list[DevUser]:
    users: list[DevUser] = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise ConfigurationError(f"{path}: users[{index}] is not a table/object")
        unknown = set(entry) - set(DevUser.__dataclass_fields__)
        if unknown:
            hint = (
                " (store password_hash instead: alb-oidc hash-password)"
                if "password" in unknown
                else ""
            )
            raise ConfigurationError(
                f"{path}: users[{index}] has unknown fields {sorted(unknown)}{hint}"
            )
        try:
            users.append(DevUser(**entry))
        except TypeError as exc:
            raise ConfigurationError(f"{path}: users[{index}]: {exc}") from exc
        except ConfigurationError as exc:
            raise ConfigurationError(f"{path}: {exc}") from exc
    names = [user.username for user in users]
    if len(set(names)) != len(names):
        raise ConfigurationError(f"{path}: usernames must be unique")
    return users
