"""The exception tree of alb-oidc, and the one place that maps it to HTTP.

    ALBOIDCError
    ├── ConfigurationError            bad settings (also a ValueError); raised at construction
    └── AuthError                     a request was refused; carries .status_code and .code
        ├── MissingTokenError         401  no x-amzn-oidc-data header
        ├── HeaderError               401  duplicated, comma-joined, oversized or stray header
        ├── MalformedTokenError       401  not the ALB's token format, bad base64, bad JSON
        ├── UntrustedSignerError      401  `signer` is not one of the configured ALB ARNs
        ├── ClaimError                401  `client`, `iss`, `alg`, `kid` or `exp` is wrong
        │   └── TokenExpiredError     401  `exp` is in the past (beyond the leeway)
        ├── SignatureError            401  the signature does not verify
        ├── IdentityMismatchError     401  x-amzn-oidc-identity or the access token's `sub` differs
        ├── AccessTokenError          401  the access token is missing or fails verification
        ├── BearerTokenError          401  an Authorization: Bearer token fails verification
        ├── KeyUnavailableError       503  no public key could be had for the token's `kid`
        └── PermissionDeniedError     403  verified user lacks a required scope or group

Messages never contain a token or a part of one: they name the check that failed and, where it
helps the operator, the configured value that was expected.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = [
    "ALBOIDCError",
    "AccessTokenError",
    "AuthError",
    "BearerTokenError",
    "ClaimError",
    "ConfigurationError",
    "HeaderError",
    "IdentityMismatchError",
    "KeyUnavailableError",
    "MalformedTokenError",
    "MissingTokenError",
    "PermissionDeniedError",
    "SignatureError",
    "TokenExpiredError",
    "UntrustedSignerError",
    "error_payload",
]

#: How much of a client-controlled value a message or log line quotes.
_LOGGABLE_CHARS = 200


def loggable(value: str, limit: int = _LOGGABLE_CHARS) -> str:
    """`value` as one log-safe line: control characters escaped, at most `limit` characters.

    For text a client controls (a path, a token's `signer`): servers decode `%0A` into paths, and
    an unescaped newline would let a client forge log lines.
    """
    text = value[:limit].encode("unicode_escape").decode("ascii")
    return text + "..." if len(value) > limit else text


class ALBOIDCError(Exception):
    """Base class of every exception raised by alb-oidc."""

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled (and copied) with its attributes and without calling `__init__` again: several
        # subclasses take keyword-only arguments, which the default `cls(*args)` cannot pass.
        return _restored, (type(self), self.args, self.__dict__)


def _restored(cls: type[ALBOIDCError], args: tuple[Any, ...], state: dict[str, Any]) -> Any:
    exc = cls.__new__(cls, *args)
    exc.args = args
    exc.__dict__.update(state)
    return exc


class ConfigurationError(ALBOIDCError, ValueError):
    """A setting is missing or invalid; the message names the field."""


class AuthError(ALBOIDCError):
    """A request could not be authenticated or authorised."""

    status_code: int = 401
    code: str = "unauthorized"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
        #: Why, for the log line: the code, or something finer (a 503's fetch outcome).
        self.reason: str = self.code

    @property
    def detail(self) -> str:
        """The text safe to show to the client."""
        return str(self)


class MissingTokenError(AuthError):
    """The request carries no ALB data token."""

    code = "missing_token"


class HeaderError(AuthError):
    """An auth header is duplicated, comma-joined, oversized, or present without the data token."""

    code = "bad_header"


class MalformedTokenError(AuthError):
    """A token is not in the expected format."""

    code = "malformed_token"


class UntrustedSignerError(AuthError):
    """The data token was signed for an ALB that is not configured."""

    code = "untrusted_signer"


class ClaimError(AuthError):
    """A header field or claim has a value the configuration does not accept."""

    code = "bad_claim"

    def __init__(self, message: str, *, claim: str, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.claim = claim


class TokenExpiredError(ClaimError):
    """The token's `exp` lies in the past, beyond the configured leeway."""

    code = "token_expired"

    def __init__(self, message: str = "token expired", *, claim: str = "exp") -> None:
        super().__init__(message, claim=claim)


class SignatureError(AuthError):
    """The token's signature does not verify with the key its `kid` names."""

    code = "bad_signature"


class IdentityMismatchError(AuthError):
    """x-amzn-oidc-identity or the access token's `sub` differs from the verified `sub`."""

    code = "identity_mismatch"


class AccessTokenError(AuthError):
    """The access token is required but missing, or fails verification."""

    code = "bad_access_token"


class BearerTokenError(AuthError):
    """A machine client's `Authorization: Bearer` token fails verification.

    Its code is RFC 6750's `invalid_token`, and its 401 carries `WWW-Authenticate: Bearer
    error="invalid_token"`; `reason` names the check that failed (`bad_access_token`,
    `access_token_expired`, `identity_mismatch`, ...).
    """

    code = "invalid_token"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        if reason is not None:
            self.reason = reason


class KeyUnavailableError(AuthError):
    """No public key could be obtained for a key id we do not already hold."""

    status_code = 503
    code = "key_unavailable"

    def __init__(self, message: str, *, kid: str, reason: str = "key_unavailable") -> None:
        super().__init__(message)
        self.kid = kid
        self.reason = reason  # `key_fetch_failed`, `key_fetch_budget` or `jwks_fetch_failed`

    @property
    def detail(self) -> str:
        """Only that the key is unavailable: the fetch outcome and the state of the fetch
        budget are for the operator's log, not for whoever sent the token."""
        return "the signing key is unavailable; retry later"


class PermissionDeniedError(AuthError):
    """The user is authenticated but lacks a required scope or group.

    `hint`, when given, is appended to the message: why the requirement cannot be met (for
    example, that no access-token verification is configured, so no scope is ever granted).
    """

    status_code = 403
    code = "forbidden"

    def __init__(
        self,
        *,
        kind: str,
        required: Iterable[str],
        granted: Iterable[str],
        any_of: bool = False,
        hint: str | None = None,
    ) -> None:
        self.kind = kind
        self.required = tuple(required)
        self.granted = frozenset(granted)
        self.any_of = any_of
        self.hint = hint
        self.missing = tuple(item for item in self.required if item not in self.granted)
        if any_of:
            message = f"requires one of {kind}s: {' '.join(self.required)}"
        else:
            message = (
                f"missing {kind}{'s' if len(self.missing) > 1 else ''}: {' '.join(self.missing)}"
            )
        if hint:
            message = f"{message} ({hint})"
        super().__init__(message, code=f"insufficient_{kind}")


def error_payload(
    exc: AuthError, *, bearer: bool = False
) -> tuple[int, dict[str, str], dict[str, str]]:
    """Return (status, JSON body, extra headers) for an error: the only error-to-HTTP mapping.

    `bearer` says the request was (or could have been) made with a bearer token: its 401 and
    403 then carry the RFC 6750 challenge (section 3): `Bearer` alone when no credentials came,
    `error="invalid_token"` for a bad token, `error="insufficient_scope"` with the scopes
    required. A `BearerTokenError` always carries its challenge.
    """
    headers = {"Cache-Control": "no-store"}
    if exc.status_code == 503:
        headers["Retry-After"] = "5"
    challenge = _bearer_challenge(exc) if bearer or isinstance(exc, BearerTokenError) else None
    if challenge is not None:
        headers["WWW-Authenticate"] = challenge
    return exc.status_code, {"detail": exc.detail, "error": exc.code}, headers


def _quoted(text: str) -> str:
    """`text` as an RFC 7235 quoted-string of the characters RFC 6750 allows in its values."""
    kept = "".join(char for char in text if char in _CHALLENGE_CHARS)
    return f'"{kept}"'


# RFC 6750 section 3: error_description and scope use %x20-21 / %x23-5B / %x5D-7E (no " or \).
_CHALLENGE_CHARS = frozenset(chr(code) for code in range(0x20, 0x7F)) - {'"', "\\"}


def _bearer_challenge(exc: AuthError) -> str | None:
    if isinstance(exc, BearerTokenError):
        return f'Bearer error="invalid_token", error_description={_quoted(str(exc))}'
    if isinstance(exc, PermissionDeniedError) and exc.kind == "scope":
        return (
            'Bearer error="insufficient_scope", '
            f"scope={_quoted(' '.join(exc.required))}, error_description={_quoted(str(exc))}"
        )
    if exc.status_code == 401:
        return "Bearer"  # no credentials (or the ALB's): no error code (RFC 6750 section 3.1)
    return None
