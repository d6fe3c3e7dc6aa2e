from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from starlette.applications import Starlette
from starlette.authentication import requires
from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.testclient import TestClient, WebSocketDenialResponse
from starlette.types import Message
from starlette.websockets import WebSocket
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

import alb_oidc
from alb_oidc import ALBAuthMiddleware, ALBUser, AuthError
from alb_oidc.dev.serving import serving
from alb_oidc.testing import FakeALB

from .conftest import Clock, asgi_get


async def whoami(request: Request) -> JSONResponse:
    user = request.user
    return JSONResponse(
        {
            "authenticated": user.is_authenticated,
            "type": type(user).__name__,
            "sub": getattr(user, "sub", None),
            "scopes": list(request.auth.scopes),
            "groups": sorted(getattr(user, "groups", ())),
            "verified": getattr(user, "access_token_verified", None),
        }
    )


@requires("tasks/read")
async def tasks(request: Request) -> PlainTextResponse:
    return PlainTextResponse("tasks")


async def ws(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_json({"sub": websocket.user.sub, "scopes": list(websocket.auth.scopes)})
    await websocket.close()


def make_app(
    alb: FakeALB, clock: Clock, *, http_client: httpx2.AsyncClient | None = None, **kwargs: Any
) -> Starlette:
    middleware_options = {key: kwargs.pop(key) for key in ("on_error", "warm_up") if key in kwargs}
    app = Starlette(
        routes=[
            Route("/me", whoami),
            Route("/health", whoami),
            Route("/tasks", tasks),
            WebSocketRoute("/ws", ws),
        ]
    )
    app.add_middleware(
        ALBAuthMiddleware,
        config=alb.config(**kwargs),
        http_client=http_client or alb.http_client(),
        clock=clock,
        **middleware_options,
    )
    return app


@pytest.fixture
def client(alb: FakeALB, clock: Clock) -> Iterator[TestClient]:
    with TestClient(make_app(alb, clock)) as test_client:
        yield test_client


def test_verified_user_is_where_starlette_looks(alb: FakeALB, client: TestClient) -> None:
    response = client.get(
        "/me", headers=alb.headers("alice", scopes=["openid", "tasks/read"], groups=["admins"])
    )
    assert response.status_code == 200
    assert response.json() == {
        "authenticated": True,
        "type": "ALBUser",
        "sub": "alice",
        # Starlette's "authenticated" (what `@requires("authenticated")` looks for), then the
        # access token's scopes in order.
        "scopes": ["authenticated", "openid", "tasks/read"],
        "groups": ["admins"],
        "verified": True,
    }


def test_starlette_requires_works_unchanged(alb: FakeALB, clock: Clock) -> None:
    app = make_app(alb, clock, public_paths=["/open"])

    @requires("authenticated")
    async def signed_in(request: Request) -> PlainTextResponse:
        return PlainTextResponse(request.user.sub)

    app.add_route("/signed-in", signed_in)
    app.add_route("/open", signed_in)
    with TestClient(app) as client:
        assert client.get("/tasks", headers=alb.headers(scopes=["tasks/read"])).text == "tasks"
        assert client.get("/tasks", headers=alb.headers(scopes=["openid"])).status_code == 403
        # Starlette's own way to require a login: "authenticated" is in `request.auth.scopes`
        # of every verified user (one without any scope too)...
        assert client.get("/signed-in", headers=alb.headers("alice", scopes=[])).text == "alice"
        # ...and never in an anonymous request's (Starlette's decorator answers 403).
        assert client.get("/open").status_code == 403
        assert client.get("/open", headers=alb.headers("bob")).text == "bob"


def test_keys_are_fetched_once_for_many_requests(alb: FakeALB, client: TestClient) -> None:
    for index in range(20):
        assert client.get("/me", headers=alb.headers(f"user-{index}")).status_code == 200
    assert alb.requests == [alb.key_url(), alb.jwks_url]


def test_no_headers_is_401_with_a_json_body(client: TestClient) -> None:
    response = client.get("/me")
    assert response.status_code == 401
    assert response.json() == {
        "detail": "not authenticated by the load balancer",
        "error": "missing_token",
    }
    assert response.headers["cache-control"] == "no-store"


def test_public_paths_need_no_headers(alb: FakeALB, clock: Clock) -> None:
    with TestClient(make_app(alb, clock, public_paths=["/health"])) as client:
        response = client.get("/health")
        assert response.status_code == 200
        assert response.json()["type"] == "UnauthenticatedUser"
        assert response.json()["scopes"] == []
        # A valid user on a public path is still recognised...
        assert client.get("/health", headers=alb.headers("alice")).json()["sub"] == "alice"
        # ...and a forged one is just anonymous there, but refused elsewhere.
        forged = {"x-amzn-oidc-data": alb.data_token(header={"signer": "forged"})}
        assert client.get("/health", headers=forged).json()["type"] == "UnauthenticatedUser"
        assert client.get("/me", headers=forged).status_code == 401


def test_optional_mode_lets_anonymous_through_but_not_forgeries(alb: FakeALB, clock: Clock) -> None:
    with TestClient(make_app(alb, clock, optional=True)) as client:
        anonymous = client.get("/me")
        assert anonymous.status_code == 200
        assert anonymous.json()["authenticated"] is False
        assert client.get("/tasks").status_code == 403  # Starlette's requires decides
        forged = {"x-amzn-oidc-data": alb.data_token(header={"signer": "forged"})}
        assert client.get("/me", headers=forged).status_code == 401
        assert client.get("/me", headers=alb.headers("bob")).json()["sub"] == "bob"


@pytest.mark.parametrize(
    ("mutate", "code"),
    [
        (lambda alb, h: h.update({"x-amzn-oidc-identity": "mallory"}), "identity_mismatch"),
        (
            lambda alb, h: h.update({"x-amzn-oidc-accesstoken": alb.access_token("mallory")}),
            "identity_mismatch",
        ),
        (lambda alb, h: h.pop("x-amzn-oidc-accesstoken"), "bad_access_token"),
        (lambda alb, h: h.update({"x-amzn-oidc-accesstoken": "opaque"}), "bad_access_token"),
        (
            lambda alb, h: h.update(
                {"x-amzn-oidc-accesstoken": alb.access_token(claims={"token_use": "id"})}
            ),
            "bad_access_token",
        ),
        (lambda alb, h: h.pop("x-amzn-oidc-data"), "bad_header"),
        (lambda alb, h: h.update({"x-amzn-oidc-data": "garbage"}), "malformed_token"),
        (
            lambda alb, h: h.update({"x-amzn-oidc-data": alb.data_token(header={"signer": "x"})}),
            "untrusted_signer",
        ),
        (
            lambda alb, h: h.update({"x-amzn-oidc-data": alb.data_token(header={"client": "x"})}),
            "bad_claim",
        ),
        (lambda alb, h: h.update({"x-amzn-oidc-data": alb.data_token(exp=1)}), "token_expired"),
        (lambda alb, h: h.update({"x-amzn-oidc-data": "a" * 17000 + ".b.c"}), "bad_header"),
    ],
)
def test_bad_requests_are_refused_with_a_reason_code(
    alb: FakeALB, client: TestClient, mutate: Any, code: str
) -> None:
    headers = alb.headers("user-1")
    mutate(alb, headers)
    response = client.get("/me", headers=headers)
    assert response.status_code == 401
    assert response.json()["error"] == code
    for value in headers.values():
        if len(value) > 20:
            assert value[:20] not in response.text


def test_duplicated_header_is_refused(alb: FakeALB, client: TestClient) -> None:
    token = alb.data_token()
    response = client.get("/me", headers=[("x-amzn-oidc-data", token), ("x-amzn-oidc-data", token)])
    assert response.status_code == 401
    assert response.json()["error"] == "bad_header"


def test_comma_joined_header_is_refused(alb: FakeALB, client: TestClient) -> None:
    headers = alb.headers()
    headers["x-amzn-oidc-identity"] = "user-1, user-1"
    assert client.get("/me", headers=headers).json()["error"] == "bad_header"


def test_expiry_follows_the_injected_clock(alb: FakeALB, clock: Clock, client: TestClient) -> None:
    headers = alb.headers()
    assert client.get("/me", headers=headers).status_code == 200
    clock.advance(alb.token_lifetime + 31)
    assert client.get("/me", headers=headers).json()["error"] == "token_expired"


def test_key_endpoint_down_is_503_with_retry_after(alb: FakeALB, clock: Clock) -> None:
    down = httpx2.AsyncClient(transport=httpx2.MockTransport(lambda request: httpx2.Response(500)))
    with TestClient(make_app(alb, clock, http_client=down)) as client:
        response = client.get("/me", headers=alb.headers())
    assert response.status_code == 503
    assert response.json()["error"] == "key_unavailable"
    assert response.headers["retry-after"] == "5"


def _refuse_all(request: httpx2.Request) -> httpx2.Response:
    raise httpx2.ConnectError("connection refused", request=request)


def _alb_key_only(alb: FakeALB) -> Callable[[httpx2.Request], httpx2.Response]:
    def respond(request: httpx2.Request) -> httpx2.Response:
        if str(request.url) == alb.jwks_url:
            return httpx2.Response(500)
        return alb.handle(request)

    return respond


@pytest.mark.parametrize(
    ("cause", "reason", "logged"),
    [
        ("http-500", "key_fetch_failed", "HTTP 500"),
        ("connect-error", "key_fetch_failed", "ConnectError"),
        ("budget-spent", "key_fetch_budget", "fetch budget spent"),
        ("jwks-down", "jwks_fetch_failed", "HTTP 500"),
    ],
)
def test_503_body_says_only_unavailable_and_the_log_says_why(
    alb: FakeALB,
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
    cause: str,
    reason: str,
    logged: str,
) -> None:
    handlers: dict[str, Callable[[httpx2.Request], httpx2.Response]] = {
        "http-500": lambda request: httpx2.Response(500),
        "connect-error": _refuse_all,
        "budget-spent": alb.handle,
        "jwks-down": _alb_key_only(alb),
    }
    http_client = httpx2.AsyncClient(transport=httpx2.MockTransport(handlers[cause]))
    caplog.set_level(logging.INFO, logger="alb_oidc")
    limit = {"max_key_fetches_per_minute": 1} if cause == "budget-spent" else {}
    with TestClient(make_app(alb, clock, http_client=http_client, **limit)) as client:
        if cause == "budget-spent":
            other = alb.data_token(header={"kid": "0a0b0c0d-0000-4000-8000-000000000000"})
            client.get("/me", headers={"x-amzn-oidc-data": other})  # spends the only fetch
        response = client.get("/me", headers=alb.headers())
    assert response.status_code == 503
    assert response.json() == {
        "detail": "the signing key is unavailable; retry later",
        "error": "key_unavailable",
    }
    assert response.headers["retry-after"] == "5"
    (line,) = [r.getMessage() for r in caplog.records if "refused GET /me" in r.getMessage()][-1:]
    assert f"({reason})" in line
    assert logged in line


def test_without_cognito_the_access_token_is_ignored(alb: FakeALB, clock: Clock) -> None:
    with TestClient(make_app(alb, clock, cognito=None)) as client:
        headers = alb.headers("alice", scopes=["tasks/read"], groups=["admins"])
        headers["x-amzn-oidc-accesstoken"] = "opaque-token-from-another-idp"
        body = client.get("/me", headers=headers).json()
    assert body["sub"] == "alice"
    assert body["scopes"] == ["authenticated"]
    assert body["groups"] == []
    assert alb.requests == [alb.key_url()]  # the JWKS was never asked for


def test_insecure_decode_reads_scopes_but_says_so(alb: FakeALB, clock: Clock) -> None:
    with TestClient(
        make_app(alb, clock, cognito=None, insecure_decode_unverified_access_token=True)
    ) as client:
        body = client.get("/me", headers=alb.headers("alice", scopes=["tasks/read"])).json()
        assert body["scopes"] == ["authenticated", "tasks/read"]
        assert body["verified"] is False
        other = alb.headers("alice")
        other["x-amzn-oidc-accesstoken"] = alb.access_token("mallory")
        assert client.get("/me", headers=other).json()["error"] == "identity_mismatch"


def test_insecure_decode_refuses_claims_nested_too_deeply(alb: FakeALB, clock: Clock) -> None:
    # Freezing them raised ClaimsTooDeepError, which nothing caught: a 500.
    nested: object = []
    for _ in range(70):
        nested = [nested]
    with TestClient(
        make_app(alb, clock, cognito=None, insecure_decode_unverified_access_token=True)
    ) as client:
        headers = alb.headers("alice")
        headers["x-amzn-oidc-accesstoken"] = alb.access_token("alice", claims={"x": nested})
        response = client.get("/me", headers=headers)
    assert response.status_code == 401
    assert response.json()["error"] == "bad_access_token"
    assert "nest deeper than 64 levels" in response.json()["detail"]


def test_custom_error_handler(alb: FakeALB, clock: Clock) -> None:
    seen: list[AuthError] = []

    def on_error(conn: HTTPConnection, exc: AuthError) -> Response:
        seen.append(exc)
        return PlainTextResponse(
            f"go away ({exc.code}) from {conn.url.path}", status_code=exc.status_code
        )

    with TestClient(make_app(alb, clock, on_error=on_error)) as client:
        response = client.get("/me")
    assert response.status_code == 401
    assert response.text == "go away (missing_token) from /me"
    assert seen[0].code == "missing_token"


@pytest.mark.parametrize(
    "handler",
    [
        lambda conn, exc: (_ for _ in ()).throw(HTTPException(401)),  # FastAPI's habit
        lambda conn, exc: None,
        lambda conn, exc: {"detail": "no"},
    ],
    ids=["raises", "returns None", "returns a dict"],
)
def test_an_error_handler_that_fails_gets_the_default_refusal_not_a_500(
    alb: FakeALB, clock: Clock, handler: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    with TestClient(make_app(alb, clock, on_error=handler)) as client:
        response = client.get("/me")
    assert response.status_code == 401
    assert response.json()["error"] == "missing_token"
    assert "the default refusal is sent instead" in caplog.text


def test_async_custom_error_handler(alb: FakeALB, clock: Clock) -> None:
    async def on_error(conn: HTTPConnection, exc: AuthError) -> Response:
        return PlainTextResponse("login page", status_code=401)

    with TestClient(make_app(alb, clock, on_error=on_error)) as client:
        assert client.get("/me").text == "login page"


def test_websocket_gets_the_user(alb: FakeALB, client: TestClient) -> None:
    with client.websocket_connect("/ws", headers=alb.headers("alice", scopes=["chat"])) as socket:
        assert socket.receive_json() == {"sub": "alice", "scopes": ["authenticated", "chat"]}


def test_a_refused_websocket_handshake_gets_the_requests_refusal(client: TestClient) -> None:
    # TestClient, like uvicorn, offers the `websocket.http.response` extension.
    with pytest.raises(WebSocketDenialResponse) as caught, client.websocket_connect("/ws"):
        pass  # pragma: no cover - the handshake is refused
    assert caught.value.status_code == 401
    assert caught.value.json() == {
        "detail": "not authenticated by the load balancer",
        "error": "missing_token",
    }
    assert caught.value.headers["cache-control"] == "no-store"


@pytest.mark.anyio
async def test_without_denial_responses_a_refused_websocket_is_closed_with_1008(
    alb: FakeALB, clock: Clock
) -> None:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "websocket.connect"}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "websocket", "path": "/ws", "headers": [], "extensions": {}}
    await make_app(alb, clock)(scope, receive, send)
    assert sent == [{"type": "websocket.close", "code": 1008, "reason": "missing_token"}]


