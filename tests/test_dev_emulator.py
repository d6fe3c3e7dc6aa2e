"""The ALB emulator against real loopback servers: the dev IdP, an echo upstream, httpx."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from html import unescape
from http.client import HTTPMessage, HTTPResponse
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx2
import pytest
from starlette.responses import PlainTextResponse
from starlette.testclient import TestClient
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocketDisconnect

from alb_oidc import ALBAuthenticator, ALBConfig, ConfigurationError
from alb_oidc.dev import DEV_SIGNER_ARN, ALBEmulator, EmulatorSettings
from alb_oidc.dev.paths import parse_target
from alb_oidc.dev.serving import bind
from alb_oidc.dev.stack import DevStack
from alb_oidc.dev.users import DevUser, demo_users, hash_password
from alb_oidc.tokens import parse_data_token

from .conftest import START, Clock, asgi_headers
from .servers import _FORM_ACTION, authenticate, dev_stack, echo_app, login, serve

pytestmark = pytest.mark.integration

OIDC_HEADERS = ("x-amzn-oidc-data", "x-amzn-oidc-accesstoken", "x-amzn-oidc-identity")
SPOOFED = {name: "spoofed" for name in OIDC_HEADERS}


@pytest.fixture(scope="module")
def users() -> list[DevUser]:
    return demo_users()


@pytest.fixture
def stack(users: list[DevUser]) -> Iterator[DevStack]:
    with dev_stack(users=users) as running:
        yield running


@pytest.fixture
def http() -> Iterator[httpx2.Client]:
    with httpx2.Client(follow_redirects=True, timeout=10) as client:
        yield client


def echoed(response: httpx2.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    document: dict[str, Any] = response.json()
    document["headers"] = dict(document["headers"])
    return document


def test_an_anonymous_request_is_redirected_to_the_idp(stack: DevStack) -> None:
    response = httpx2.get(f"{stack.url}/page?x=1")
    assert response.status_code == 302
    location = urlsplit(response.headers["location"])
    assert f"{location.scheme}://{location.netloc}" == stack.idp.issuer  # type: ignore[union-attr]
    assert location.path == "/oauth2/authorize"
    query = {name: values[0] for name, values in parse_qs(location.query).items()}
    assert query["redirect_uri"] == f"{stack.url}/oauth2/idpresponse"
    assert query["response_type"] == "code"
    assert query["scope"] == "openid tasks/read tasks/write"
    assert len(query["state"]) >= 32
    assert len(query["nonce"]) >= 32
    assert f"ALBOIDCDevLogin-{urlsplit(stack.url).port}-0=" in response.headers["set-cookie"]


def test_after_login_the_app_gets_verifiable_alb_headers(
    stack: DevStack, http: httpx2.Client, users: list[DevUser]
) -> None:
    final = login(http, f"{stack.url}/page?x=1", "alice", "alice")
    assert final.url == f"{stack.url}/page?x=1"
    seen = echoed(final)
    assert (seen["path"], seen["query"]) == ("/page", "x=1")
    headers = {name: seen["headers"][name] for name in OIDC_HEADERS}
    alice = users[0]
    assert headers["x-amzn-oidc-identity"] == alice.sub
    token = parse_data_token(headers["x-amzn-oidc-data"])
    assert token.header["signer"] == DEV_SIGNER_ARN
    assert token.header["kid"] == stack.emulator.signer.kid
    assert all(len(part) % 4 == 0 for part in headers["x-amzn-oidc-data"].split("."))
    assert {name: token.claims[name] for name in ("sub", "email", "username", "iss")} == {
        "sub": alice.sub,
        "email": "alice@example.com",
        "username": "alice",
        "iss": stack.idp.issuer,  # type: ignore[union-attr]
    }
    user = authenticate(stack.app_config(), headers)
    assert user.sub == alice.sub
    assert user.scopes == {"openid", "tasks/read", "tasks/write"}
    assert user.groups == {"admins"}
    assert user.access_token_verified


def test_client_sent_oidc_headers_never_reach_the_app(stack: DevStack, http: httpx2.Client) -> None:
    anonymous = echoed(http.get(f"{stack.url}/health", headers=SPOOFED))
    assert not set(OIDC_HEADERS) & set(anonymous["headers"])
    login(http, f"{stack.url}/", "bob", "bob")
    seen = echoed(http.get(f"{stack.url}/x", headers={"X-Amzn-Oidc-Data": "spoofed"}))
    assert seen["headers"]["x-amzn-oidc-data"] != "spoofed"
    assert [name for name, _ in http.get(f"{stack.url}/x").json()["headers"]].count(
        "x-amzn-oidc-data"
    ) == 1


def test_forwarding_keeps_the_request_and_sets_x_forwarded(
    stack: DevStack, http: httpx2.Client
) -> None:
    login(http, f"{stack.url}/", "bob", "bob")
    body = bytes(range(256)) * 12_000  # 3 MB, streamed both ways
    seen = echoed(
        http.post(
            f"{stack.url}/upload?a=1&a=2&b=%20",
            content=body,
            headers={"X-Custom": "kept", "X-Forwarded-For": "203.0.113.9"},
        )
    )
    assert (seen["method"], seen["path"], seen["query"]) == ("POST", "/upload", "a=1&a=2&b=%20")
    assert seen["body_size"] == len(body)
    assert seen["headers"]["x-custom"] == "kept"
    assert seen["headers"]["x-forwarded-for"] == "203.0.113.9, 127.0.0.1"
    assert seen["headers"]["x-forwarded-proto"] == "http"
    assert seen["headers"]["x-forwarded-port"] == str(urlsplit(stack.url).port)
    assert seen["headers"]["host"] == urlsplit(stack.url).netloc


def test_status_redirects_and_cookies_pass_through(stack: DevStack, http: httpx2.Client) -> None:
    login(http, f"{stack.url}/", "bob", "bob")
    assert http.get(f"{stack.url}/x?status=418").status_code == 418
    redirect = http.get(f"{stack.url}/redirect", follow_redirects=False)
    assert (redirect.status_code, redirect.headers["location"]) == (307, "/elsewhere")
    cookies = http.get(f"{stack.url}/cookies").headers.get_list("set-cookie")
    assert [cookie.split(";")[0] for cookie in cookies] == ["a=1", "b=2"]


def test_public_paths_need_no_login(stack: DevStack) -> None:
    response = httpx2.get(f"{stack.url}/bye")
    assert echoed(response)["path"] == "/bye"


@pytest.mark.parametrize("target", ["/", "/x?y=2"])
def test_a_tampered_session_cookie_means_a_fresh_login(
    stack: DevStack, http: httpx2.Client, target: str
) -> None:
    login(http, f"{stack.url}/", "bob", "bob")
    value = http.cookies["AWSELBAuthSessionCookie-0"]
    http.cookies.set(
        "AWSELBAuthSessionCookie-0",
        value[:-5] + ("AAAAA" if value[-5:] != "AAAAA" else "BBBBB"),
        domain="127.0.0.1",
    )
    again = http.get(f"{stack.url}{target}", follow_redirects=False)
    assert again.status_code == 302
    assert again.headers["location"].startswith(f"{stack.idp.issuer}/oauth2/authorize")  # type: ignore[union-attr]


def test_an_expired_session_means_a_fresh_login(users: list[DevUser]) -> None:
    clock = Clock(START)
    with (
        dev_stack(users=users, session_timeout=60, clock_override=clock) as stack,
        httpx2.Client(follow_redirects=True) as http,
    ):
        login(http, f"{stack.url}/", "bob", "bob")
        assert http.get(f"{stack.url}/", follow_redirects=False).status_code == 200
        clock.advance(61)
        assert http.get(f"{stack.url}/", follow_redirects=False).status_code == 302


def test_the_callback_refuses_a_missing_state_or_an_idp_error(
    stack: DevStack, http: httpx2.Client
) -> None:
    forged = http.get(f"{stack.url}/oauth2/idpresponse?code=x&state=y")
    assert forged.status_code == 401
    http.get(f"{stack.url}/", follow_redirects=False)  # sets the login cookie
    for query in ("code=x&state=wrong", "error=access_denied&state=wrong"):
        assert http.get(f"{stack.url}/oauth2/idpresponse?{query}").status_code == 401


def test_the_idp_error_is_shown_escaped(stack: DevStack, http: httpx2.Client) -> None:
    start = http.get(f"{stack.url}/", follow_redirects=False)
    state = parse_qs(urlsplit(start.headers["location"]).query)["state"][0]
    page = http.get(
        f"{stack.url}/oauth2/idpresponse",
        params={"state": state, "error": "access_denied", "error_description": "<b>no</b>"},
    )
    assert page.status_code == 401
    assert "&lt;b&gt;no&lt;/b&gt;" in page.text


def test_the_key_endpoint_serves_one_pem_per_kid(stack: DevStack) -> None:
    kid = stack.emulator.signer.kid
    key = httpx2.get(f"{stack.url}/.alb-oidc-dev/keys/{kid}")
    assert key.status_code == 200
    assert key.content == stack.emulator.signer.public_key_pem
    # As the ALB's key endpoint answers: 178 bytes of PEM ending in a newline, no Content-Type.
    assert (len(key.content), key.content[-1:]) == (178, b"\n")
    assert "content-type" not in key.headers
    assert (
        httpx2.get(
            f"{stack.url}/.alb-oidc-dev/keys/00000000-0000-4000-8000-000000000000"
        ).status_code
        == 404
    )


@pytest.mark.parametrize(("mode", "status"), [("deny", 401), ("allow", 200)])
def test_on_unauthenticated_deny_and_allow(users: list[DevUser], mode: str, status: int) -> None:
    with dev_stack(users=users, on_unauthenticated=mode) as stack:
        response = httpx2.get(f"{stack.url}/x", headers=SPOOFED)
        assert response.status_code == status
        if mode == "allow":
            assert not set(OIDC_HEADERS) & set(echoed(response)["headers"])


def test_claims_too_large_for_four_shards_answer_500(users: list[DevUser]) -> None:
    huge = DevUser("huge", hash_password("huge"), claims={"blob": "x" * 20_000})
    with dev_stack(users=[huge]) as stack, httpx2.Client(follow_redirects=True) as http:
        page = login(http, f"{stack.url}/", "huge", "huge")
    assert page.status_code == 500
    assert "Claims too large" in page.text


def test_a_smaller_session_expires_the_shards_it_no_longer_uses(users: list[DevUser]) -> None:
    big = DevUser("big", hash_password("big"), claims={"blob": "x" * 6000})
    with dev_stack(users=[big, *users]) as stack, httpx2.Client(follow_redirects=True) as http:
        login(http, f"{stack.url}/", "big", "big")
        assert {
            "AWSELBAuthSessionCookie-0",
            "AWSELBAuthSessionCookie-1",
            "AWSELBAuthSessionCookie-2",
        } <= set(http.cookies)
        for name in list(http.cookies):
            if name.startswith("ALBOIDCDevIdP"):
                del http.cookies[name]
        http.cookies.set("AWSELBAuthSessionCookie-0", "tampered", domain="127.0.0.1")
        login(http, f"{stack.url}/", "bob", "bob")
        assert {n for n in http.cookies if n.startswith("AWSELBAuthSessionCookie")} == {
            "AWSELBAuthSessionCookie-0"
        }


def login_cookies(http: httpx2.Client) -> set[str]:
    """The login cookies' shards: `-0`, `-1`, ... (the emulator's port dropped from the name)."""
    return {
        "ALBOIDCDevLogin-" + cookie.name.rpartition("-")[2]
        for cookie in http.cookies.jar
        if cookie.name.startswith("ALBOIDCDevLogin")
    }


def test_a_return_address_too_long_for_the_login_cookie_is_a_414(stack: DevStack) -> None:
    response = httpx2.get(f"{stack.url}/search?q=" + "a" * 13_000, timeout=10)
    assert response.status_code == 414
    assert "too long to come back to after signing in" in response.text
    assert "set-cookie" not in response.headers


def test_a_login_clears_every_login_cookie_shard(stack: DevStack, http: httpx2.Client) -> None:
    # A 3.5 KB return address needs two login cookie shards.
    long_url = f"{stack.url}/report?q=" + "b" * 3500
    first = http.get(long_url)
    assert login_cookies(http) == {"ALBOIDCDevLogin-0", "ALBOIDCDevLogin-1"}
    signed_in = login(http, long_url, "alice", "alice")
    assert first.status_code == signed_in.status_code == 200
    assert login_cookies(http) == set()
    # The session ends; the next login (the IdP's session still valid) must work.
    for name in [name for name in http.cookies if name.startswith("AWSELBAuthSessionCookie")]:
        del http.cookies[name]
    again = http.get(f"{stack.url}/")
    assert again.status_code == 200, again.text
    assert echoed(again)["path"] == "/"


def test_a_new_login_expires_the_shards_of_a_longer_pending_one(
    stack: DevStack, http: httpx2.Client
) -> None:
    http.get(f"{stack.url}/report?q=" + "b" * 3500)  # abandoned at the login form
    assert login_cookies(http) == {"ALBOIDCDevLogin-0", "ALBOIDCDevLogin-1"}
    signed_in = login(http, f"{stack.url}/short", "bob", "bob")
    assert signed_in.status_code == 200, signed_in.text
    assert echoed(signed_in)["path"] == "/short"
    assert login_cookies(http) == set()


def offline(upstream: str = "http://127.0.0.1:9", **settings: Any) -> EmulatorSettings:
    """Settings whose IdP is nowhere (port 9, discard): for what happens before any login."""
    return EmulatorSettings(
        upstream=upstream, issuer="http://127.0.0.1:9", client_id="c", client_secret="s", **settings
    )


def test_the_emulator_in_a_test_client_without_with() -> None:
    """Starlette's TestClient without `with` runs each request on a new event loop."""
    with serve(echo_app) as upstream:
        settings = offline(upstream, public_paths=["/health"])
        client = TestClient(ALBEmulator(settings))
        statuses = [client.get("/health").status_code for _ in range(4)]
    assert statuses == [200] * 4


