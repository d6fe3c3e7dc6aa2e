"""Local development without AWS: an ALB emulator and a small OIDC provider.

- `ALBEmulator` (`alb-oidc dev`): an ASGI reverse proxy that behaves like an ALB listener rule
  with an `authenticate-oidc` action, signing `x-amzn-oidc-data` in the ALB's exact wire format.
- `DevIdP`: a Cognito-shaped OpenID Connect provider with a login form and users from a file.
- `DevStack` (`alb-oidc demo`): both, plus an app, on loopback ports.
- `DevKeys`: the keys `--key-file` keeps across restarts (the emulator's and the IdP's).

The example app that `alb-oidc demo` runs is `alb_oidc.dev.demo_app.create_app`.

These are development tools. The emulator signs as `DEV_SIGNER_ARN`, which no real ALB can be:
a production `ALBConfig` never trusts it.
"""

from .emulator import ALBEmulator, EmulatorSettings
from .idp import DEV_API_AUDIENCE, DEV_USER_POOL_ID, DevClient, DevIdP
from .signer import DEV_SIGNER_ARN, DevKeys, DevSigner
from .stack import DEV_CLIENT_ID, DevStack
from .users import DevUser, demo_users, hash_password, load_users, verify_password

__all__ = [
    "DEV_API_AUDIENCE",
    "DEV_CLIENT_ID",
    "DEV_SIGNER_ARN",
    "DEV_USER_POOL_ID",
    "ALBEmulator",
    "DevClient",
    "DevIdP",
    "DevKeys",
    "DevSigner",
    "DevStack",
    "DevUser",
    "EmulatorSettings",
    "demo_users",
    "hash_password",
    "load_users",
    "verify_password",
]
