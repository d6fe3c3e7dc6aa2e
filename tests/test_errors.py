from __future__ import annotations

import copy
import pickle

import pytest

from alb_oidc import errors
from alb_oidc.errors import (
    ALBOIDCError,
    AuthError,
    BearerTokenError,
    ClaimError,
    KeyUnavailableError,
    PermissionDeniedError,
    TokenExpiredError,
)
from alb_oidc.user import ClaimsTooDeepError

#: One of each exception, built as alb-oidc builds them (keyword-only arguments included).
EXAMPLES = [
    errors.MissingTokenError("not authenticated by the load balancer"),
    errors.HeaderError("authentication header is duplicated"),
    errors.MalformedTokenError("token is not three base64url segments"),
    errors.UntrustedSignerError("token signer is not configured"),
    ClaimError("token `alg` must be ES256", claim="alg", code="bad_alg"),
    TokenExpiredError(),
    errors.SignatureError("token signature is invalid"),
    errors.IdentityMismatchError("x-amzn-oidc-identity differs from the verified user"),
    errors.AccessTokenError("access token expired", code="access_token_expired"),
    BearerTokenError("bearer token expired", reason="access_token_expired"),
    KeyUnavailableError("no key", kid="k1", reason="key_fetch_failed"),
    PermissionDeniedError(kind="scope", required=["a", "b"], granted=["a"], hint="why"),
    errors.ConfigurationError("alb_arns: at least one ARN is required"),
    ClaimsTooDeepError("claims nest deeper than 64 levels"),
]


def _state(exc: BaseException) -> tuple[object, ...]:
    return (type(exc), exc.args, str(exc), vars(exc))


@pytest.mark.parametrize("exc", EXAMPLES, ids=lambda exc: type(exc).__name__)
def test_every_exception_pickles_and_copies_with_its_attributes(exc: ALBOIDCError) -> None:
    # Task queues, multiprocessing and pytest-xdist pickle exceptions; several of ours take
    # keyword-only arguments, which the default `cls(*args)` rebuild cannot pass.
    copies = (pickle.loads(pickle.dumps(exc)), copy.copy(exc), copy.deepcopy(exc))  # noqa: S301
    for copied in copies:
        assert _state(copied) == _state(exc)
        if isinstance(exc, AuthError):
            assert isinstance(copied, AuthError)
            assert (copied.status_code, copied.code, copied.reason, copied.detail) == (
                exc.status_code,
                exc.code,
                exc.reason,
                exc.detail,
            )


def test_every_exception_of_the_library_is_an_alboidc_error() -> None:
    assert all(isinstance(exc, ALBOIDCError) for exc in EXAMPLES)
    # The error of claims too deep to freeze stays a ValueError, as `ALBUser(...)` raised it.
    assert issubclass(ClaimsTooDeepError, ValueError)