def test_an_ipv6_loopback_host_gets_bracketed_urls(users: list[DevUser]) -> None:
    try:
        bind("::1").close()
    except ConfigurationError:
        pytest.skip("no IPv6 loopback here")
    with serve(echo_app) as upstream:
        stack = DevStack(host="::1", port=0, upstream=upstream, users=users)
        stack.start()
        try:
            assert stack.url.startswith("http://[::1]:")
            config = stack.app_config()
            assert config.key_url == f"{stack.url}/.alb-oidc-dev/keys/{{kid}}"
            with httpx2.Client(follow_redirects=True, timeout=10) as http:
                seen = echoed(login(http, f"{stack.url}/x", "alice", "alice"))
            assert seen["path"] == "/x"
            user = authenticate(config, {name: seen["headers"][name] for name in OIDC_HEADERS})
            assert user.username == "alice"
        finally:
            stack.stop()


def test_a_failed_dev_stack_closes_the_sockets_it_bound() -> None:
    sock = bind()
    port = sock.getsockname()[1]
    sock.close()
    with pytest.raises(ConfigurationError, match="session_timeout") as caught:
        DevStack(port=port, upstream="http://127.0.0.1:9", settings={"session_timeout": 0})
    # `caught` keeps the traceback, and with it the frames: the port must still be free.
    stack = DevStack(port=port, upstream="http://127.0.0.1:9")
    stack.stop()
    assert caught.value is not None


