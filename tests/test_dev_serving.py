"""`alb_oidc.dev.serving`: loopback sockets and uvicorn servers in threads, started and stopped."""

from __future__ import annotations

import asyncio
import threading
import time

import httpx2
import pytest
from starlette.types import Receive, Scope, Send

from alb_oidc import ConfigurationError
from alb_oidc.dev.serving import BackgroundServer, bind

pytestmark = pytest.mark.integration


async def endless_stream(scope: Scope, receive: Receive, send: Send) -> None:
    """Server-sent events that never end (for 60 s), and a lifespan."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            await send({"type": message["type"] + ".complete"})
            if message["type"] == "lifespan.shutdown":
                return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    for _ in range(600):
        await send({"type": "http.response.body", "body": b"data: tick\n\n", "more_body": True})
        await asyncio.sleep(0.1)
    await send({"type": "http.response.body", "body": b""})


def test_stop_does_not_wait_for_a_response_that_never_ends() -> None:
    server = BackgroundServer(endless_stream, bind())
    server.start()
    received = threading.Event()

    def read() -> None:
        try:
            with httpx2.stream("GET", server.url, timeout=30) as response:
                for _ in response.iter_raw():  # bounded: the server ends it, at most in 60 s
                    received.set()
        except httpx2.HTTPError:
            pass  # cut off by the shutdown, as expected

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    assert received.wait(10)
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 5
    reader.join(10)
    assert not reader.is_alive()
    with pytest.raises(httpx2.ConnectError):
        httpx2.get(server.url, timeout=5)


@pytest.mark.parametrize("port", [65_536, 70_000, -1])
def test_a_port_out_of_range_is_a_configuration_error(port: int) -> None:
    with pytest.raises(ConfigurationError, match=f"cannot listen on 127.0.0.1:{port}: .*0-65535"):
        bind("127.0.0.1", port)
