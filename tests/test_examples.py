from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from alb_oidc.testing import FakeALB
from examples import fastapi_app, starlette_app

LOGOUT = (
    "https://auth.example.com/logout?client_id=c&logout_uri=https%3A%2F%2Fapp.example.com%2Fbye"
)


def test_fastapi_example(alb: FakeALB) -> None:
    app = fastapi_app.create_app(
        alb.config(public_paths=["/health", "/bye"], logout_url=LOGOUT),
        http_client=alb.http_client(),
    )
    with TestClient(app, follow_redirects=False) as client:
        alice = alb.headers(
            "alice", scopes=["openid", "tasks/read", "tasks/write"], groups=["admins"]
        )
        bob = alb.headers("bob", scopes=["openid", "tasks/read"])
        assert client.get("/health").json() == {"status": "ok"}
        assert client.get("/me").status_code == 401
        assert client.get("/me", headers=alice).json() == {
            "sub": "alice",
            "username": "alice",
            "email": "alice@example.com",
            "name": None,
            "scopes": ["openid", "tasks/read", "tasks/write"],
            "groups": ["admins"],
            "is_bearer": False,
        }
        assert "Hello, alice" in client.get("/", headers=alice).text
        assert client.get("/tasks", headers=bob).status_code == 200
        assert client.get("/write", headers=alice).status_code == 200
        assert client.get("/write", headers=bob).status_code == 403
        assert client.get("/admin", headers=alice).status_code == 200
        assert client.get("/admin", headers=bob).status_code == 403
        logout = client.get("/logout", headers=alice)
        assert logout.status_code == 303
        assert logout.headers["location"] == LOGOUT
        assert client.get("/bye").status_code == 200


def test_html_page_escapes_claims(alb: FakeALB) -> None:
    app = fastapi_app.create_app(alb.config(logout_url=LOGOUT), http_client=alb.http_client())
    with TestClient(app) as client:
        page = client.get(
            "/", headers=alb.headers("eve", claims={"name": "<script>x</script>"})
        ).text
    assert "<script>" not in page
    assert "&lt;script&gt;" in page


def test_starlette_example(alb: FakeALB) -> None:
    app = starlette_app.create_app(
        alb.config(public_paths=starlette_app.PUBLIC_PATHS, logout_url=LOGOUT),
        http_client=alb.http_client(),
    )
    with TestClient(app) as client:
        assert client.get("/health").status_code == 200
        assert client.get("/bye").text == "Logged out."
        assert client.get("/me").status_code == 401
        assert client.get("/me", headers=alb.headers("bob")).json()["sub"] == "bob"
        assert client.get("/tasks", headers=alb.headers(scopes=["tasks/read"])).status_code == 200
        assert client.get("/tasks", headers=alb.headers(scopes=[])).status_code == 403


def test_examples_read_the_environment(monkeypatch: pytest.MonkeyPatch, alb: FakeALB) -> None:
    monkeypatch.setenv("ALB_OIDC_ALB_ARNS", alb.alb_arn)
    # Both examples route logout_endpoint, which refuses to start without a logout URL.
    monkeypatch.setenv("ALB_OIDC_LOGOUT_URL", LOGOUT)
    app = starlette_app.create_app()
    with TestClient(app) as client:
        assert client.get("/health").status_code == 200
        assert client.get("/bye").status_code == 200  # where logout returns: no login
