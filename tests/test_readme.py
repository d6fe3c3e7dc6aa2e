"""The README's first example must run as written."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from alb_oidc.testing import FakeALB

README = Path(__file__).resolve().parent.parent / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)


def test_first_example_runs_as_written() -> None:
    namespace: dict[str, Any] = {}
    exec(compile(python_blocks()[0], "README.md", "exec"), namespace)  # noqa: S102
    app, config = namespace["app"], namespace["config"]
    alb = FakeALB(
        alb_arn=config.alb_arns[0],
        client_id=config.client_ids[0],
        user_pool_id=config.cognito.user_pool_id,
    )
    # The example builds its middleware for real AWS; route its key fetches to the fake ALB.
    (middleware,) = app.user_middleware
    middleware.kwargs["http_client"] = alb.http_client()
    with TestClient(app, follow_redirects=False) as client:
        assert client.get("/me").status_code == 401
        assert client.get("/me", headers=alb.headers("alice")).status_code == 200
        assert client.get("/tasks", headers=alb.headers(scopes=["tasks/read"])).status_code == 200
        assert client.get("/tasks", headers=alb.headers(scopes=["openid"])).status_code == 403
        assert client.get("/health").status_code == 404  # public: no 401, but no such route
        logout = client.get("/logout", headers=alb.headers())
        assert logout.status_code == 303
        assert logout.headers["location"] == (
            "https://auth.example.com/logout?client_id=4fmvht22tjrgd7d3k3tghttct7"
            "&logout_uri=https%3A%2F%2Fapp.example.com%2Fbye"
        )
        assert "AWSELBAuthSessionCookie-3=;" in " ".join(logout.headers.get_list("set-cookie"))
    assert alb.requests == [alb.key_url(), alb.jwks_url]


def test_every_python_block_compiles() -> None:
    for index, block in enumerate(python_blocks()):
        compile(block.replace("[...]", "[]"), f"README.md block {index}", "exec")