def test_an_unreachable_upstream_is_a_502(users: list[DevUser]) -> None:
    closed = bind()
    gone = f"http://127.0.0.1:{closed.getsockname()[1]}"
    closed.close()
    stack = DevStack(port=0, upstream=gone, users=users, public_paths=["/*"])
    stack.start()
    try:
        assert httpx2.get(f"{stack.url}/x").status_code == 502
    finally:
        stack.stop()


def test_websockets_are_refused_not_passed_through(stack: DevStack) -> None:
    with (
        TestClient(stack.emulator) as client,
        pytest.raises(WebSocketDisconnect) as closed,
        client.websocket_connect("/ws"),
    ):
        pass
    assert closed.value.code == 1008


@pytest.mark.parametrize("path", ["/ws", "/health"])
def test_under_uvicorn_a_websocket_is_refused_with_403_on_public_paths_too(
    stack: DevStack, path: str
) -> None:
    parts = urlsplit(stack.url)
    upgrade = [
        f"GET {path} HTTP/1.1",
        f"Host: {parts.netloc}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version: 13",
    ]
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(("\r\n".join(upgrade) + "\r\n\r\n").encode("ascii"))
        response = HTTPResponse(sock)
        response.begin()
    # Closed before it was accepted: the server answers 403 and no connection is made.
    assert response.status == 403


