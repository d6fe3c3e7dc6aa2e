"""alb-oidc: trust an AWS Application Load Balancer's login in Starlette and FastAPI apps.

The ALB authenticates the user and forwards `x-amzn-oidc-data` (an ES256 token it signs),
`x-amzn-oidc-accesstoken` and `x-amzn-oidc-identity`. `ALBAuthMiddleware` verifies them (the
signature over the raw padded bytes, the signer ARN, client, issuer and expiry, and the Cognito
access token against the user pool's keys) and sets `request.user` to an `ALBUser`.
"""

from .authenticator import ALBAuthenticator
from .config import ALBConfig, CognitoConfig, OIDCAccessTokenConfig
from .errors import (
    AccessTokenError,
    ALBOIDCError,
    AuthError,
    BearerTokenError,
    ClaimError,
    ConfigurationError,
    HeaderError,
    IdentityMismatchError,
    KeyUnavailableError,
    MalformedTokenError,
    MissingTokenError,
    PermissionDeniedError,
    SignatureError,
    TokenExpiredError,
    UntrustedSignerError,
)
from .logout import cognito_logout_url, logout_endpoint, logout_response, oidc_logout_url
from .middleware import ALBAuthMiddleware
from .user import ALBUser, thaw_claims

__version__ = "0.1.0"

__all__ = [
    "ALBAuthMiddleware",
    "ALBAuthenticator",
    "ALBConfig",
    "ALBOIDCError",
    "ALBUser",
    "AccessTokenError",
    "AuthError",
    "BearerTokenError",
    "ClaimError",
    "CognitoConfig",
    "ConfigurationError",
    "HeaderError",
    "IdentityMismatchError",
    "KeyUnavailableError",
    "MalformedTokenError",
    "MissingTokenError",
    "OIDCAccessTokenConfig",
    "PermissionDeniedError",
    "SignatureError",
    "TokenExpiredError",
    "UntrustedSignerError",
    "__version__",
    "cognito_logout_url",
    "logout_endpoint",
    "logout_response",
    "oidc_logout_url",
    "thaw_claims",
]
