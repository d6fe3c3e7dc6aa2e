"""Run ASGI apps with uvicorn on loopback sockets, each in a thread (the demo and the tests)."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ..errors import ConfigurationError

__all__ = ["BackgroundServer", "bind", "is_loopback", "serving"]

# The ALB forwards its session cookie shards and a data token: header blocks beyond h11's 16 KB.
_MAX_HEADER_BLOCK = 64 * 1024
# Seconds in-flight responses get to finish on stop, then uvicorn cancels them: without a bound
# one open stream (server-sent events, a long download) keeps the server up for ever.
_SHUTDOWN_GRACE = 1


class _QuietCancel(logging.Filter):
    """Drops the traceback uvicorn logs for each response it cancels after the grace: its own
    line saying how many it cancelled is enough."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, asyncio.CancelledError)


#: The name of the threads serving the emulator (`proxy=True`).
_PROXY_THREAD = "alb-oidc-emulator"


class _QuietCutShort(logging.Filter):
    """Drops uvicorn's error line for a response the emulator left unfinished on purpose (the
    upstream broke off mid-body; the emulator has logged a warning saying so): leaving it
    unfinished is how an ASGI app makes the server close the connection."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (
            record.threadName == _PROXY_THREAD
            and record.getMessage() == "ASGI callable returned without completing response."
        )


def is_loopback(host: str) -> bool:
    """Whether `host` is `localhost` or a loopback address (127.0.0.0/8, ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def bind(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    """A listening TCP socket on `host:port` (port 0: a free one); `::` takes IPv4 too."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if host == "::":
        # Every address, IPv4 too, on every system (Windows makes IPv6 sockets IPv6-only).
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    try:
        sock.bind((host, port))
    except (OSError, OverflowError) as exc:  # OverflowError: a port outside 0-65535
        sock.close()
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigurationError(f"cannot listen on {host}:{port}: {reason}") from exc
    sock.listen(128)
    return sock


class BackgroundServer:
    """One uvicorn server for `app` on `sock`, in a daemon thread; `start()` waits until ready.

    `proxy=True` (for the emulator) stops uvicorn from adding its own `Date` and `Server`
    headers: a proxy passes the upstream's, and the emulator dates the responses it makes itself.
    `http` is uvicorn's HTTP parser: h11 by default, the one `pip install alb-oidc[demo]` gets
    (httptools is not a dependency), so the dev tools run the same way whatever is installed.
    """

    def __init__(
        self, app: Any, sock: socket.socket, *, proxy: bool = False, http: str = "h11"
    ) -> None:
        import uvicorn  # noqa: PLC0415 - optional dependency: `pip install alb-oidc[demo]`

        host, port = sock.getsockname()[:2]
        self.url = f"http://{f'[{host}]' if ':' in host else host}:{port}"
        self._sock = sock
        config = uvicorn.Config(
            app,
            log_level="warning",
            lifespan="on",
            access_log=False,
            # The emulator is the edge: X-Forwarded-For is its to append to, not to believe.
            proxy_headers=False,
            http=http,
            server_header=not proxy,
            date_header=not proxy,
            h11_max_incomplete_event_size=_MAX_HEADER_BLOCK,
            timeout_graceful_shutdown=_SHUTDOWN_GRACE,
        )
        self._server = uvicorn.Server(config)
        uvicorn_log = logging.getLogger("uvicorn.error")
        for quiet in (_QuietCancel, _QuietCutShort):
            if not any(isinstance(known, quiet) for known in uvicorn_log.filters):
                uvicorn_log.addFilter(quiet())
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [sock]},
            daemon=True,
            name=_PROXY_THREAD if proxy else None,
        )

    def start(self, timeout: float = 10) -> None:
        """Start serving; raise RuntimeError if uvicorn is not up within `timeout` seconds."""
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the server at {self.url} did not start")
            time.sleep(0.01)

    def request_stop(self) -> None:
        """Ask uvicorn to shut down (lifespan shutdown runs), without waiting."""
        self._server.should_exit = True

    def stop(self, timeout: float = 10) -> None:
        """Ask uvicorn to shut down and wait for it: responses still in flight get a second to
        finish, then they are cancelled. If the app's own shutdown hangs past `timeout`, uvicorn
        is told to exit at once."""
        self.request_stop()
        if self._thread.is_alive():
            self._thread.join(timeout=timeout)
            if self._thread.is_alive():
                self._server.force_exit = True
                self._thread.join(timeout=timeout)
        self._sock.close()


@contextmanager
def serving(
    app: Any, sock: socket.socket | None = None, *, proxy: bool = False, http: str = "h11"
) -> Iterator[str]:
    """Serve `app` for the duration of the block (on `sock`, or a free loopback port)."""
    server = BackgroundServer(app, sock or bind(), proxy=proxy, http=http)
    server.start()
    try:
        yield server.url
    finally:
        server.stop()