def test_explicit_endpoints_skip_discovery(stack: DevStack) -> None:
    issuer = stack.idp.issuer  # type: ignore[union-attr]
    settings = EmulatorSettings(
        upstream="http://127.0.0.1:9",
        issuer=issuer,
        client_id="c",
        client_secret="s",
        authorization_endpoint=f"{issuer}/custom/authorize",
        token_endpoint=f"{issuer}/oauth2/token",
        userinfo_endpoint=f"{issuer}/oauth2/userInfo",
    )
    with serve(ALBEmulator(settings)) as url:
        location = httpx2.get(f"{url}/").headers["location"]
    assert location.startswith(f"{issuer}/custom/authorize?")


def test_an_unreachable_idp_is_a_502_page() -> None:
    settings = offline()
    with serve(ALBEmulator(settings)) as url:
        assert httpx2.get(f"{url}/").status_code == 502


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"upstream": "ftp://x"}, "upstream"),
        ({"issuer": "idp"}, "issuer"),
        ({"token_endpoint": "http://idp/token"}, "all of"),
        ({"client_id": ""}, "client_id"),
        ({"scope": "email"}, "openid"),
        ({"on_unauthenticated": "maybe"}, "on_unauthenticated"),
        ({"session_cookie": "bad name"}, "session_cookie"),
        ({"session_timeout": 0}, "session_timeout"),
        ({"session_timeout": 604_801}, "session_timeout"),
        ({"timeout": 0}, "timeout must be a positive number"),
        ({"timeout": -1}, "timeout must be a positive number"),
        ({"timeout": float("inf")}, "timeout must be a positive number"),
        ({"timeout": float("nan")}, "timeout must be a positive number"),
    ],
)
def test_settings_are_checked(overrides: dict[str, Any], message: str) -> None:
    settings: dict[str, Any] = {
        "upstream": "http://127.0.0.1:9",
        "issuer": "http://127.0.0.1:8",
        "client_id": "c",
        "client_secret": "s",
    }
    with pytest.raises(ConfigurationError, match=message):
        EmulatorSettings(**{**settings, **overrides})


