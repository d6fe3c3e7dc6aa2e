"""The local stack with a generic OIDC IdP: Okta-shaped JWT access tokens, verified end to end
with `access_token=`, and a machine client with a client-credentials bearer token against the
same running app. Real servers on loopback: the dev IdP, the emulator and the demo app.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx2
import jwt
import pytest

from alb_oidc.cli import _banner
from alb_oidc.dev.demo_app import create_app
from alb_oidc.dev.idp import DEV_API_AUDIENCE
from alb_oidc.dev.stack import DevStack
from alb_oidc.dev.users import demo_users

from .servers import dev_stack, login

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stack() -> Iterator[DevStack]:
    with dev_stack(users=demo_users(), app_factory=create_app, provider="okta") as running:
        yield running


def client_credentials(stack: DevStack, scope: str) -> str:
    assert stack.idp is not None
    (client,) = stack.idp.clients.values()
    response = httpx2.post(
        f"{stack.idp.issuer}/oauth2/token",
        data={"grant_type": "client_credentials", "scope": scope},
        auth=(client.client_id, client.client_secret),
        timeout=10,
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def test_the_app_verifies_okta_shaped_access_tokens(stack: DevStack) -> None:
    config = stack.app_config()
    assert config.cognito is None
    assert config.access_token is not None
    assert config.access_token.jwks_url is None  # found through the IdP's discovery document
    with httpx2.Client(follow_redirects=True, timeout=10) as http:
        me = login(http, f"{stack.url}/me", "alice", "alice")
        assert me.status_code == 200, me.text
        alice = next(user for user in demo_users() if user.username == "alice")
        assert me.json()["sub"] == alice.sub
        assert me.json()["scopes"] == sorted(alice.scopes)
        assert me.json()["groups"] == ["admins"]
        assert me.json()["is_bearer"] is False
        assert http.get(f"{stack.url}/tasks").status_code == 200
        assert http.get(f"{stack.url}/admin").status_code == 200


def test_the_idps_access_tokens_are_okta_shaped(stack: DevStack) -> None:
    token = client_credentials(stack, "tasks/read")
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["aud"] == DEV_API_AUDIENCE
    assert claims["scp"] == ["tasks/read"]
    assert claims["sub"] == claims["cid"]  # a machine: its own client id
    assert "token_use" not in claims


def test_a_machine_client_calls_the_same_running_app(stack: DevStack) -> None:
    """The ALB's `jwt-validation` rule forwards the bearer token as it came; the app verifies."""
    upstream = stack.upstream
    token = client_credentials(stack, "tasks/read")
    headers = {"authorization": f"Bearer {token}"}
    me = httpx2.get(f"{upstream}/me", headers=headers, timeout=10)
    assert me.status_code == 200, me.text
    assert me.json()["is_bearer"] is True
    assert me.json()["sub"] == stack.emulator.settings.client_id
    assert me.json()["scopes"] == ["tasks/read"]
    assert httpx2.get(f"{upstream}/tasks", headers=headers, timeout=10).status_code == 200
    denied = httpx2.get(f"{upstream}/write", headers=headers, timeout=10)
    assert denied.status_code == 403
    assert 'error="insufficient_scope"' in denied.headers["www-authenticate"]
    forged = httpx2.get(f"{upstream}/me", headers={"authorization": f"Bearer {token[:-4]}AAAA"})
    assert forged.status_code == 401
    assert forged.json()["error"] == "invalid_token"
    assert forged.headers["www-authenticate"].startswith('Bearer error="invalid_token"')
    anonymous = httpx2.get(f"{upstream}/me", timeout=10)
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"] == "Bearer"


def test_the_banner_shows_how_to_get_a_machine_token_and_where_to_send_it(
    stack: DevStack,
) -> None:
    assert stack.idp is not None
    (client,) = stack.idp.clients.values()
    banner = "\n".join(_banner(stack, "demo", machine_url=f"{stack.upstream}/me"))
    assert (
        f"curl -s -u {client.client_id}:{client.client_secret} -d grant_type=client_credentials"
        in banner
    )
    assert f"{stack.idp.issuer}/oauth2/token" in banner
    # To the app's own address: at the emulator's a machine client is sent to log in.
    assert f'curl -H "Authorization: Bearer $TOKEN" {stack.upstream}/me' in banner
    assert stack.url not in banner.split("Machine", 1)[1].split("Signer", 1)[0]
    assert "shaped like okta's" in banner
    assert "Machine" not in "\n".join(_banner(stack, "dev"))


def test_the_cognito_shaped_stack_takes_client_credentials_too() -> None:
    with dev_stack(users=demo_users(), app_factory=create_app) as stack:
        token = client_credentials(stack, "tasks/read")
        headers = {"authorization": f"Bearer {token}"}
        me = httpx2.get(f"{stack.upstream}/me", headers=headers, timeout=10)
        assert me.status_code == 200, me.text
        assert me.json()["is_bearer"] is True
        assert me.json()["scopes"] == ["tasks/read"]
