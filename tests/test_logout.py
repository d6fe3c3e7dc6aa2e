from __future__ import annotations

from http.cookies import SimpleCookie
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.testclient import TestClient
from starlette.types import ASGIApp, Receive, Scope, Send

from alb_oidc import (
    ALBAuthMiddleware,
    ConfigurationError,
    cognito_logout_url,
    logout_endpoint,
    logout_response,
    oidc_logout_url,
)
from alb_oidc.logout import shard_names
from alb_oidc.testing import FakeALB

from .conftest import Clock

LOGOUT = (
    "https://auth.example.com/logout?client_id=abc&logout_uri=https%3A%2F%2Fapp.example.com%2Fbye"
)


def set_cookies(response: object) -> dict[str, str]:
    """Set-Cookie headers by cookie name."""
    cookies = {}
    headers = response.headers  # type: ignore[attr-defined]
    values = (
        headers.get_list("set-cookie")
        if hasattr(headers, "get_list")
        else headers.getlist("set-cookie")
    )
    for value in values:
        name = value.split("=", 1)[0]
        cookies[name] = value
    return cookies


def make_app(alb: FakeALB, clock: Clock, **config: object) -> Starlette:
    async def custom(request: Request) -> Response:
        return logout_response(
            request, redirect_url="https://idp.example.com/bye", cookie_name="Custom"
        )

    app = Starlette(routes=[Route("/logout", logout_endpoint), Route("/custom", custom)])
    app.add_middleware(
        ALBAuthMiddleware, config=alb.config(**config), http_client=alb.http_client(), clock=clock
    )
    return app


def test_logout_expires_every_shard_and_redirects(alb: FakeALB, clock: Clock) -> None:
    with TestClient(make_app(alb, clock, logout_url=LOGOUT), follow_redirects=False) as client:
        client.cookies.set("AWSELBAuthSessionCookie-0", "a")
        client.cookies.set("AWSELBAuthSessionCookie-1", "b")
        client.cookies.set("AWSELBAuthSessionCookie-7", "stray")
        client.cookies.set("other", "kept")
        response = client.get("/logout", headers=alb.headers())
    assert response.status_code == 303
    assert response.headers["location"] == LOGOUT
    assert response.headers["cache-control"] == "no-store"
    cookies = set_cookies(response)
    expected = {f"AWSELBAuthSessionCookie-{n}" for n in (0, 1, 2, 3, 7)}
    assert set(cookies) == expected
    for header in cookies.values():
        parsed = SimpleCookie(header)
        morsel = next(iter(parsed.values()))
        assert morsel.value == ""
        assert morsel["max-age"] == "0"
        assert morsel["expires"] == "Thu, 01 Jan 1970 00:00:00 GMT"
        assert morsel["path"] == "/"
        assert morsel["secure"] is True
        assert morsel["httponly"] is True


@pytest.mark.parametrize(
    ("base_url", "secure"),
    [
        ("https://app.example.com", True),
        ("http://app.example.com", True),  # behind the ALB, TLS ends at the load balancer
        ("http://127.0.0.1:8000", False),  # the local emulator: curl drops Secure over http
        ("http://localhost:8000", False),
        ("http://[::1]:8000", False),
    ],
)
def test_the_expiring_cookies_are_secure_but_on_a_loopback_host(
    alb: FakeALB, clock: Clock, base_url: str, secure: bool
) -> None:
    with TestClient(
        make_app(alb, clock, logout_url=LOGOUT), base_url=base_url, follow_redirects=False
    ) as client:
        response = client.get("/logout", headers=alb.headers())
    morsels = [next(iter(SimpleCookie(h).values())) for h in set_cookies(response).values()]
    assert len(morsels) == 4
    assert all(bool(morsel["secure"]) is secure and morsel["httponly"] for morsel in morsels)


def test_a_browser_drops_every_shard(alb: FakeALB, clock: Clock) -> None:
    # The client's cookie jar plays the browser: after the logout response nothing is left.
    with TestClient(
        make_app(alb, clock, logout_url=LOGOUT),
        base_url="https://app.example.com",
        follow_redirects=False,
    ) as client:
        for n in range(4):
            client.cookies.set(
                f"AWSELBAuthSessionCookie-{n}", "x" * 100, domain="app.example.com", path="/"
            )
        client.get("/logout", headers=alb.headers())
        assert not [c for c in client.cookies.jar if c.name.startswith("AWSELBAuthSessionCookie")]


