"""The demo app explains itself: what the ALB did, every route, errors a browser can read."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from alb_oidc.dev.demo_app import create_app
from alb_oidc.dev.idp import DevIdP
from alb_oidc.dev.stack import DevStack
from alb_oidc.testing import FakeALB

from .test_dev_idp import AUTHORIZE, CLIENT, ISSUER

LOGOUT = (
    "https://auth.example.com/logout?client_id=c&logout_uri=https%3A%2F%2Fapp.example.com%2Fbye"
)
BROWSER = {"accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


@pytest.fixture
def client(alb: FakeALB) -> Iterator[TestClient]:
    config = alb.config(public_paths=["/health", "/bye"], logout_url=LOGOUT)
    with TestClient(create_app(config, http_client=alb.http_client())) as test_client:
        yield test_client


def test_home_says_what_the_alb_did_and_shows_exp_as_a_time(
    alb: FakeALB, client: TestClient
) -> None:
    page = client.get("/", headers=alb.headers("alice", claims={"exp": 1_800_000_120})).text
    assert "logged you in at the identity provider and forwarded this request" in page
    assert "<code>x-amzn-oidc-data</code>" in page
    assert "what follows is <code>request.user</code>" in page
    assert "1800000120 (2027-01-15 08:02:00 UTC: the data token&#x27;s expiry" in page


def test_home_links_every_route(alb: FakeALB, client: TestClient) -> None:
    page = client.get("/", headers=alb.headers("alice")).text
    app = client.app
    paths = {route.path for route in app.routes if isinstance(route, APIRoute)}  # type: ignore[attr-defined]
    paths |= {"/logout", "/docs"}
    for path in paths - {"/", "/bye"}:
        assert f"<a href='{path}'>" in page, path


def test_a_browser_gets_a_403_page_with_a_way_back(alb: FakeALB, client: TestClient) -> None:
    response = client.get("/write", headers={**alb.headers("bob"), **BROWSER})
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("text/html")
    assert "<h1>403 Not allowed</h1>" in response.text
    assert "missing scope: tasks/write" in response.text
    assert "<a href='/'>Back to the home page</a>" in response.text


def test_a_browser_gets_a_401_page_from_the_middleware(client: TestClient) -> None:
    response = client.get("/me", headers=BROWSER)
    assert response.status_code == 401
    assert "<h1>401 Not logged in</h1>" in response.text
    assert "<a href='/'>" in response.text
    assert response.headers["cache-control"] == "no-store"


def test_api_clients_still_get_json(alb: FakeALB, client: TestClient) -> None:
    assert client.get("/write", headers=alb.headers("bob")).json() == {
        "detail": "missing scope: tasks/write"
    }
    assert client.get("/me").json()["error"] == "missing_token"


def test_the_login_form_hints_the_demo_users_only_when_they_are_the_users() -> None:
    idp = DevIdP(
        ISSUER, [], [CLIENT], login_hint="Demo users (username / password): alice / alice."
    )
    with TestClient(idp) as http:
        page = http.get("/oauth2/authorize", params=AUTHORIZE).text
    assert "Demo users (username / password): alice / alice." in page


@pytest.mark.parametrize(("own_users", "hinted"), [(False, True), (True, False)])
def test_the_stack_hints_the_demo_passwords_only_for_the_demo_users(
    own_users: bool, hinted: bool
) -> None:
    from alb_oidc.dev.users import demo_users  # noqa: PLC0415

    stack = DevStack(
        upstream="http://127.0.0.1:9", port=0, users=demo_users() if own_users else None
    )
    try:
        assert stack.idp is not None
        hint = stack.idp.login_hint
        assert (hint == "Demo users (username / password): alice / alice, bob / bob.") is hinted
        assert (hint is None) is not hinted
    finally:
        stack.stop()


def test_the_environment_adds_public_paths_and_the_signed_out_page_is_served_there(
    alb: FakeALB, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CloudFormation stack names its signed-out page in ALB_OIDC_PUBLIC_PATHS (parameter
    `SignedOutPage`): the app serves it there without login, and keeps `/health` and `/bye`."""
    monkeypatch.setenv("ALB_OIDC_ALB_ARNS", alb.alb_arn)
    monkeypatch.setenv("ALB_OIDC_LOGOUT_URL", LOGOUT)
    monkeypatch.setenv("ALB_OIDC_PUBLIC_PATHS", "/health,/signed-out,/static/*")
    app = create_app(http_client=alb.http_client())
    with TestClient(app) as client:
        for path in ("/signed-out", "/bye"):
            page = client.get(path)
            assert page.status_code == 200, path
            assert "<h1>Logged out</h1>" in page.text
        assert client.get("/health").json() == {"status": "ok"}
        assert client.get("/me").status_code == 401
        assert client.get("/static/x").status_code == 404  # public, but nothing is there
    assert app.user_middleware[0].kwargs["config"].public_paths == (
        "/health",
        "/bye",
        "/signed-out",
        "/static/*",
    )
