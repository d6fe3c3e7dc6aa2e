"""Shared fixtures: a controllable clock and a FakeALB that uses it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from alb_oidc.testing import FakeALB

START = 1_800_000_000.0


class Clock:
    """A clock tests move by hand: no sleeps, no monkeypatching."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def asgi_headers(headers: Mapping[str, str]) -> list[tuple[bytes, bytes]]:
    """Headers as an ASGI server passes them: (name, value) byte pairs, new objects each call."""
    return [(name.encode(), value.encode("utf-8")) for name, value in headers.items()]


async def asgi_get(app: Any, path: str, headers: list[tuple[bytes, bytes]]) -> tuple[int, bytes]:
    """One GET of `path` (exactly as given: no client resolves its dot segments) through an ASGI
    app with exactly these header bytes; the status and the body."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"app.example.com"), *headers],
        "client": ("203.0.113.9", 40000),
        "server": ("127.0.0.1", 8000),
    }
    await app(scope, receive, send)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return int(status), body


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def alb(clock: Clock) -> FakeALB:
    return FakeALB(clock=clock)
