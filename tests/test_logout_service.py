"""The standalone logout service: configuration, real uvicorn on 127.0.0.1, Lambda via Mangum."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from http.cookies import SimpleCookie
from typing import Any

import httpx2
import pytest
from starlette.testclient import TestClient

from alb_oidc import ConfigurationError, cognito_logout_url, logout_service, oidc_logout_url
from alb_oidc.logout_service import create_app, logout_settings

from .servers import serve

COGNITO = {
    "ALB_OIDC_LOGOUT_COGNITO_DOMAIN": "myapp.auth.eu-west-1.amazoncognito.com",
    "ALB_OIDC_LOGOUT_CLIENT_ID": "4fmvht22tjrgd7d3k3tghttct7",
    "ALB_OIDC_LOGOUT_REDIRECT_URI": "https://grafana.example.com/bye",
}
COGNITO_URL = cognito_logout_url(
    "myapp.auth.eu-west-1.amazoncognito.com",
    "4fmvht22tjrgd7d3k3tghttct7",
    "https://grafana.example.com/bye",
)
SHARDS = {f"AWSELBAuthSessionCookie-{n}" for n in range(4)}
# The ALB forwards the browser's Host: the app's name, not the loopback address served on.
BEHIND_THE_ALB = {"host": "grafana.example.com"}


def expired(set_cookies: list[str]) -> set[str]:
    """Names of the cookies these Set-Cookie values expire (and check each one really does)."""
    names = set()
    for header in set_cookies:
        morsel = next(iter(SimpleCookie(header).values()))
        assert (morsel.value, morsel["max-age"], morsel["path"]) == ("", "0", "/")
        assert morsel["secure"] is True
        names.add(morsel.key)
    return names


def test_cognito_settings_build_the_hosted_ui_logout_url() -> None:
    assert logout_settings(COGNITO) == (COGNITO_URL, "AWSELBAuthSessionCookie")


def test_oidc_settings_build_an_end_session_url() -> None:
    environ = {
        "ALB_OIDC_LOGOUT_END_SESSION_ENDPOINT": "https://idp.example.com/oidc/logout?tenant=a",
        "ALB_OIDC_LOGOUT_REDIRECT_URI": "https://argocd.example.com/bye",
        "ALB_OIDC_LOGOUT_CLIENT_ID": "argocd",
        "ALB_OIDC_SESSION_COOKIE": "ArgoSession",
    }
    expected = oidc_logout_url(
        "https://idp.example.com/oidc/logout?tenant=a", "https://argocd.example.com/bye", "argocd"
    )
    assert logout_settings(environ) == (expected, "ArgoSession")
    del environ["ALB_OIDC_LOGOUT_CLIENT_ID"]
    assert "client_id" not in logout_settings(environ)[0]


def test_a_complete_logout_url_is_used_as_is() -> None:
    environ = {"ALB_OIDC_LOGOUT_URL": COGNITO_URL, "ALB_OIDC_SESSION_COOKIE": " "}
    assert logout_settings(environ) == (COGNITO_URL, "AWSELBAuthSessionCookie")


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({}, "set exactly one of ALB_OIDC_LOGOUT_URL"),
        (
            {**COGNITO, "ALB_OIDC_LOGOUT_URL": COGNITO_URL},
            "found ALB_OIDC_LOGOUT_URL and ALB_OIDC_LOGOUT_COGNITO_DOMAIN",
        ),
        (
            {**COGNITO, "ALB_OIDC_LOGOUT_END_SESSION_ENDPOINT": "https://idp.example.com/end"},
            "found ALB_OIDC_LOGOUT_COGNITO_DOMAIN and ALB_OIDC_LOGOUT_END_SESSION_ENDPOINT",
        ),
        (
            {"ALB_OIDC_LOGOUT_URL": COGNITO_URL, "ALB_OIDC_LOGOUT_CLIENT_ID": "c"},
            "ALB_OIDC_LOGOUT_CLIENT_ID would be ignored",
        ),
        ({"ALB_OIDC_LOGOUT_URL": "http://idp.example.com/logout"}, "ALB_OIDC_LOGOUT_URL must use"),
        ({"ALB_OIDC_LOGOUT_URL": "/logout"}, "ALB_OIDC_LOGOUT_URL must be an absolute"),
        # urlsplit raises ValueError for these: a ConfigurationError naming the variable instead.
        ({"ALB_OIDC_LOGOUT_URL": "https://[idp.example.com/logout"}, "LOGOUT_URL is not a URL"),
        ({"ALB_OIDC_LOGOUT_URL": "https://idp.example.com:99999/x"}, "LOGOUT_URL is not a URL"),
        (
            {**COGNITO, "ALB_OIDC_LOGOUT_REDIRECT_URI": "https://app.example.com/see you"},
            "ALB_OIDC_LOGOUT_REDIRECT_URI holds whitespace",
        ),
        (
            {**COGNITO, "ALB_OIDC_LOGOUT_CLIENT_ID": ""},
            "ALB_OIDC_LOGOUT_CLIENT_ID is not set",
        ),
        (
            {**COGNITO, "ALB_OIDC_LOGOUT_REDIRECT_URI": ""},
            "ALB_OIDC_LOGOUT_REDIRECT_URI is not set",
        ),
        (
            {**COGNITO, "ALB_OIDC_LOGOUT_COGNITO_DOMAIN": "http://myapp.example.com"},
            "ALB_OIDC_LOGOUT_COGNITO_DOMAIN must use https",
        ),
        (
            {**COGNITO, "ALB_OIDC_LOGOUT_COGNITO_DOMAIN": "myapp.example.com/login"},
            "ALB_OIDC_LOGOUT_COGNITO_DOMAIN must be a host name",
        ),
        (
            {**COGNITO, "ALB_OIDC_LOGOUT_REDIRECT_URI": "/bye"},
            "ALB_OIDC_LOGOUT_REDIRECT_URI must be an absolute",
        ),
        (
            {
                "ALB_OIDC_LOGOUT_END_SESSION_ENDPOINT": "http://idp.example.com/end",
                "ALB_OIDC_LOGOUT_REDIRECT_URI": "https://a.example.com/bye",
            },
            "ALB_OIDC_LOGOUT_END_SESSION_ENDPOINT must use https",
        ),
        ({**COGNITO, "ALB_OIDC_SESSION_COOKIE": "a;b"}, "ALB_OIDC_SESSION_COOKIE is not a cookie"),
    ],
)
def test_bad_configuration_names_the_variable(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        create_app(environ)


def test_importing_the_module_needs_no_configuration() -> None:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("ALB_OIDC_")}
    result = subprocess.run(
        [sys.executable, "-c", "import alb_oidc.logout_service"],
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


@pytest.fixture
def service() -> Iterator[str]:
    with serve(create_app(COGNITO)) as base:
        yield base


@pytest.mark.integration
@pytest.mark.parametrize(("method", "path"), [("GET", "/logout"), ("POST", "/any/path/")])
def test_logout_expires_every_shard_and_goes_to_the_idp(
    service: str, method: str, path: str
) -> None:
    cookies = {
        "AWSELBAuthSessionCookie-0": "a",
        "AWSELBAuthSessionCookie-1": "b",
        "AWSELBAuthSessionCookie-6": "stray",
        "grafana_session": "kept",
    }
    with httpx2.Client(base_url=service, headers=BEHIND_THE_ALB, follow_redirects=False) as client:
        cookie_header = "; ".join(f"{name}={value}" for name, value in cookies.items())
        response = client.request(method, path, headers={"cookie": cookie_header})
    assert response.status_code == 303
    assert response.headers["location"] == COGNITO_URL
    assert response.headers["cache-control"] == "no-store"
    assert expired(response.headers.get_list("set-cookie")) == SHARDS | {
        "AWSELBAuthSessionCookie-6"
    }


@pytest.mark.integration
def test_head_answers_like_get_and_other_methods_are_405(service: str) -> None:
    with httpx2.Client(base_url=service, headers=BEHIND_THE_ALB, follow_redirects=False) as client:
        head = client.head("/logout")
        assert (head.status_code, head.headers["location"], head.content) == (
            303,
            COGNITO_URL,
            b"",
        )
        assert expired(head.headers.get_list("set-cookie")) == SHARDS
        for method in ("PUT", "DELETE", "PATCH", "OPTIONS"):
            response = client.request(method, "/logout")
            assert response.status_code == 405, method
            assert not response.headers.get_list("set-cookie")
            allowed = {m.strip() for m in response.headers["allow"].split(",")}
            assert allowed == {"GET", "HEAD", "POST"}


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """The process environment for the module-level `app` and `handler`, rebuilt per test."""
    logout_service._from_environment.cache_clear()
    logout_service._lambda_handler.cache_clear()
    yield monkeypatch
    logout_service._from_environment.cache_clear()
    logout_service._lambda_handler.cache_clear()


@pytest.mark.integration
def test_the_module_level_app_reads_the_environment_under_uvicorn(
    environment: pytest.MonkeyPatch,
) -> None:
    environment.setenv("ALB_OIDC_LOGOUT_URL", COGNITO_URL)
    environment.setenv("ALB_OIDC_SESSION_COOKIE", "GrafanaALB")
    with (
        serve(logout_service.app) as base,
        httpx2.Client(base_url=base, headers=BEHIND_THE_ALB, follow_redirects=False) as client,
    ):
        response = client.get("/logout")
    assert (response.status_code, response.headers["location"]) == (303, COGNITO_URL)
    assert expired(response.headers.get_list("set-cookie")) == {f"GrafanaALB-{n}" for n in range(4)}


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://idp.example.com/logout", "ALB_OIDC_LOGOUT_URL must use https"),
        # Once a ValueError out of urlsplit: uvicorn took it for "no lifespan" and started.
        ("https://[idp.example.com/logout", "ALB_OIDC_LOGOUT_URL is not a URL"),
    ],
)
def test_the_module_level_app_fails_startup_on_bad_configuration(
    environment: pytest.MonkeyPatch, url: str, message: str
) -> None:
    environment.setenv("ALB_OIDC_LOGOUT_URL", url)
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "lifespan.startup"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(logout_service.app({"type": "lifespan"}, receive, send))
    assert len(sent) == 1
    assert sent[0]["type"] == "lifespan.startup.failed"
    assert sent[0]["message"].startswith(message)


@pytest.fixture
def lambda_loop() -> Iterator[None]:
    """The one event loop of a Lambda execution environment (Mangum uses the current loop)."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        yield
    finally:
        asyncio.set_event_loop(None)
        loop.close()


