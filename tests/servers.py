"""Real parts for integration tests: loopback servers, a dev stack, optional components."""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from html import unescape
from typing import Any

import httpx2
import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from alb_oidc import ALBAuthenticator, ALBConfig
from alb_oidc.dev.serving import bind
from alb_oidc.dev.serving import serving as serve
from alb_oidc.dev.stack import DevStack
from alb_oidc.dev.users import DevUser

from .conftest import asgi_headers

__all__ = ["authenticate", "dev_stack", "echo_app", "login", "require", "serve"]


def authenticate(config: ALBConfig, headers: dict[str, str]) -> Any:
    """Run `ALBAuthenticator(config)` on `headers`, as the middleware would: the user or raise."""

    async def run() -> Any:
        authenticator = ALBAuthenticator(config)
        try:
            return await authenticator.authenticate(asgi_headers(headers))
        finally:
            await authenticator.aclose()

    return asyncio.run(run())


def free_port() -> int:
    """A port nothing listens on just now (bound, read, released)."""
    sock = bind()
    port: int = sock.getsockname()[1]
    sock.close()
    return port


def require(available: bool, component: str) -> None:
    """Skip when `component` is missing locally; under CI=true a missing component fails."""
    if available:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{component} is required under CI=true (`bash .ci/run` installs it)")
    pytest.skip(f"{component} is not installed")


async def echo_app(scope: Scope, receive: Receive, send: Send) -> None:
    """An upstream that answers what it received (method, path, query, headers, body size)."""
    if scope["type"] != "http":
        return
    request = Request(scope, receive)
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
    if request.url.path == "/redirect":
        response: Response = Response(status_code=307, headers={"Location": "/elsewhere"})
    elif request.url.path == "/cookies":
        response = Response("two cookies")
        response.set_cookie("a", "1")
        response.set_cookie("b", "2")
    else:
        response = JSONResponse(
            {
                "method": request.method,
                "path": request.url.path,
                "query": request.url.query,
                "headers": [[k.decode(), v.decode()] for k, v in scope["headers"]],
                "body_size": size,
            },
            status_code=int(request.query_params.get("status", "200")),
        )
    await response(scope, receive, send)


@contextmanager
def dev_stack(
    *,
    users: Sequence[DevUser] | None = None,
    app_factory: Any = None,
    clock_override: Any = None,
    provider: str = "cognito",
    **settings: Any,
) -> Iterator[DevStack]:
    """A started DevStack on free ports: the built-in IdP, the emulator, and `app_factory`'s
    app (or the echo app) behind it."""
    with serve(echo_app) if app_factory is None else _nothing() as upstream:
        stack = DevStack(
            port=0,
            upstream=upstream,
            app_factory=app_factory,
            settings=settings,
            users=users,
            provider=provider,
            **({"clock": clock_override} if clock_override else {}),
        )
        stack.start()
        try:
            yield stack
        finally:
            stack.stop()


@contextmanager
def _nothing() -> Iterator[None]:
    yield None


_FORM_ACTION = re.compile(r"<form method='post' action='([^']+)'")


def login(client: httpx2.Client, url: str, username: str, password: str) -> httpx2.Response:
    """Open `url` through the emulator and sign in at the dev IdP's form; the final response."""
    page = client.get(url)
    match = _FORM_ACTION.search(page.text)
    assert match, f"no login form at {page.url}"
    action = page.url.join(unescape(match[1]))
    return client.post(str(action), data={"username": username, "password": password})