def test_one_public_path_string_is_one_path() -> None:
    with serve(echo_app) as upstream:
        settings = offline(
            upstream,
            authorization_endpoint="http://127.0.0.1:9/a",
            token_endpoint="http://127.0.0.1:9/t",
            userinfo_endpoint="http://127.0.0.1:9/u",
            public_paths="/health",
        )
        assert settings.public_paths == ("/health",)
        with TestClient(ALBEmulator(settings), follow_redirects=False) as client:
            assert client.get("/health").status_code == 200
            assert client.get("/").status_code == 302
            assert client.get("/h").status_code == 302
    stack = DevStack(port=0, upstream="http://127.0.0.1:9", public_paths="/health")
    stack.stop()
    assert stack.public_paths == ("/health",)
    assert stack.emulator.settings.public_paths == ("/health",)


PATTERNS = ["/health", "/static/*", "/*", "/a?b", "/[ab]", "/x*"]
PATTERNS_REFUSED = ["health", "", " /x", "/x ", "/a*/b", "*", "*.js", "/static/*/x", "/x/**"]
SAMPLE_PATHS = ["/", "/health", "/healthz", "/static/", "/static/a/b", "/a?b", "/ab", "/a"]
SAMPLE_PATHS += ["/[ab]", "/x/**", "/x/y", "/x", "/xy", "/static"]


