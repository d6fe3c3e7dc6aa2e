"""Streaming HTTP forwarding for the emulator: one ASGI request to the upstream and back.

The caller gives the URL (the emulator builds it from the configured upstream and the checked
request target, `paths.RequestTarget`). Bodies stream both ways (nothing is buffered); the method,
status, redirects (never followed) and end-to-end headers pass unchanged. Hop-by-hop headers are
dropped, client-sent `x-amzn-oidc-*` headers are always removed, and `X-Forwarded-For/Proto/Port`
are set as an ALB sets them (For is appended to, the others replaced).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

import httpx2
from starlette.responses import PlainTextResponse
from starlette.types import Receive, Scope, Send

__all__ = ["forward"]

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


async def _body(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _ClientGone
        chunk = message.get("body", b"")
        if chunk:
            yield chunk
        if not message.get("more_body", False):
            return


async def forward(
    client: httpx2.AsyncClient,
    url: httpx2.URL,
    asgi: tuple[Scope, Receive, Send],
    *,
    extra_headers: Sequence[tuple[bytes, bytes]] = (),
) -> None:
    """Send the ASGI request `(scope, receive, send)` to `url`, stream the response back.

    `extra_headers` are added after the client's `x-amzn-oidc-*` headers were removed. An
    unreachable upstream answers 502, a timeout 504 (as an ALB does).
    """
    scope, receive, send = asgi
    headers = _request_headers(scope, extra_headers)
    has_body = any(
        name in (b"content-length", b"transfer-encoding") for name, _ in scope["headers"]
    )
    request = client.build_request(
        scope["method"], url, headers=headers, content=_body(receive) if has_body else None
    )
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
        async for chunk in response.aiter_raw():
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    finally:
        await response.aclose()