def logout_event(*, multi_value: bool, method: str = "GET") -> dict[str, Any]:
    headers = {
        "host": "grafana.example.com",
        "x-forwarded-proto": "https",
        "cookie": "AWSELBAuthSessionCookie-0=a; AWSELBAuthSessionCookie-4=b",
    }
    event: dict[str, Any] = {
        "requestContext": {"elb": {"targetGroupArn": "arn:aws:elasticloadbalancing:..."}},
        "httpMethod": method,
        "path": "/logout",
        "body": "",
        "isBase64Encoded": False,
    }
    if multi_value:
        event["multiValueHeaders"] = {name: [value] for name, value in headers.items()}
        event["multiValueQueryStringParameters"] = {}
    else:
        event["headers"] = headers
        event["queryStringParameters"] = {}
    return event


@pytest.mark.usefixtures("lambda_loop")
def test_the_lambda_handler_with_multi_value_headers(environment: pytest.MonkeyPatch) -> None:
    environment.setenv("ALB_OIDC_LOGOUT_URL", COGNITO_URL)
    for method in ("GET", "POST"):
        response = logout_service.handler(logout_event(multi_value=True, method=method), None)
        assert response["statusCode"] == 303
        headers = response["multiValueHeaders"]
        assert headers["location"] == [COGNITO_URL]
        assert expired(headers["set-cookie"]) == SHARDS | {"AWSELBAuthSessionCookie-4"}
    response = logout_service.handler(logout_event(multi_value=True, method="PUT"), None)
    assert response["statusCode"] == 405
    assert "set-cookie" not in response["multiValueHeaders"]


