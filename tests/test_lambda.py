"""The Lambda example (`examples/lambda_app.py`) fed ALB Lambda events through Mangum.

The module is imported the way Lambda imports it (configuration from ALB_OIDC_* variables) and
its one `handler` serves several invocations, as a warm execution environment does. Keys come
from a real key server on 127.0.0.1, fetched by the middleware's own HTTP client.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import sys
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from types import ModuleType
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from alb_oidc import ALBAuthMiddleware
from alb_oidc.testing import FakeALB

from .servers import serve
from .test_integration import KeyServer

pytestmark = pytest.mark.integration

TARGET_GROUP = (
    "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/lambda-app/0123456789abcdef"
)
RESPONSE_FIELDS = {
    "statusCode",
    "statusDescription",
    "headers",
    "multiValueHeaders",
    "body",
    "isBase64Encoded",
}


def alb_event(
    path: str,
    headers: Mapping[str, str | list[str]] | None = None,
    *,
    query: Mapping[str, str] | None = None,
    multi_value: bool = False,
) -> dict[str, Any]:
    """An ALB Lambda event: lower-case header names, and the multi-value variant on request."""
    sent: dict[str, str | list[str]] = {
        "host": "app.example.com",
        "x-forwarded-for": "203.0.113.7",
        "x-forwarded-port": "443",
        "x-forwarded-proto": "https",
        "x-amzn-trace-id": "Root=1-67891233-abcdef012345678912345678",
        **(headers or {}),
    }
    event: dict[str, Any] = {
        "requestContext": {"elb": {"targetGroupArn": TARGET_GROUP}},
        "httpMethod": "GET",
        "path": path,
        "body": "",
        "isBase64Encoded": False,
    }
    if multi_value:
        event["multiValueHeaders"] = {
            name: value if isinstance(value, list) else [value] for name, value in sent.items()
        }
        event["multiValueQueryStringParameters"] = {k: [v] for k, v in (query or {}).items()}
    else:
        assert all(isinstance(value, str) for value in sent.values())
        event["headers"] = sent
        event["queryStringParameters"] = dict(query or {})
    return event


@dataclass
class Reply:
    """A Lambda response for the ALB, checked against the shape the ALB accepts."""

    status: int
    headers: dict[str, list[str]]
    body: Any


def invoke(handler: Any, event: dict[str, Any]) -> Reply:
    response = handler(event, None)
    assert set(response) <= RESPONSE_FIELDS
    assert isinstance(response["statusCode"], int)
    assert response["isBase64Encoded"] is False
    if "statusDescription" in response:  # optional; Mangum leaves it out
        phrase = HTTPStatus(response["statusCode"]).phrase
        assert response["statusDescription"] == f"{response['statusCode']} {phrase}"
    # The answer must use the form the event came in: multiValueHeaders only when enabled.
    if "multiValueHeaders" in event:
        assert "headers" not in response
        headers = response["multiValueHeaders"]
        assert all(isinstance(values, list) for values in headers.values())
    else:
        assert "multiValueHeaders" not in response
        headers = {name: [value] for name, value in response["headers"].items()}
        assert all(isinstance(values[0], str) for values in headers.values())
    return Reply(response["statusCode"], headers, json.loads(response["body"]))


def _middleware(app: Any) -> ALBAuthMiddleware | None:
    node = app.middleware_stack
    while node is not None and not isinstance(node, ALBAuthMiddleware):
        node = getattr(node, "app", None)
    return node


@pytest.fixture
def lambda_app(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[FakeALB, KeyServer, ModuleType]]:
    """`examples.lambda_app` freshly imported (a cold start), configured from the environment."""
    alb = FakeALB()
    keys = KeyServer(alb)
    # One event loop for the whole environment, as in Lambda; Mangum picks up the current one.
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    module: ModuleType | None = None
    try:
        with serve(keys) as key_base:
            environment = {
                "ALB_OIDC_ALB_ARNS": alb.alb_arn,
                "ALB_OIDC_CLIENT_IDS": alb.client_id,
                "ALB_OIDC_ISSUERS": alb.issuer,
                "ALB_OIDC_KEY_URL": f"{key_base}/keys/{{kid}}",
                "ALB_OIDC_COGNITO_USER_POOL_ID": alb.user_pool_id,
                "ALB_OIDC_COGNITO_ISSUER": alb.pool_issuer,
                "ALB_OIDC_COGNITO_JWKS_URL": f"{key_base}/pool/.well-known/jwks.json",
                "ALB_OIDC_PUBLIC_PATHS": "/health",
            }
            for name, value in environment.items():
                monkeypatch.setenv(name, value)
            sys.modules.pop("examples.lambda_app", None)
            module = importlib.import_module("examples.lambda_app")
            yield alb, keys, module
    finally:
        middleware = _middleware(module.app) if module is not None else None
        if middleware is not None:
            loop.run_until_complete(middleware.authenticator.aclose())
        sys.modules.pop("examples.lambda_app", None)
        asyncio.set_event_loop(None)
        loop.close()


def rotate(alb: FakeALB) -> str:
    """The ALB starts signing with a new key (a new kid), as ALBs do over time."""
    alb.kid = str(uuid.uuid4())
    alb.alb_key = ec.generate_private_key(ec.SECP256R1())
    return alb.kid


@pytest.mark.parametrize("multi_value", [False, True], ids=["headers", "multiValueHeaders"])
def test_a_warm_handler_keeps_its_keys_and_fetches_a_new_kid_later(
    lambda_app: tuple[FakeALB, KeyServer, ModuleType], multi_value: bool
) -> None:
    alb, keys, module = lambda_app
    first_kid = alb.kid
    for user in ("alice", "bob", "carol"):
        # The ALB signs a new data token for every request.
        headers = alb.headers(user, scopes=["openid", "tasks/read"], groups=["admins"])
        reply = invoke(module.handler, alb_event("/me", headers, multi_value=multi_value))
        assert reply.status == 200
        assert reply.body == {
            "sub": user,
            "email": f"{user}@example.com",
            "scopes": ["openid", "tasks/read"],
            "groups": ["admins"],
        }
    assert keys.requests == [f"/keys/{first_kid}", "/pool/.well-known/jwks.json"]

    second_kid = rotate(alb)
    for user in ("dave", "erin"):
        reply = invoke(module.handler, alb_event("/me", alb.headers(user), multi_value=multi_value))
        assert (reply.status, reply.body["sub"]) == (200, user)
    assert keys.requests == [
        f"/keys/{first_kid}",
        "/pool/.well-known/jwks.json",
        f"/keys/{second_kid}",
    ]


@pytest.mark.parametrize("multi_value", [False, True], ids=["headers", "multiValueHeaders"])
def test_query_parameters_and_scopes_reach_the_app(
    lambda_app: tuple[FakeALB, KeyServer, ModuleType], multi_value: bool
) -> None:
    alb, _, module = lambda_app
    reader = alb.headers("alice", scopes=["openid", "tasks/read"])
    event = alb_event("/tasks", reader, query={"done": "true"}, multi_value=multi_value)
    reply = invoke(module.handler, event)
    assert (reply.status, reply.body) == (200, ["set up the ALB"])
    assert reply.headers["content-type"] == ["application/json"]
    nobody = alb.headers("bob", scopes=["openid"])
    reply = invoke(module.handler, alb_event("/tasks", nobody, multi_value=multi_value))
    assert (reply.status, reply.body) == (403, {"detail": "missing scope: tasks/read"})


@pytest.mark.parametrize("multi_value", [False, True], ids=["headers", "multiValueHeaders"])
def test_no_alb_headers_is_401_except_on_public_paths(
    lambda_app: tuple[FakeALB, KeyServer, ModuleType], multi_value: bool
) -> None:
    _, keys, module = lambda_app
    reply = invoke(module.handler, alb_event("/me", multi_value=multi_value))
    assert (reply.status, reply.body["error"]) == (401, "missing_token")
    reply = invoke(module.handler, alb_event("/health", multi_value=multi_value))
    assert (reply.status, reply.body) == (200, {"status": "ok"})
    assert keys.requests == []


def test_a_duplicated_data_header_in_multi_value_headers_is_401(
    lambda_app: tuple[FakeALB, KeyServer, ModuleType],
) -> None:
    alb, _, module = lambda_app
    headers: dict[str, str | list[str]] = dict(alb.headers("alice"))
    # A client-sent copy next to the ALB's: only multiValueHeaders shows both to the target.
    headers["x-amzn-oidc-data"] = [alb.data_token("mallory"), alb.data_token("alice")]
    reply = invoke(module.handler, alb_event("/me", headers, multi_value=True))
    assert (reply.status, reply.body["error"]) == (401, "bad_header")


def test_a_warm_handler_refuses_a_forged_signer_without_fetching(
    lambda_app: tuple[FakeALB, KeyServer, ModuleType],
) -> None:
    alb, keys, module = lambda_app
    forged = alb.headers("alice")
    forged["x-amzn-oidc-data"] = alb.data_token(
        "alice", header={"signer": alb.alb_arn.replace("test-alb", "evil-alb")}
    )
    reply = invoke(module.handler, alb_event("/me", forged))
    assert (reply.status, reply.body["error"]) == (401, "untrusted_signer")
    assert keys.requests == []