def test_cookie_name_and_redirect_come_from_config(alb: FakeALB, clock: Clock) -> None:
    with TestClient(
        make_app(alb, clock, logout_url=LOGOUT, session_cookie="MyAppSession"),
        follow_redirects=False,
    ) as client:
        response = client.get("/logout", headers=alb.headers())
    assert set(set_cookies(response)) == {f"MyAppSession-{n}" for n in range(4)}


def test_explicit_arguments_win(alb: FakeALB, clock: Clock) -> None:
    with TestClient(make_app(alb, clock, logout_url=LOGOUT), follow_redirects=False) as client:
        response = client.get("/custom", headers=alb.headers())
    assert response.headers["location"] == "https://idp.example.com/bye"
    assert set(set_cookies(response)) == {f"Custom-{n}" for n in range(4)}


def refused(response: Response, caplog: pytest.LogCaptureFixture, reason: str) -> bool:
    """The 503 of a logout that cannot happen, with its reason logged as an error."""
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    return (
        response.status_code == 503
        and response.body == b"logout is not configured on this server"
        and "set-cookie" not in response.headers
        and any(message.startswith(f"logout is not configured: {reason}") for message in errors)
    )


def test_logout_without_a_target_is_a_503_with_the_reason_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # In an app's own route this raised ConfigurationError: a 500.
    request = Request({"type": "http", "method": "GET", "path": "/", "headers": []})
    assert refused(logout_response(request), caplog, "logout_response needs redirect_url")


def test_logout_endpoint_without_logout_url_stops_a_starlette_app_at_startup(
    alb: FakeALB, clock: Clock
) -> None:
    app = make_app(alb, clock)
    with pytest.raises(ConfigurationError, match=r"routed at /logout .*logout_url is not set"):
        TestClient(app).__enter__()


def test_logout_endpoint_without_logout_url_stops_a_fastapi_app_at_startup(
    alb: FakeALB, clock: Clock
) -> None:
    app = FastAPI()
    app.add_middleware(ALBAuthMiddleware, config=alb.config(), http_client=alb.http_client())
    sub = Starlette(routes=[Route("/out", logout_endpoint)])
    app.mount("/account", sub)
    with pytest.raises(ConfigurationError, match="routed at /account/out"):
        TestClient(app).__enter__()


def test_an_app_without_logout_endpoint_starts_without_logout_url(
    alb: FakeALB, clock: Clock
) -> None:
    app = FastAPI()
    app.add_middleware(ALBAuthMiddleware, config=alb.config(), http_client=alb.http_client())

    @app.get("/me")
    def me() -> str:
        return "me"

    with TestClient(app) as client:
        assert client.get("/me", headers=alb.headers()).status_code == 200