@pytest.mark.usefixtures("lambda_loop")
def test_the_lambda_handler_without_multi_value_headers(environment: pytest.MonkeyPatch) -> None:
    # A single-value response can hold one header per name, so Mangum spells the repeated
    # Set-Cookie in different letter cases; multi-value headers on the target group avoid that.
    environment.setenv("ALB_OIDC_LOGOUT_URL", COGNITO_URL)
    response = logout_service.handler(logout_event(multi_value=False), None)
    assert response["statusCode"] == 303
    set_cookies = [v for k, v in response["headers"].items() if k.lower() == "set-cookie"]
    assert expired(set_cookies) == SHARDS | {"AWSELBAuthSessionCookie-4"}


def test_a_misspelt_logout_variable_stops_the_service() -> None:
    environ = {**COGNITO, "ALB_OIDC_LOGOUT_SESSION_COOKIE": "GrafanaSession"}
    # Before: ignored, so the GrafanaSession-* shards survived every logout.
    with pytest.raises(
        ConfigurationError, match=r"^ALB_OIDC_LOGOUT_SESSION_COOKIE is not a setting"
    ):
        logout_settings(environ)


def test_another_unknown_variable_is_warned_about(caplog: pytest.LogCaptureFixture) -> None:
    logout_settings({**COGNITO, "ALB_OIDC_SESSION_COOKIE_NAME": "GrafanaSession"})
    assert "ALB_OIDC_SESSION_COOKIE_NAME is not a setting alb-oidc reads" in caplog.text


def test_the_health_check_path_answers_200_and_logs_nobody_out() -> None:
    with TestClient(create_app(COGNITO)) as client:
        response = client.get(
            logout_service.HEALTH_PATH, headers={"user-agent": "ELB-HealthChecker/2.0"}
        )
        assert (response.status_code, response.text) == (200, "ok")
        assert "set-cookie" not in response.headers
        assert client.get("/health", follow_redirects=False).status_code == 303  # logs out


def test_the_module_level_app_without_a_lifespan_is_a_503_when_misconfigured(
    environment: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    environment.delenv("ALB_OIDC_LOGOUT_URL", raising=False)
    response = TestClient(logout_service.app).get("/logout", follow_redirects=False)  # no `with`
    assert response.status_code == 503
    assert response.headers["cache-control"] == "no-store"
    assert "logout service misconfigured" in caplog.text
