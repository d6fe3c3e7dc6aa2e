"""Streaming HTTP forwarding for the emulator: one ASGI request to the upstream and back.

The caller gives the URL (the emulator builds it from the configured upstream and the checked
request target, `paths.RequestTarget`). Bodies stream both ways (nothing is buffered); the method,
status, redirects (never followed) and end-to-end headers pass unchanged. Hop-by-hop headers are
dropped, client-sent `x-amzn-oidc-*` headers are always removed, and `X-Forwarded-For/Proto/Port`
are set as an ALB sets them (For is appended to, the others replaced).

Either side may go away: when the client does, the request to the upstream is closed at once
(an endless event stream is not read on for nobody); when the upstream breaks off after its
headers, the response is left unfinished, so the server closes the client's connection and the
client sees a cut-short response rather than a complete one.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence

import anyio
import httpx2
from starlette.responses import PlainTextResponse
from starlette.types import Receive, Scope, Send

__all__ = ["forward"]

logger = logging.getLogger("alb_oidc")

# RFC 9110 section 7.6.1, plus headers a proxy must set itself.
_HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    }
)
_REPLACED = frozenset({b"x-forwarded-proto", b"x-forwarded-port", b"x-forwarded-for"})


class _ClientGone(Exception):
    pass


def _request_headers(
    scope: Scope, extra: Sequence[tuple[bytes, bytes]]
) -> list[tuple[bytes, bytes]]:
    headers: list[tuple[bytes, bytes]] = []
    forwarded_for: list[bytes] = []
    for name, value in scope["headers"]:
        lowered = name.lower()
        if lowered == b"x-forwarded-for":
            forwarded_for.append(value)
        elif (
            lowered not in _HOP_BY_HOP
            and lowered not in _REPLACED
            and not lowered.startswith(b"x-amzn-oidc-")
        ):
            headers.append((lowered, value))
    client = scope.get("client")
    if client:
        forwarded_for.append(client[0].encode("latin-1"))
    server = scope.get("server")
    headers.append((b"x-forwarded-for", b", ".join(forwarded_for)))
    headers.append((b"x-forwarded-proto", scope.get("scheme", "http").encode("latin-1")))
    if server and server[1] is not None:
        headers.append((b"x-forwarded-port", str(server[1]).encode("latin-1")))
    headers.extend(extra)
    return headers


async def _body(receive: Receive, done: anyio.Event) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _ClientGone
        chunk = message.get("body", b"")
        if chunk:
            yield chunk
        if not message.get("more_body", False):
            done.set()
            return


async def _until_disconnect(receive: Receive, body_read: anyio.Event) -> None:
    """Return when the client has gone (`receive` is the body's until it has been read)."""
    await body_read.wait()
    while (await receive())["type"] != "http.disconnect":
        pass


async def forward(
    client: httpx2.AsyncClient,
    url: httpx2.URL,
    asgi: tuple[Scope, Receive, Send],
    *,
    extra_headers: Sequence[tuple[bytes, bytes]] = (),
) -> None:
    """Send the ASGI request `(scope, receive, send)` to `url`, stream the response back.

    `extra_headers` are added after the client's `x-amzn-oidc-*` headers were removed. An
    unreachable upstream answers 502, a timeout before the headers 504 (as an ALB does).
    """
    scope, receive, _ = asgi
    headers = _request_headers(scope, extra_headers)
    has_body = any(
        name in (b"content-length", b"transfer-encoding") for name, _ in scope["headers"]
    )
    body_read = anyio.Event()
    if not has_body:
        body_read.set()
    request = client.build_request(
        scope["method"],
        url,
        headers=headers,
        content=_body(receive, body_read) if has_body else None,
    )
    async with anyio.create_task_group() as group:

        async def watch() -> None:
            await _until_disconnect(receive, body_read)
            group.cancel_scope.cancel()

        group.start_soon(watch)
        await _relay(client, request, asgi)
        group.cancel_scope.cancel()


async def _relay(
    client: httpx2.AsyncClient, request: httpx2.Request, asgi: tuple[Scope, Receive, Send]
) -> None:
    scope, receive, send = asgi
    try:
        response = await client.send(request, stream=True)
    except httpx2.TimeoutException:
        await PlainTextResponse("504 Gateway Timeout", status_code=504)(scope, receive, send)
        return
    except (httpx2.TransportError, _ClientGone):
        await PlainTextResponse("502 Bad Gateway", status_code=502)(scope, receive, send)
        return
    try:
        await send(
            {
                "type": "http.response.start",
                "status": response.status_code,
                "headers": [
                    (name.lower(), value)
                    for name, value in response.headers.raw
                    if name.lower() not in _HOP_BY_HOP
                ],
            }
        )
        try:
            async for chunk in response.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        except httpx2.TransportError as exc:
            # The status is sent, so no 502 or 504 any more. Ending the body normally would
            # pass a truncated response off as complete: leave it unfinished instead, and the
            # server closes the connection (an ALB closes its side too).
            logger.warning(
                "alb-oidc dev: %s %s: the upstream's response broke off (%s); "
                "closing the client's connection",
                request.method,
                request.url.path,
                type(exc).__name__,
            )
            return
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    finally:
        # Not cancelled half-way when the client leaves: the upstream connection must be closed.
        with anyio.CancelScope(shield=True):
            await response.aclose()
