"""Login, guards, shards, tampering and logout in a real browser: Playwright driving Chromium.

Debian's Chromium (`apt-get install chromium`); `playwright install` cannot download browsers
here. Skips locally without them; under CI=true a missing browser fails.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from alb_oidc.dev.demo_app import create_app
from alb_oidc.dev.stack import DevStack
from alb_oidc.dev.users import DevUser, demo_users, hash_password

from .servers import dev_stack, require

try:
    from playwright.sync_api import sync_playwright
except ImportError:  # pragma: no cover - `require` below fails under CI=true
    sync_playwright = None  # type: ignore[assignment]

pytestmark = pytest.mark.integration

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SESSION = "AWSELBAuthSessionCookie"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    require(sync_playwright is not None, "playwright (the Python package)")
    require(
        shutil.which(CHROMIUM) is not None, f"Chromium at {CHROMIUM} (apt-get install chromium)"
    )
    assert sync_playwright is not None
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def users() -> list[DevUser]:
    # carol's claims are large: her session needs several cookie shards.
    carol = DevUser(
        "carol",
        hash_password("carol"),
        email="carol@example.com",
        scopes=("openid", "tasks/read"),
        claims={"name": "Carol Example", "bio": "lorem ipsum " * 600},
    )
    return [*demo_users(), carol]


@pytest.fixture(scope="module")
def demo(users: list[DevUser]) -> Iterator[DevStack]:
    with dev_stack(users=users, app_factory=create_app) as stack:
        yield stack


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context()
    opened = context.new_page()
    opened.set_default_timeout(10_000)
    yield opened
    context.close()


def sign_in(page: Any, username: str, password: str) -> None:
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")


def session_shards(page: Any) -> dict[str, str]:
    return {c["name"]: c["value"] for c in page.context.cookies() if c["name"].startswith(SESSION)}


def json_at(page: Any, url: str) -> tuple[int, Any]:
    response = page.goto(url)
    return response.status, json.loads(page.inner_text("body"))


def test_login_with_the_form_shows_the_right_user(page: Any, demo: DevStack) -> None:
    page.goto(f"{demo.url}/")
    assert page.url.startswith(f"{demo.idp.issuer}/oauth2/authorize")  # type: ignore[union-attr]
    sign_in(page, "alice", "alice")
    page.wait_for_url(f"{demo.url}/")
    assert page.inner_text("h1") == "Hello, Alice Example"
    assert page.inner_text("#scopes") == "openid tasks/read tasks/write"
    assert page.inner_text("#groups") == "admins"
    assert "alice@example.com" in page.inner_text("#claims")
    status, me = json_at(page, f"{demo.url}/me")
    assert status == 200
    assert {k: me[k] for k in ("username", "email", "scopes", "groups")} == {
        "username": "alice",
        "email": "alice@example.com",
        "scopes": ["openid", "tasks/read", "tasks/write"],
        "groups": ["admins"],
    }
    assert me["sub"] == next(u.sub for u in demo.users or [] if u.username == "alice")


@pytest.mark.parametrize(
    "target", ["//localhost:9/phish", "/%2F%2Flocalhost:9/phish", "/\\localhost:9/phish"]
)
def test_after_login_the_browser_stays_on_the_site(page: Any, demo: DevStack, target: str) -> None:
    # localhost:9 is another origin that nothing serves: the test never leaves loopback.
    page.goto(f"{demo.url}{target}")
    sign_in(page, "bob", "bob")
    page.wait_for_url(lambda url: not url.startswith(demo.idp.issuer))  # type: ignore[union-attr]
    assert page.url.startswith(f"{demo.url}/")


def test_wrong_password_shows_the_form_again(page: Any, demo: DevStack) -> None:
    page.goto(f"{demo.url}/me")
    sign_in(page, "alice", "wrong")
    assert page.inner_text("[role=alert]") == "Incorrect username or password."
    assert page.is_visible("input[name=password]")
    assert session_shards(page) == {}


@pytest.mark.parametrize(("username", "write", "admin"), [("alice", 200, 200), ("bob", 403, 403)])
def test_scope_and_group_guards(
    page: Any, demo: DevStack, username: str, write: int, admin: int
) -> None:
    page.goto(f"{demo.url}/me")
    sign_in(page, username, username)
    page.wait_for_url(f"{demo.url}/me")
    assert page.goto(f"{demo.url}/write").status == write
    assert page.goto(f"{demo.url}/admin").status == admin
    if admin == 403:
        assert "admins" in page.inner_text("body")


def test_large_claims_use_several_shards(page: Any, demo: DevStack) -> None:
    page.goto(f"{demo.url}/me")
    sign_in(page, "carol", "carol")
    page.wait_for_url(f"{demo.url}/me")
    assert set(session_shards(page)) == {f"{SESSION}-0", f"{SESSION}-1", f"{SESSION}-2"}
    status, me = json_at(page, f"{demo.url}/me")
    assert (status, me["username"]) == (200, "carol")


def test_a_tampered_cookie_forces_a_new_login(page: Any, demo: DevStack) -> None:
    page.goto(f"{demo.url}/me")
    sign_in(page, "bob", "bob")
    page.wait_for_url(f"{demo.url}/me")
    original = session_shards(page)[f"{SESSION}-0"]
    tampered = original[:10] + ("A" if original[10] != "A" else "B") + original[11:]
    page.context.add_cookies([{"name": f"{SESSION}-0", "value": tampered, "url": demo.url}])
    visited: list[str] = []
    page.on("request", lambda request: visited.append(request.url))
    # The IdP session is still alive, so the new login is silent, but it is a new login.
    status, me = json_at(page, f"{demo.url}/me")
    assert (status, me["username"]) == (200, "bob")
    assert any(url.startswith(f"{demo.idp.issuer}/oauth2/authorize") for url in visited)  # type: ignore[union-attr]
    assert session_shards(page)[f"{SESSION}-0"] not in (original, tampered)
    # Without the IdP session, the tampered cookie leads to the password form.
    page.context.clear_cookies()
    page.context.add_cookies([{"name": f"{SESSION}-0", "value": tampered, "url": demo.url}])
    page.goto(f"{demo.url}/me")
    assert page.is_visible("input[name=password]")


def test_logout_expires_every_shard_and_asks_for_credentials_again(
    page: Any, demo: DevStack
) -> None:
    page.goto(f"{demo.url}/")
    sign_in(page, "carol", "carol")
    page.wait_for_url(f"{demo.url}/")
    assert len(session_shards(page)) == 3
    page.click("text=Log out")
    page.wait_for_url(f"{demo.url}/bye")
    assert page.inner_text("h1") == "Logged out"
    assert session_shards(page) == {}
    page.goto(f"{demo.url}/")
    assert page.url.startswith(f"{demo.idp.issuer}/oauth2/authorize")  # type: ignore[union-attr]
    assert page.is_visible("input[name=password]")


def test_allow_mode_forwards_anonymous_requests(browser: Any, users: list[DevUser]) -> None:
    with dev_stack(users=users, app_factory=create_app, on_unauthenticated="allow") as stack:
        context = browser.new_context()
        page = context.new_page()
        page.goto(f"{stack.url}/")
        assert page.inner_text("h1") == "Not logged in"
        assert page.goto(f"{stack.url}/me").status == 401
        context.close()


def test_deny_mode_answers_401(browser: Any, users: list[DevUser]) -> None:
    with dev_stack(users=users, app_factory=create_app, on_unauthenticated="deny") as stack:
        context = browser.new_context()
        page = context.new_page()
        response = page.goto(f"{stack.url}/")
        assert response.status == 401
        assert "401" in page.inner_text("body")
        assert context.cookies() == []
        context.close()