def test_a_real_server_answers_a_refused_handshake_with_the_refusal(
    alb: FakeALB, clock: Clock
) -> None:
    # What a browser or a websocket client sees from uvicorn, not TestClient's stand-in.
    with serving(make_app(alb, clock)) as url:
        ws_url = url.replace("http://", "ws://") + "/ws"
        with pytest.raises(InvalidStatus) as refused:
            connect(ws_url, open_timeout=10).close()
        headers = [(name.lower(), value) for name, value in alb.headers("alice").items()]
        with connect(ws_url, additional_headers=headers, open_timeout=10) as socket:
            assert json.loads(socket.recv(timeout=10))["sub"] == "alice"
    response = refused.value.response
    assert response.status_code == 401
    assert json.loads(response.body)["error"] == "missing_token"


def test_lifespan_passes_through_and_warm_up_fetches_the_jwks(alb: FakeALB, clock: Clock) -> None:
    events: list[str] = []

    async def lifespan(app: Starlette) -> Any:
        events.append("startup")
        yield
        events.append("shutdown")

    app = Starlette(routes=[Route("/me", whoami)], lifespan=asynccontextmanager(lifespan))
    app.add_middleware(
        ALBAuthMiddleware,
        config=alb.config(),
        http_client=alb.http_client(),
        clock=clock,
        warm_up=True,
    )
    with TestClient(app):
        assert alb.requests == [alb.jwks_url]
    assert events == ["startup", "shutdown"]


