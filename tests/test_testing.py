"""FakeALB is public API: its tokens must be the ALB's wire format, verifiable by our code."""

from __future__ import annotations

import base64
import json

import httpx2
import jwt
import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from alb_oidc import ALBAuthMiddleware, ALBConfig
from alb_oidc.testing import FakeALB, FakeIdP, b64url


def segments(token: str) -> tuple[dict, dict, bytes]:
    header, payload, signature = token.split(".")
    return (
        json.loads(base64.urlsafe_b64decode(header)),
        json.loads(base64.urlsafe_b64decode(payload)),
        base64.urlsafe_b64decode(signature),
    )


def test_data_token_header_and_payload_fields(alb: FakeALB) -> None:
    header, payload, signature = segments(alb.data_token("alice", email="a@x.example"))
    assert set(header) == {"typ", "kid", "alg", "iss", "client", "signer", "exp"}
    assert header["alg"] == "ES256"
    assert header["signer"] == alb.alb_arn
    assert header["client"] == alb.client_id
    assert header["exp"] == payload["exp"]
    assert payload["email"] == "a@x.example"
    assert payload["email_verified"] == "true"
    assert "aud" not in payload
    assert "iat" not in payload
    assert len(signature) == 64


def test_overrides_and_removals(alb: FakeALB) -> None:
    header, payload, _ = segments(
        alb.data_token(claims={"email": None, "custom": [1]}, header={"typ": None})
    )
    assert "typ" not in header
    assert "email" not in payload
    assert payload["custom"] == [1]


def test_access_token_is_cognito_shaped(alb: FakeALB) -> None:
    token = alb.access_token("alice", scopes=["openid", "x"], groups=["g"])
    assert jwt.get_unverified_header(token) == {"alg": "RS256", "kid": alb.pool_kid, "typ": "JWT"}
    claims = jwt.decode(
        token,
        alb.pool_key.public_key(),
        algorithms=["RS256"],
        options={"verify_exp": False, "verify_iat": False},
    )
    assert claims["token_use"] == "access"
    assert claims["client_id"] == alb.client_id
    assert claims["scope"] == "openid x"
    assert claims["cognito:groups"] == ["g"]
    assert claims["iss"] == alb.pool_issuer


def test_headers_carry_all_three(alb: FakeALB) -> None:
    headers = alb.headers("bob")
    assert set(headers) == {"x-amzn-oidc-data", "x-amzn-oidc-accesstoken", "x-amzn-oidc-identity"}
    assert headers["x-amzn-oidc-identity"] == "bob"


def test_transport_serves_keys_at_the_aws_urls_only(alb: FakeALB) -> None:
    with httpx2.Client(transport=alb.transport()) as client:
        pem = client.get(alb.key_url()).content
        assert pem.startswith(b"-----BEGIN PUBLIC KEY-----")
        assert client.get(alb.jwks_url).json()["keys"][0]["kid"] == alb.pool_kid
        assert client.get(alb.key_url("00000000-0000-0000-0000-000000000000")).status_code == 404
        assert client.post(alb.key_url()).status_code == 404
    assert alb.requests[0] == f"https://public-keys.auth.elb.eu-west-1.amazonaws.com/{alb.kid}"


def test_config_matches(alb: FakeALB) -> None:
    config = alb.config()
    assert config.alb_arns == (alb.alb_arn,)
    assert config.cognito is not None
    assert config.cognito.jwks_url == alb.jwks_url
    assert alb.config(cognito=False).cognito is None
    assert alb.config(optional=True).optional is True


def test_b64url_padding() -> None:
    assert b64url(b"a") == "YQ=="
    assert b64url(b"a", padded=False) == "YQ"


def test_the_pytest_fixture_is_registered(fake_alb: FakeALB) -> None:
    assert isinstance(fake_alb, FakeALB)


def test_each_fake_alb_has_its_own_keys() -> None:
    first, second = FakeALB(), FakeALB()
    assert first.kid != second.kid
    assert first.public_key_pem() != second.public_key_pem()


@pytest.mark.parametrize("sub", ["a", "ab", "abc"])
def test_json_is_compact(alb: FakeALB, sub: str) -> None:
    header_segment = alb.data_token(sub).split(".")[0]
    assert b" " not in base64.urlsafe_b64decode(header_segment)


def test_the_okta_preset_mints_okta_shaped_tokens() -> None:
    okta = FakeIdP.okta(token_lifetime=60)
    config = okta.config()
    assert (config.scopes_claim, config.groups_claim, config.subject_claim) == (
        "scp",
        "groups",
        "uid",
    )
    assert config.issuer == "https://acme.okta.example/oauth2/default"
    token = okta.access_token("alice", scopes=["openid", "a"], groups=["admins"])
    claims = jwt.decode(token, options={"verify_signature": False})
    assert (claims["scp"], claims["groups"]) == (["openid", "a"], ["admins"])
    assert (claims["uid"], claims["sub"]) == ("alice", "alice@login")
    assert claims["exp"] - claims["iat"] == 60
    assert FakeIdP.okta(issuer="https://other.example/oauth2/x").issuer == (
        "https://other.example/oauth2/x"
    )


GOVCLOUD_ARN = (
    "arn:aws-us-gov:elasticloadbalancing:us-gov-west-1:123456789012:loadbalancer/app/my-alb/"
    "0123456789abcdef"
)


def verified_sub(alb: FakeALB, config: ALBConfig) -> str:
    """The `sub` the middleware verifies with `config` and the fake ALB's transport."""
    app = Starlette(routes=[Route("/me", lambda request: PlainTextResponse(request.user.sub))])
    app.add_middleware(ALBAuthMiddleware, config=config, http_client=alb.http_client())
    with TestClient(app) as client:
        response = client.get("/me", headers=alb.headers("alice"))
    assert response.status_code == 200, response.text
    return response.text


def test_a_govcloud_alb_serves_its_key_where_its_config_fetches_it() -> None:
    alb = FakeALB(alb_arn=GOVCLOUD_ARN)
    config = alb.config()
    assert alb.key_url() == config.key_urls[GOVCLOUD_ARN].replace("{kid}", alb.kid)
    assert alb.key_url().startswith("https://s3-us-gov-west-1.amazonaws.com/")
    assert verified_sub(alb, config) == "alice"
    assert alb.requests[0] == alb.key_url()


def test_a_key_url_given_to_config_is_served(alb: FakeALB) -> None:
    config = alb.config(key_url="https://keys.example/{region}/{kid}")
    assert alb.key_url() == f"https://keys.example/eu-west-1/{alb.kid}"
    assert verified_sub(alb, config) == "alice"
    assert alb.requests[0] == alb.key_url()


def test_a_partition_without_a_key_endpoint_needs_a_key_url() -> None:
    alb = FakeALB(alb_arn=GOVCLOUD_ARN.replace("aws-us-gov", "aws-cn"))
    with pytest.raises(ValueError, match="pass key_url to config"):
        alb.key_url()
    config = alb.config(key_url="https://keys.example/{kid}")
    assert verified_sub(alb, config) == "alice"
