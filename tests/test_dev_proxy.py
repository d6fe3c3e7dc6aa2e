"""The emulator's forwarding (`alb_oidc/dev/proxy.py`) when a side goes away or breaks off:
real uvicorn servers on 127.0.0.1, the client on a raw socket or httpx."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import httpx2
import pytest
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from alb_oidc.dev import ALBEmulator, EmulatorSettings

from .servers import serve

pytestmark = pytest.mark.integration

#: How long a test waits for what must happen at once (the bound of every wait here).
WAIT = 10


@contextmanager
def emulator_before(upstream_app: Any, **settings: Any) -> Iterator[str]:
    """The emulator, forwarding every path without a login, in front of `upstream_app`."""
    with serve(upstream_app) as upstream:
        emulator = ALBEmulator(
            EmulatorSettings(
                upstream=upstream,
                issuer="http://127.0.0.1:9",
                client_id="c",
                client_secret="s",
                public_paths=["/*"],
                **settings,
            )
        )
        with serve(emulator, proxy=True) as url:
            yield url


def connect(url: str, target: str) -> socket.socket:
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=WAIT)
    sock.sendall(f"GET {target} HTTP/1.1\r\nHost: {parts.netloc}\r\n\r\n".encode("ascii"))
    return sock


async def until_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


def test_a_client_that_leaves_an_endless_stream_ends_it_upstream() -> None:
    closed = threading.Event()

    async def events(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return

        async def ticks() -> AsyncIterator[bytes]:
            try:
                while True:
                    yield b"data: tick\n\n"
                    await asyncio.sleep(0.05)
            finally:
                closed.set()

        await StreamingResponse(ticks(), media_type="text/event-stream")(scope, receive, send)

    with emulator_before(events) as url:
        sock = connect(url, "/events")
        received = b""
        while b"data: tick" not in received:
            chunk = sock.recv(4096)
            assert chunk, "the emulator closed the stream"
            received += chunk
        sock.close()
        # Before: the emulator went on pulling events for nobody until it was stopped.
        assert closed.wait(WAIT), "the upstream's stream is still being read"


def test_a_client_that_leaves_before_the_upstream_answers_is_not_waited_for() -> None:
    arrived, left = threading.Event(), threading.Event()

    async def thinking(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        arrived.set()
        await until_disconnect(receive)  # answers nothing: the emulator must hang up
        left.set()

    with emulator_before(thinking) as url:
        sock = connect(url, "/report")
        assert arrived.wait(WAIT)
        sock.close()
        # Before: the emulator kept the upstream request open until its timeout (60 s).
        assert left.wait(WAIT), "the upstream request is still open"


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_an_upstream_that_breaks_off_mid_body_cuts_the_response_short_quietly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def stalls(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"first", "more_body": True})
        await until_disconnect(receive)  # the rest never comes: the emulator's read times out

    uvicorn_log = logging.getLogger("uvicorn.error")
    records = Records()
    with emulator_before(stalls, timeout=0.5) as url:
        uvicorn_log.addHandler(records)  # after the servers configured uvicorn's logging
        received: list[bytes] = []
        try:
            with (
                caplog.at_level(logging.WARNING, logger="alb_oidc"),
                httpx2.Client(timeout=WAIT) as http,
                http.stream("GET", f"{url}/download") as response,
            ):
                assert response.status_code == 200
                with pytest.raises(httpx2.RemoteProtocolError, match="incomplete"):
                    received.extend(response.iter_raw())
        finally:
            uvicorn_log.removeHandler(records)
    # The client sees a response cut short, never one that looks complete.
    assert b"".join(received) == b"first"
    assert "GET /download: the upstream's response broke off (ReadTimeout)" in caplog.text
    # Before: "Exception in ASGI application" and a traceback.
    assert [r.getMessage() for r in records.records if r.levelno >= logging.ERROR] == []


def test_the_upstream_timeout_is_an_albs_default_idle_timeout() -> None:
    settings = EmulatorSettings(
        upstream="http://127.0.0.1:9", issuer="http://127.0.0.1:8", client_id="c", client_secret="s"
    )
    assert settings.timeout == 60