@pytest.mark.parametrize("pattern", PATTERNS + PATTERNS_REFUSED)
def test_public_patterns_mean_what_alb_config_makes_of_them(pattern: str) -> None:
    """The emulator forwards without a login exactly the paths the app lets through."""
    try:
        app = ALBConfig(alb_arns=[DEV_SIGNER_ARN], public_paths=[pattern])
    except ConfigurationError:
        with pytest.raises(ConfigurationError, match=r"public_paths\[0\]"):
            offline(public_paths=[pattern])
        assert pattern in PATTERNS_REFUSED
        return
    assert pattern in PATTERNS
    for path in SAMPLE_PATHS:
        target = parse_target({"path": path, "raw_path": quote(path).encode("ascii")})
        assert target is not None
        assert target.is_public([pattern]) is app.is_public(path), path


def test_a_dev_stack_checks_public_paths_before_binding_a_port() -> None:
    taken = bind()
    try:
        with pytest.raises(ConfigurationError, match=r"public_paths\[1\] must start with '/'"):
            DevStack(
                port=taken.getsockname()[1],
                upstream="http://127.0.0.1:9",
                public_paths=["/health", "health"],
            )
    finally:
        taken.close()


# -- request targets, redirects, headers: what a client can send that a browser would not --------


@dataclass
class Raw:
    status: int
    headers: HTTPMessage
    body: bytes


def raw_get(url: str, target: str, cookies: httpx2.Cookies | None = None) -> Raw:
    """Send `GET <target> HTTP/1.1` exactly as given over a socket (no client normalises it)."""
    parts = urlsplit(url)
    cookie = "; ".join(f"{name}={value}" for name, value in (cookies or {}).items())
    lines = [f"GET {target} HTTP/1.1", f"Host: {parts.netloc}", "Connection: close"]
    lines += [f"Cookie: {cookie}"] if cookie else []
    sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
    response = HTTPResponse(sock)
    response.begin()
    raw = Raw(response.status, response.headers, response.read())
    sock.close()
    return raw


async def secret_app(scope: Scope, receive: Receive, send: Send) -> None:
    """A server the emulator must never be made to fetch from."""
    if scope["type"] == "http":
        await PlainTextResponse("the secret")(scope, receive, send)


PARSERS = ["h11"] + (["httptools"] if importlib.util.find_spec("httptools") else [])


@pytest.mark.parametrize("parser", PARSERS)
@pytest.mark.parametrize(
    "target", ["@{secret}/x", "http://{secret}/x", "{secret}", "//{secret}/x", "*"]
)
def test_only_origin_form_targets_are_forwarded(parser: str, target: str) -> None:
    # uvicorn's h11 parser (what `pip install alb-oidc[demo]` runs) passes the target through.
    with serve(secret_app) as secret, serve(echo_app) as upstream:
        settings = offline(upstream, on_unauthenticated="allow")
        with serve(ALBEmulator(settings), http=parser, proxy=True) as url:
            response = raw_get(url, target.format(secret=urlsplit(secret).netloc))
    assert b"the secret" not in response.body
    if target.startswith("//"):
        # An origin-form path that happens to start with //: forwarded to the upstream as a path.
        assert json.loads(response.body)["path"] == target.format(secret=urlsplit(secret).netloc)
    elif parser == "h11":
        assert response.status == 400
    else:
        # httptools refuses these, or keeps only the path of an absolute URL (which is fine).
        assert response.status == 400 or json.loads(response.body)["path"] == "/x"


def test_the_open_proxy_target_is_refused_with_a_session(users: list[DevUser]) -> None:
    with (
        serve(secret_app) as secret,
        dev_stack(users=users) as stack,
        httpx2.Client(follow_redirects=True) as http,
    ):
        login(http, f"{stack.url}/", "bob", "bob")
        assert raw_get(stack.url, "/x", http.cookies).status == 200
        response = raw_get(stack.url, f"@{urlsplit(secret).netloc}/x", http.cookies)
    assert response.status == 400
    assert b"the secret" not in response.body


