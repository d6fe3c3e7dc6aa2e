"""The FastAPI example: an app behind an ALB, protected by alb-oidc.

It is the same app that `alb-oidc demo` runs, so it ships inside the package as
`alb_oidc.dev.demo_app` (read that file for the code). Run it behind a real ALB with
configuration from the ALB_OIDC_* variables (see docs/configuration.md):

    uvicorn examples.fastapi_app:create_app --factory
"""

from alb_oidc.dev.demo_app import create_app

__all__ = ["create_app"]
