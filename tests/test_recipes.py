"""The recipes the documentation gives, run as written: testing with overrides, seeing refusals.

If one of these fails, the documentation is wrong: fix the page together with the test.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import httpx2
import pytest
from fastapi import FastAPI, Security
from fastapi.testclient import TestClient

from alb_oidc import ALBAuthMiddleware, ALBConfig, ALBUser
from alb_oidc.guards import current_user, require_scopes
from alb_oidc.testing import FakeALB


def create_app(config: ALBConfig | None = None, **auth_options: Any) -> FastAPI:
    app = FastAPI()
    config = config or ALBConfig.from_env()
    app.add_middleware(ALBAuthMiddleware, config=config, **auth_options)

    @app.get("/me")
    def me(user: ALBUser = Security(current_user)) -> dict[str, str]:
        return {"sub": user.sub}

    @app.get("/tasks", dependencies=[Security(require_scopes("tasks/read"))])
    def tasks() -> list[str]:
        return ["write the docs"]

    return app


# -- Testing: FakeALB headers through the real middleware (the recommended way) --------------


def test_recipe_fake_alb_headers_pass_the_scope_guard(fake_alb: FakeALB) -> None:
    app = create_app(fake_alb.config(), http_client=fake_alb.http_client())
    alice = fake_alb.headers("alice", scopes=["tasks/read"])
    with TestClient(app) as client:
        assert client.get("/tasks", headers=alice).json() == ["write the docs"]
        assert client.get("/tasks", headers=fake_alb.headers("bob")).status_code == 403


# -- Testing: dependency overrides, with the middleware in optional mode ----------------------


def test_recipe_overrides_need_optional_mode_and_the_guard_itself(fake_alb: FakeALB) -> None:
    alice = ALBUser({"sub": "alice"}, scopes=["tasks/read"])
    app = create_app(fake_alb.config(optional=True))
    app.dependency_overrides[current_user] = lambda: alice
    app.dependency_overrides[require_scopes("tasks/read")] = lambda: alice
    with TestClient(app) as client:
        assert client.get("/me").json() == {"sub": "alice"}
        assert client.get("/tasks").json() == ["write the docs"]


def test_overriding_current_user_alone_does_not_get_past_the_middleware(
    fake_alb: FakeALB,
) -> None:
    app = create_app(fake_alb.config())
    app.dependency_overrides[current_user] = lambda: ALBUser({"sub": "alice"})
    with TestClient(app) as client:
        # The middleware answers before any dependency runs, override or not.
        assert client.get("/me").status_code == 401


def test_overriding_current_user_does_not_satisfy_require_scopes(fake_alb: FakeALB) -> None:
    app = create_app(fake_alb.config(optional=True))
    app.dependency_overrides[current_user] = lambda: ALBUser({"sub": "a"}, scopes=["tasks/read"])
    with TestClient(app) as client:
        # require_scopes reads request.user, which the override does not set.
        assert client.get("/tasks").status_code == 401


# -- Seeing refusals under uvicorn ------------------------------------------------------------

ARN = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/my-alb/50dc6c495c0c9188"

APP = f"""
from starlette.applications import Starlette

from alb_oidc import ALBAuthMiddleware, ALBConfig

app = ALBAuthMiddleware(Starlette(), ALBConfig(alb_arns=[{ARN!r}]))
"""

#: `--log-config log.json`: uvicorn's own loggers as usual, plus the alb_oidc logger.
LOG_CONFIG = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "default": {
            "()": "uvicorn.logging.DefaultFormatter",
            "fmt": "%(levelprefix)s %(name)s: %(message)s",
        },
        "access": {
            "()": "uvicorn.logging.AccessFormatter",
            "fmt": '%(levelprefix)s %(client_addr)s - "%(request_line)s" %(status_code)s',
        },
    },
    "handlers": {
        "default": {"class": "logging.StreamHandler", "formatter": "default"},
        "access": {"class": "logging.StreamHandler", "formatter": "access"},
    },
    "loggers": {
        "uvicorn": {"handlers": ["default"], "level": "INFO", "propagate": False},
        "uvicorn.access": {"handlers": ["access"], "level": "INFO", "propagate": False},
        "alb_oidc": {"handlers": ["default"], "level": "INFO", "propagate": False},
    },
}

#: Or in the app module, before the app is built.
BASIC_CONFIG = """
import logging

logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
logging.getLogger("alb_oidc").setLevel(logging.INFO)
"""

REFUSAL = "alb_oidc: refused GET /me (missing_token): not authenticated by the load balancer"


def uvicorn_log(tmp_path: Path, *options: str, prelude: str = "") -> str:
    """Serve the app with uvicorn on a free loopback port, request /me, return the log."""
    (tmp_path / "recipe_app.py").write_text(textwrap.dedent(prelude + APP), "utf-8")
    (tmp_path / "log.json").write_text(json.dumps(LOG_CONFIG), "utf-8")
    command = [sys.executable, "-m", "uvicorn", "recipe_app:app", "--app-dir", str(tmp_path)]
    process = subprocess.Popen(
        [*command, "--host", "127.0.0.1", "--port", "0", *options],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines = []
    try:
        assert process.stdout is not None
        for line in process.stdout:  # bounded: uvicorn logs a few lines, then its address
            lines.append(line)
            found = re.search(r"Uvicorn running on (http://127\.0\.0\.1:\d+)", line)
            if found:
                assert httpx2.get(f"{found[1]}/me").status_code == 401
                break
            assert len(lines) < 30, "".join(lines)
    finally:
        process.terminate()
        rest, _ = process.communicate(timeout=30)
    return "".join(lines) + (rest or "")


@pytest.mark.integration
def test_log_level_info_alone_does_not_show_refusals(tmp_path: Path) -> None:
    # uvicorn configures its own loggers only; alb_oidc's INFO records reach no handler.
    log = uvicorn_log(tmp_path, "--log-level", "info")
    assert '"GET /me HTTP/1.1" 401' in log
    assert "refused" not in log


@pytest.mark.integration
def test_recipe_log_config_shows_refusals_under_uvicorn(tmp_path: Path) -> None:
    log = uvicorn_log(tmp_path, "--log-config", "log.json")
    assert REFUSAL in log
    assert '"GET /me HTTP/1.1" 401' in log


@pytest.mark.integration
def test_recipe_basic_config_shows_refusals_under_uvicorn(tmp_path: Path) -> None:
    log = uvicorn_log(tmp_path, prelude=BASIC_CONFIG)
    assert f"INFO {REFUSAL}" in log
    assert log.count("refused") == 1
    assert "alb_oidc: alb_oidc" not in log