@pytest.mark.parametrize(
    "target",
    [
        "/static/../admin",
        "/static/./../admin",
        "/static/a/../../admin",
        "/static/%2e%2e/admin",
        "/static/%2E%2e/admin",
        "/static/.%2e/admin",
        "/static/..%2fadmin",
        "/static/..%2Fadmin",
        "/static/..%5cadmin",
        "/static/..\\admin",
        "/static/..;/admin",
        "/static%2f..%2fadmin",
    ],
)
def test_public_globs_cannot_be_escaped_with_dot_segments(
    users: list[DevUser], target: str
) -> None:
    with dev_stack(users=users, public_paths=["/static/*"]) as stack:
        response = raw_get(stack.url, target)
    assert response.status == 302
    assert response.headers["location"].startswith(f"{stack.idp.issuer}/oauth2/authorize")  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("target", "received"),
    [
        ("/static/app.js", "/static/app.js"),
        ("/static/a/../b.js", "/static/b.js"),
        ("/static/./c%20d.js?v=1", "/static/c d.js"),
        ("/static/%2e/e.js", "/static/e.js"),
    ],
)
def test_public_paths_are_forwarded_normalised(
    users: list[DevUser], target: str, received: str
) -> None:
    with dev_stack(users=users, public_paths=["/static/*"]) as stack:
        response = raw_get(stack.url, target)
    assert response.status == 200
    seen = json.loads(response.body)
    assert seen["path"] == received


def login_from(stack: DevStack, target: str) -> str:
    """Open `target` (sent as is), sign in as bob, and return where the emulator sends us back."""
    start = raw_get(stack.url, target)
    assert start.status == 302, start.status
    with httpx2.Client() as http:
        for header in start.headers.get_all("set-cookie") or []:
            name, _, value = header.split(";")[0].partition("=")
            http.cookies.set(name, value, domain="127.0.0.1")
        form = http.get(start.headers["location"])
        match = _FORM_ACTION.search(form.text)
        assert match, form.text
        signed_in = http.post(
            str(form.url.join(unescape(match[1]))), data={"username": "bob", "password": "bob"}
        )
        back = http.get(signed_in.headers["location"])
    assert back.status_code == 302, back.text
    location: str = back.headers["location"]
    return location


@pytest.mark.parametrize(
    ("target", "location"),
    [
        ("//evil.example/phish", "/evil.example/phish"),
        ("///evil.example/phish", "/evil.example/phish"),
        ("/%2F%2Fevil.example", "/%2F%2Fevil.example"),
        ("/%2f/evil.example", "/%2f/evil.example"),
        ("/\\evil.example", "/%5Cevil.example"),
        ("/\\/evil.example", "/%5C/evil.example"),
        ("/%5Cevil.example", "/%5Cevil.example"),
        ("/%09/evil.example", "/%09/evil.example"),
        ("/%0d%0a/evil.example", "/%0d%0a/evil.example"),
        ("/.//evil.example", "/evil.example"),
        ("/x/..//evil.example", "/evil.example"),
        ("/%2e//evil.example?next=//evil.example", "/evil.example?next=//evil.example"),
        ("/page?x=1", "/page?x=1"),
    ],
)
def test_after_login_the_redirect_stays_on_the_site(
    stack: DevStack, target: str, location: str
) -> None:
    back = login_from(stack, target)
    assert back == location
    # Browsers read `//host` and `/\\host` as another host, and drop tabs and newlines first.
    assert back.startswith("/")
    assert back[1:2] not in ("/", "\\")
    assert all(33 <= ord(char) <= 126 and char != "\\" for char in back)


def test_non_ascii_state_is_a_401_not_a_500(stack: DevStack, http: httpx2.Client) -> None:
    http.get(f"{stack.url}/", follow_redirects=False)  # sets the login cookie
    response = http.get(f"{stack.url}/oauth2/idpresponse", params={"state": "é", "code": "x"})
    assert response.status_code == 401


def test_the_emulator_adds_no_date_or_server_header_to_proxied_responses(
    stack: DevStack, http: httpx2.Client
) -> None:
    own = http.get(f"{stack.url}/", follow_redirects=False)
    assert own.status_code == 302
    assert len(own.headers.get_list("date")) == 1
    assert own.headers.get_list("server") == []
    login(http, f"{stack.url}/", "bob", "bob")
    proxied = http.get(f"{stack.url}/x")
    assert proxied.status_code == 200
    # The echo upstream runs on uvicorn, which adds one of each; the emulator passes them on.
    assert len(proxied.headers.get_list("date")) == 1
    assert proxied.headers.get_list("server") == ["uvicorn"]


# -- data tokens: one per request, as an ALB signs them --------------------------------------