def test_logout_endpoint_without_logout_url_and_no_lifespan_is_a_503_not_a_500(
    alb: FakeALB, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    # Lambda runs with lifespan off, so only the endpoint itself can say what is wrong.
    client = TestClient(make_app(alb, clock), follow_redirects=False)
    response = client.get("/logout", headers=alb.headers())
    assert response.status_code == 503
    assert response.text == "logout is not configured on this server"
    assert "logout is not configured: logout_response needs redirect_url" in caplog.text


def test_logout_works_without_the_middleware() -> None:
    request = Request({"type": "http", "method": "GET", "path": "/", "headers": []})
    response = logout_response(request, redirect_url="https://idp.example.com/logout")
    assert set(set_cookies(response)) == {f"AWSELBAuthSessionCookie-{n}" for n in range(4)}


def test_bad_cookie_name_is_refused(caplog: pytest.LogCaptureFixture) -> None:
    request = Request({"type": "http", "method": "GET", "path": "/", "headers": []})
    response = logout_response(request, redirect_url="https://x.example", cookie_name="a;b")
    assert refused(response, caplog, "cookie_name is not a cookie name")


def test_shard_names_only_match_the_cookie_family() -> None:
    cookies = {"S-9": "", "S": "", "S-x": "", "SS-1": "", "S-10": "", "S-1": ""}
    assert shard_names("S", cookies) == ["S-0", "S-1", "S-2", "S-3", "S", "S-10", "S-9"]


def test_cognito_logout_url() -> None:
    url = cognito_logout_url(
        "auth.example.com", "4fmvht22tjrgd7d3k3tghttct7", "https://app.example.com/bye?x=1&y=2"
    )
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "auth.example.com", "/logout")
    assert parse_qs(parts.query) == {
        "client_id": ["4fmvht22tjrgd7d3k3tghttct7"],
        "logout_uri": ["https://app.example.com/bye?x=1&y=2"],
    }
    assert cognito_logout_url("https://auth.example.com/", "c", "https://a.example/") == (
        "https://auth.example.com/logout?client_id=c&logout_uri=https%3A%2F%2Fa.example%2F"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("http://auth.example.com", "c", "https://a.example/"), "https"),
        (("auth.example.com/path", "c", "https://a.example/"), "host name"),
        (("auth.example.com", "", "https://a.example/"), "client_id"),
        (("auth.example.com", "c", "/bye"), "logout_uri"),
        # Whitespace would end up percent-encoded in the Location: a relative URL, no logout.
        ((" auth.example.com", "c", "https://a.example/"), "domain holds whitespace"),
        (("auth.example.com", "c", "https://a.example/bye\n"), "logout_uri holds whitespace"),
        (("auth.example.com:x", "c", "https://a.example/"), "domain is not a URL"),
        (("[auth.example.com", "c", "https://a.example/"), "domain is not a URL"),
        (("auth.example.com", "c", "https://a.example:70000/"), "logout_uri is not a URL"),
    ],
)
def test_cognito_logout_url_validates(args: tuple[str, str, str], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        cognito_logout_url(*args)


def test_cognito_logout_url_allows_loopback_http_for_local_idps() -> None:
    assert cognito_logout_url("http://127.0.0.1:9000", "c", "http://127.0.0.1:8000/bye").startswith(
        "http://127.0.0.1:9000/logout?"
    )


def test_oidc_logout_url_keeps_existing_query() -> None:
    url = oidc_logout_url(
        "https://idp.example.com/end?tenant=a", "https://app.example.com/bye", client_id="c"
    )
    parts = urlsplit(url)
    assert parts.path == "/end"
    assert parse_qs(parts.query) == {
        "tenant": ["a"],
        "post_logout_redirect_uri": ["https://app.example.com/bye"],
        "client_id": ["c"],
    }
    assert "client_id" not in oidc_logout_url("https://idp.example.com/end", "https://a.example/")


def test_oidc_logout_url_validates() -> None:
    with pytest.raises(ConfigurationError, match="end_session_endpoint"):
        oidc_logout_url("http://idp.example.com/end", "https://a.example/")
    with pytest.raises(ConfigurationError, match="post_logout_redirect_uri"):
        oidc_logout_url("https://idp.example.com/end", "bye")


def test_oidc_logout_url_keeps_the_endpoints_query_as_written() -> None:
    # Parsing and re-encoding would turn `%E9` (not UTF-8) into `%EF%BF%BD` and `flag` into `flag=`.
    url = oidc_logout_url("https://idp.example.com/end?flag&x=%E9", "https://a.example/bye")
    assert url == (
        "https://idp.example.com/end?flag&x=%E9&post_logout_redirect_uri=https%3A%2F%2Fa.example%2Fbye"
    )


@pytest.mark.parametrize("name", ["post_logout_redirect_uri", "client_id"])
def test_oidc_logout_url_refuses_a_parameter_it_would_double(name: str) -> None:
    with pytest.raises(ConfigurationError, match=f"already has a `{name}` parameter"):
        oidc_logout_url(f"https://idp.example.com/end?{name}=x", "https://a.example/", "c")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (" https://idp.example.com/logout", "logout_url holds whitespace"),
        ("https://idp.example.com/logout\t", "logout_url holds whitespace"),
        ("https://idp.example.com:notaport/logout", "logout_url is not a URL"),
        ("https://idp.example.com:99999/logout", "logout_url is not a URL"),
        ("https://[idp.example.com/logout", "logout_url is not a URL"),
        ("http://idp.example.com/logout", "logout_url must use https"),
        ("/logout", "logout_url must be an absolute"),
        (123, "logout_url is not a URL"),
    ],
)
def test_a_bad_logout_url_is_refused_by_the_config(alb: FakeALB, url: object, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        alb.config(logout_url=url)


def test_a_loopback_http_logout_url_is_allowed(alb: FakeALB) -> None:
    url = "http://127.0.0.1:8001/logout?client_id=c"
    assert alb.config(logout_url=url).logout_url == url


def test_an_explicit_redirect_url_is_checked_too(caplog: pytest.LogCaptureFixture) -> None:
    request = Request({"type": "http", "method": "GET", "path": "/", "headers": []})
    response = logout_response(request, redirect_url=" https://idp.example.com/logout")
    assert refused(response, caplog, "redirect_url holds whitespace")


@pytest.mark.parametrize("why", ["expired data token", "key endpoint down", "no headers"])
def test_logout_works_when_the_login_no_longer_verifies(
    alb: FakeALB, clock: Clock, why: str
) -> None:
    # Logging out needs no identity: a user whose headers fail (their clock, a key outage)
    # must still be able to end the ALB session. Before: 401 or 503, and no cookie expired.
    app = make_app(alb, clock, logout_url=LOGOUT)
    headers = alb.headers("alice")
    if why == "key endpoint down":
        down = httpx2.AsyncClient(transport=httpx2.MockTransport(lambda _: httpx2.Response(500)))
        app = Starlette(
            routes=[Route("/logout", logout_endpoint), Route("/me", lambda _: Response("me"))]
        )
        app.add_middleware(
            ALBAuthMiddleware, config=alb.config(logout_url=LOGOUT), http_client=down
        )
    elif why == "no headers":
        headers = {}
    with TestClient(app, follow_redirects=False) as client:
        if why == "expired data token":
            clock.advance(alb.token_lifetime + 60)
        client.cookies.set("AWSELBAuthSessionCookie-0", "a")
        response = client.get("/logout", headers=headers)
        assert response.status_code == 303
        assert "AWSELBAuthSessionCookie-0" in set_cookies(response)
        if why == "key endpoint down":
            assert client.get("/me", headers=headers).status_code == 503  # other paths: refused


@pytest.mark.parametrize("domain", ["myapp", "https://myapp"])
def test_a_cognito_domain_prefix_is_refused_with_the_full_name_to_give(domain: str) -> None:
    with pytest.raises(ConfigurationError, match=r"myapp\.auth\.REGION\.amazoncognito\.com"):
        cognito_logout_url(domain, "client", "https://app.example.com/bye")
    # A loopback host (a local stand-in for Cognito) has no dot, and is not a prefix.
    local = cognito_logout_url("http://localhost:9000", "c", "http://localhost:8000/bye")
    assert local.startswith("http://localhost:9000/logout?")


class CookiePathMiddleware:
    """A middleware with a `path` attribute that is no route's, as Starlette's
    `SessionMiddleware` keeps its cookie path."""

    def __init__(self, app: ASGIApp, path: str = "/") -> None:
        self.app, self.path = app, path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


def test_only_the_logout_route_is_public_whatever_middleware_sits_below(
    alb: FakeALB, clock: Clock
) -> None:
    # SessionMiddleware keeps its cookie path in a `path` attribute. Read as a route prefix, it
    # made `//logout` public (served anonymously by a catch-all route) and `/logout` refused.
    app = FastAPI()
    app.add_api_route("/logout", logout_endpoint, methods=["GET"])

    @app.api_route("/{rest:path}", methods=["GET", "POST"])
    async def catch_all(rest: str, request: Request) -> dict[str, str]:
        return {"served": rest, "user": type(request.user).__name__}

    app.add_middleware(CookiePathMiddleware)
    app.add_middleware(
        ALBAuthMiddleware,
        config=alb.config(logout_url=LOGOUT),
        http_client=alb.http_client(),
        clock=clock,
    )
    with TestClient(app, follow_redirects=False) as client:
        assert client.get("/logout").status_code == 303
        assert client.get("//logout").status_code == 401
        # The route answers GET (and HEAD); another method at its path is the app's, and needs
        # a login like any other request.
        assert client.post("/logout").status_code == 401
        assert client.post("/logout", headers=alb.headers("alice")).json() == {
            "served": "logout",
            "user": "ALBUser",
        }