def test_no_warm_up_by_default_and_nothing_fetched_at_construction(
    alb: FakeALB, clock: Clock
) -> None:
    with TestClient(make_app(alb, clock)):
        pass
    assert alb.requests == []


def test_owned_client_is_created_on_demand_and_closed_on_shutdown(
    alb: FakeALB, clock: Clock
) -> None:
    app = Starlette(routes=[Route("/me", whoami)])
    # Port 9 (discard) on loopback: nothing listens, so the fetch fails fast and stays local.
    config = alb.config(key_url="http://127.0.0.1:9/{kid}", cognito=None)
    middleware = ALBAuthMiddleware(app, config=config, clock=clock)
    assert middleware.authenticator._fetcher._client is None
    with TestClient(middleware) as client:
        assert client.get("/me", headers=alb.headers()).status_code == 503
        assert middleware.authenticator._fetcher._client is not None
    assert middleware.authenticator._fetcher._client is None


def test_other_scope_types_pass_through(alb: FakeALB) -> None:
    seen = []

    async def inner(scope: dict, receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    middleware = ALBAuthMiddleware(inner, config=alb.config())
    anyio.run(middleware, {"type": "custom"}, None, None)
    assert seen == ["custom"]


def test_refusals_are_logged_with_a_code_and_no_token(
    alb: FakeALB, client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="alb_oidc")
    token = alb.data_token(header={"signer": "forged"})
    client.get("/me?x=1", headers={"x-amzn-oidc-data": token})
    assert "refused GET /me (untrusted_signer)" in caplog.text
    for segment in token.split("."):
        assert segment.rstrip("=")[:16] not in caplog.text


def test_user_can_be_built_directly() -> None:
    user = ALBUser(
        {"sub": "x", "email": "x@example.com"}, {"scope": "a b", "cognito:groups": ["g"]}
    )
    assert user.scopes == {"a", "b"}
    assert user.groups == {"g"}


def test_log_lines_cannot_be_forged_through_the_path(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="alb_oidc")
    client.get("/me%0A2026-01-01 INFO alb_oidc: accepted admin" + "x" * 500)
    (record,) = [r for r in caplog.records if "refused" in r.getMessage()]
    message = record.getMessage()
    assert "\n" not in message
    assert "\\n2026-01-01" in message
    assert "... (missing_token): not authenticated" in message


def test_a_handler_cannot_change_the_user_another_request_sees(alb: FakeALB, clock: Clock) -> None:
    """The same token bytes give the same verified result (the caches); a handler that tries to
    grant itself a role, a group or an attribute changes nothing for the next request."""

    async def meddle(request: Request) -> JSONResponse:
        user = request.user
        attempts = [
            lambda: user.claims["roles"].append("admin"),
            lambda: user.access_claims["cognito:groups"].append("admins"),
            lambda: setattr(user, "tenant", "other"),
        ]
        refused = 0
        for attempt in attempts:
            try:
                attempt()
            except (AttributeError, TypeError):
                refused += 1
        return JSONResponse(
            {
                "refused": refused,
                "roles": list(user.claims["roles"]),
                "groups": sorted(user.groups),
                "tenant": getattr(user, "tenant", None),
            }
        )

    app = Starlette(routes=[Route("/meddle", meddle)])
    app.add_middleware(
        ALBAuthMiddleware, config=alb.config(), http_client=alb.http_client(), clock=clock
    )
    headers = alb.headers("alice", groups=["users"], claims={"roles": ["reader"]})
    with TestClient(app) as client:
        first = client.get("/meddle", headers=headers).json()
        second = client.get("/meddle", headers=headers).json()
    expected = {"refused": 3, "roles": ["reader"], "groups": ["users"], "tenant": None}
    assert first == second == expected


def test_dot_segments_do_not_escape_a_public_prefix(alb: FakeALB, clock: Clock) -> None:
    """HTTP clients resolve dot segments before sending; a raw client or an attacker need not,
    and uvicorn hands the path over as sent. So call the app with the raw path."""
    app = make_app(alb, clock, public_paths=["/health*"])

    async def status_of(path: str) -> int:
        return (await asgi_get(app, path, []))[0]

    assert anyio.run(status_of, "/health") == 200
    assert anyio.run(status_of, "/health/../me") == 401


def test_refusal_log_lines_name_the_logger_once_and_carry_structured_fields(
    alb: FakeALB, client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="alb_oidc")
    client.get("/me%0Aforged", headers={"x-amzn-oidc-data": alb.data_token(exp=1)})
    (record,) = [r for r in caplog.records if r.name == "alb_oidc"]
    # The logger's name already says alb_oidc: a formatter printing it would show it twice.
    assert record.getMessage().startswith("refused GET /me\\nforged (token_expired): ")
    assert (record.alb_oidc_code, record.alb_oidc_reason) == ("token_expired", "token_expired")  # type: ignore[attr-defined]
    assert record.alb_oidc_path == "/me\\nforged"  # type: ignore[attr-defined]
    assert record.alb_oidc_status == 401  # type: ignore[attr-defined]


def test_a_503_log_record_carries_the_reason_the_body_does_not(
    alb: FakeALB, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    down = httpx2.AsyncClient(transport=httpx2.MockTransport(lambda _: httpx2.Response(500)))
    with TestClient(make_app(alb, clock, http_client=down)) as client:
        caplog.set_level(logging.INFO, logger="alb_oidc")
        assert client.get("/me", headers=alb.headers()).status_code == 503
    (record,) = [r for r in caplog.records if r.getMessage().startswith("refused")]
    assert record.levelname == "WARNING"
    assert record.alb_oidc_code == "key_unavailable"  # type: ignore[attr-defined]
    assert record.alb_oidc_reason == "key_fetch_failed"  # type: ignore[attr-defined]
    assert record.alb_oidc_status == 503  # type: ignore[attr-defined]


def test_no_message_of_the_package_repeats_the_logger_name() -> None:
    package = Path(alb_oidc.__file__).parent
    for source in package.rglob("*.py"):
        assert '"alb_oidc: ' not in source.read_text("utf-8"), source.name