def verify(config: ALBConfig, headers: dict[str, str], clock: Clock) -> Any:
    async def run() -> Any:
        authenticator = ALBAuthenticator(config, clock=clock)
        try:
            return await authenticator.authenticate(asgi_headers(headers))
        finally:
            await authenticator.aclose()

    return asyncio.run(run())


def test_every_request_gets_a_new_data_token_expiring_120_s_later(users: list[DevUser]) -> None:
    clock = Clock(START)
    with (
        dev_stack(users=users, clock_override=clock) as stack,
        httpx2.Client(follow_redirects=True) as http,
    ):
        login(http, f"{stack.url}/", "alice", "alice")
        seen = []
        for step in (0, 7):
            clock.advance(step)
            request_time = clock.now
            headers = echoed(http.get(f"{stack.url}/x"))["headers"]
            seen.append({name: headers[name] for name in OIDC_HEADERS})
            token = parse_data_token(headers["x-amzn-oidc-data"])
            assert token.header["exp"] == token.claims["exp"] == int(request_time) + 120
            user = verify(stack.app_config(), seen[-1], clock)
            assert (user.username, user.access_token_verified) == ("alice", True)
    first, second = seen
    assert first["x-amzn-oidc-data"] != second["x-amzn-oidc-data"]
    assert first["x-amzn-oidc-accesstoken"] == second["x-amzn-oidc-accesstoken"]


def test_resign_per_request_false_reuses_the_sessions_token(users: list[DevUser]) -> None:
    with (
        dev_stack(users=users, resign_per_request=False) as stack,
        httpx2.Client(follow_redirects=True) as http,
    ):
        login(http, f"{stack.url}/", "alice", "alice")
        tokens = {echoed(http.get(f"{stack.url}/x"))["headers"]["x-amzn-oidc-data"] for _ in "ab"}
    assert len(tokens) == 1


def test_an_authorization_endpoint_with_a_query_keeps_it() -> None:
    # Azure AD B2C names the user flow in the endpoint's query; RFC 6749 (3.1): keep it.
    settings = offline(
        authorization_endpoint="https://b2c.example/tenant/oauth2/v2.0/authorize?p=B2C_1_signin",
        token_endpoint="https://b2c.example/tenant/oauth2/v2.0/token?p=B2C_1_signin",
        userinfo_endpoint="https://b2c.example/userinfo",
    )
    with TestClient(ALBEmulator(settings), follow_redirects=False) as client:
        location = urlsplit(client.get("/x").headers["location"])
    assert location.path == "/tenant/oauth2/v2.0/authorize"
    query = parse_qs(location.query)
    assert query["p"] == ["B2C_1_signin"]
    parameters = ["p", "client_id", "redirect_uri", "response_type", "scope", "state", "nonce"]
    assert sorted(query) == sorted(parameters)


def form_of(http: httpx2.Client, url: str) -> str:
    """Open `url` through an emulator up to the IdP's login form; the form's address."""
    page = http.get(url)
    match = _FORM_ACTION.search(page.text)
    assert match, page.text
    return str(page.url.join(unescape(match[1])))


def test_two_emulators_on_one_machine_keep_their_logins_apart(users: list[DevUser]) -> None:
    # Cookies are scoped by host, not port: both run on 127.0.0.1. Each has its own session
    # cookie name (--session-cookie); the login and IdP cookies carry the port.
    with (
        dev_stack(users=users) as first,
        dev_stack(users=users, session_cookie="SecondAppSession") as second,
        httpx2.Client(follow_redirects=True, timeout=10) as http,
    ):
        first_form = form_of(http, f"{first.url}/one")
        second_form = form_of(http, f"{second.url}/two")  # two logins pending at once
        credentials = {"username": "alice", "password": "alice"}
        assert echoed(http.post(first_form, data=credentials))["path"] == "/one"
        assert echoed(http.post(second_form, data=credentials))["path"] == "/two"
        assert echoed(http.get(f"{first.url}/x"))["path"] == "/x"
        # Without its session, the first emulator's login is answered by its IdP's session.
        for name in [name for name in http.cookies if name.startswith("AWSELBAuthSession")]:
            del http.cookies[name]
        assert echoed(http.get(f"{first.url}/y"))["path"] == "/y"
