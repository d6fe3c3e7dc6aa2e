"""The dev tools and the middleware against providers nobody here wrote.

- `oidc-provider-mock` (PyPI) as the IdP behind the emulator: a login completes through it.
- `moto` in server mode as Cognito: its RS256 access tokens verify with `CognitoConfig`.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from alb_oidc import AccessTokenError, ALBConfig, CognitoConfig
from alb_oidc.dev.serving import bind
from alb_oidc.testing import FakeALB

from .servers import authenticate, dev_stack, require, serve

pytestmark = pytest.mark.integration


def _import(name: str) -> Any:
    try:
        return __import__(name, fromlist=["_"])
    except ImportError:
        return None


# -- oidc-provider-mock behind the emulator ------------------------------------------------


@pytest.fixture
def mock_provider() -> Iterator[str]:
    """oidc-provider-mock in its own process (its own warnings stay its own), on a free port."""
    require(importlib.util.find_spec("oidc_provider_mock") is not None, "oidc-provider-mock")
    probe = bind()
    port = probe.getsockname()[1]
    probe.close()
    url = f"http://127.0.0.1:{port}"
    command = [
        sys.executable,
        "-m",
        "oidc_provider_mock",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        for _ in range(100):  # bounded: 10 s
            try:
                if httpx2.get(f"{url}/.well-known/openid-configuration").status_code == 200:
                    break
            except httpx2.TransportError:
                time.sleep(0.1)
        else:
            pytest.fail("oidc-provider-mock did not start")
        yield url
    finally:
        process.terminate()
        process.communicate(timeout=10)


def test_a_login_completes_through_oidc_provider_mock(mock_provider: str) -> None:
    with (
        dev_stack(
            issuer=mock_provider,
            client_id="alb-oidc-interop",
            client_secret="s3cret",
            scope="openid email profile",
        ) as stack,
        httpx2.Client(follow_redirects=True, timeout=10) as http,
    ):
        form = http.get(f"{stack.url}/hello?x=1")
        assert str(form.url).startswith(f"{mock_provider}/oauth2/authorize")
        assert 'name="sub"' in form.text
        final = http.post(str(form.url), data={"sub": "mock-user-1"})
        assert final.status_code == 200, final.text
        assert str(final.url) == f"{stack.url}/hello?x=1"
        seen = dict(final.json()["headers"])

    headers = {
        name: seen[name]
        for name in ("x-amzn-oidc-data", "x-amzn-oidc-accesstoken", "x-amzn-oidc-identity")
    }
    assert headers["x-amzn-oidc-identity"] == "mock-user-1"
    with serve(_pem_server(stack.emulator.signer.public_key_pem)) as keys:
        config = stack.emulator.app_config(stack.url, key_url=f"{keys}/{{kid}}")
        user = authenticate(config, headers)
    # The mock makes up a user on first sign-in, with the sub as its email.
    assert (user.sub, user.email, user.claims["iss"]) == (
        "mock-user-1",
        "mock-user-1",
        mock_provider,
    )
    assert not user.access_token_verified


# -- moto's Cognito ------------------------------------------------------------------------


def _pem_server(pem: bytes) -> Any:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await Response(pem, media_type="application/x-pem-file")(scope, receive, send)

    return app


@pytest.fixture(scope="module")
def cognito() -> Iterator[dict[str, Any]]:
    moto_server = _import("moto.moto_server.threaded_moto_server")
    boto3 = _import("boto3")
    require(moto_server is not None and boto3 is not None, "moto[server,cognitoidp] and boto3")
    probe = bind()
    port = probe.getsockname()[1]
    probe.close()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    idp = boto3.client(
        "cognito-idp",
        endpoint_url=endpoint,
        region_name="eu-west-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    pool = idp.create_user_pool(PoolName="alb-oidc")["UserPool"]["Id"]
    client = idp.create_user_pool_client(
        UserPoolId=pool, ClientName="alb", ExplicitAuthFlows=["ALLOW_ADMIN_USER_PASSWORD_AUTH"]
    )["UserPoolClient"]["ClientId"]
    idp.create_group(GroupName="admins", UserPoolId=pool)
    idp.admin_create_user(UserPoolId=pool, Username="alice")
    idp.admin_set_user_password(
        UserPoolId=pool, Username="alice", Password="Pa55word!", Permanent=True
    )
    idp.admin_add_user_to_group(UserPoolId=pool, Username="alice", GroupName="admins")
    tokens = idp.admin_initiate_auth(
        UserPoolId=pool,
        ClientId=client,
        AuthFlow="ADMIN_USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": "alice", "PASSWORD": "Pa55word!"},
    )["AuthenticationResult"]
    sub = next(
        a["Value"]
        for a in idp.admin_get_user(UserPoolId=pool, Username="alice")["UserAttributes"]
        if a["Name"] == "sub"
    )
    try:
        yield {"endpoint": endpoint, "pool": pool, "client": client, "tokens": tokens, "sub": sub}
    finally:
        server.stop()


def _verify(cognito: dict[str, Any], access_token: str) -> Any:
    alb = FakeALB(user_pool_id=cognito["pool"], client_id=cognito["client"])
    pool = CognitoConfig(
        user_pool_id=cognito["pool"],
        client_ids=[cognito["client"]],
        jwks_url=f"{cognito['endpoint']}/{cognito['pool']}/.well-known/jwks.json",
    )
    headers = {
        "x-amzn-oidc-data": alb.data_token(cognito["sub"]),
        "x-amzn-oidc-accesstoken": access_token,
        "x-amzn-oidc-identity": cognito["sub"],
    }
    with serve(_pem_server(alb.public_key_pem())) as keys:
        config = alb.config(cognito=False, key_url=f"{keys}/{{kid}}")
        return authenticate(ALBConfig(**{**_fields(config), "cognito": pool}), headers)


def _fields(config: ALBConfig) -> dict[str, Any]:
    names = ("alb_arns", "client_ids", "issuers", "key_url")
    return {name: getattr(config, name) for name in names}


def test_moto_access_tokens_verify_and_map_groups(cognito: dict[str, Any]) -> None:
    user = _verify(cognito, cognito["tokens"]["AccessToken"])
    assert user.access_token_verified
    assert user.sub == cognito["sub"]
    assert user.groups == {"admins"}
    assert user.scopes == {"aws.cognito.signin.user.admin"}
    assert (
        user.access_claims["iss"]
        == f"https://cognito-idp.eu-west-1.amazonaws.com/{cognito['pool']}"
    )


def test_a_moto_id_token_in_place_of_the_access_token_is_refused(cognito: dict[str, Any]) -> None:
    with pytest.raises(AccessTokenError, match="not an access token"):
        _verify(cognito, cognito["tokens"]["IdToken"])


def test_moto_tokens_for_another_client_are_refused(cognito: dict[str, Any]) -> None:
    other = {**cognito, "client": "another-client-id"}
    with pytest.raises(AccessTokenError, match="client"):
        _verify(other, cognito["tokens"]["AccessToken"])
