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
    # Cognito's access token header: `kid` and `alg`, no `typ` (Cognito developer guide).
    assert jwt.get_unverified_header(token) == {"alg": "RS256", "kid": alb.pool_kid}
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
    alb = FakeALB(
        alb_arn=GOVCLOUD_ARN.replace("aws-us-gov", "aws-cn").replace("us-gov-west", "cn-north")
    )
    with pytest.raises(ValueError, match="pass key_url to config"):
        alb.key_url()
    config = alb.config(key_url="https://keys.example/{kid}")
    assert verified_sub(alb, config) == "alice"


def test_a_str_is_one_scope_group_or_audience_not_its_characters(alb: FakeALB) -> None:
    claims = jwt.decode(
        alb.access_token(scopes="tasks/read", groups="admins"), options={"verify_signature": False}
    )
    assert (claims["scope"], claims["cognito:groups"]) == ("tasks/read", ["admins"])
    idp = FakeIdP(audiences="api://tasks", groups_claim="groups")
    assert idp.audiences == ("api://tasks",)
    claims = jwt.decode(
        idp.access_token(scopes="tasks/read", groups="admins"), options={"verify_signature": False}
    )
    assert (claims["aud"], claims["scope"], claims["groups"]) == (
        "api://tasks",
        "tasks/read",
        ["admins"],
    )
    with pytest.raises(TypeError, match="scopes must be a str or an iterable of str"):
        alb.access_token(scopes=b"tasks/read")  # type: ignore[arg-type]


def test_headers_refuse_grants_they_would_ignore(alb: FakeALB) -> None:
    token = FakeIdP.okta().access_token("alice")
    with pytest.raises(ValueError, match="groups, access_claims would be ignored"):
        alb.headers("alice", groups=["admins"], access_claims={"x": 1}, access_token=token)
    with pytest.raises(ValueError, match="scopes would be ignored"):
        alb.headers("alice", scopes=["tasks/read"], access_token=token)
    assert (
        alb.headers("alice", scopes=["openid"], access_token=token)["x-amzn-oidc-accesstoken"]
        == token
    )


def test_a_cognito_access_token_header_can_be_forged(alb: FakeALB) -> None:
    token = alb.access_token("alice", header={"alg": "none", "typ": "JWT"})
    assert jwt.get_unverified_header(token) == {"kid": alb.pool_kid, "alg": "none", "typ": "JWT"}
    assert token.endswith(".")  # `none`: no signature
    app = Starlette(routes=[Route("/me", lambda request: PlainTextResponse(request.user.sub))])
    app.add_middleware(ALBAuthMiddleware, config=alb.config(), http_client=alb.http_client())
    with TestClient(app) as client:
        headers = alb.headers("alice", access_token=token)
        response = client.get("/me", headers=headers)
    assert (response.status_code, response.json()["error"]) == (401, "bad_access_token")


def test_a_sessions_access_token_outlives_its_data_tokens(clock: object) -> None:
    # Behind the ALB a session's Cognito access token (an hour) comes with a new data token on
    # every request (120 s): ten minutes on, the same access token still verifies.
    alb = FakeALB(clock=clock)  # type: ignore[arg-type]
    app = Starlette(routes=[Route("/me", lambda request: PlainTextResponse(request.user.sub))])
    app.add_middleware(
        ALBAuthMiddleware, config=alb.config(), http_client=alb.http_client(), clock=clock
    )
    access = alb.access_token("alice")
    claims = jwt.decode(access, options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == alb.access_token_lifetime == 3600
    with TestClient(app) as client:
        for minutes in (0, 10):
            clock.now += minutes * 60  # type: ignore[attr-defined]
            headers = alb.headers("alice", access_token=access)
            assert client.get("/me", headers=headers).text == "alice"
        clock.now += 3600  # type: ignore[attr-defined]
        response = client.get("/me", headers=alb.headers("alice", access_token=access))
    assert response.json()["error"] == "access_token_expired"


def test_the_okta_preset_names_the_client_in_cid(alb: FakeALB) -> None:
    okta = FakeIdP.okta(client_id=alb.client_id)
    claims = jwt.decode(okta.access_token("alice"), options={"verify_signature": False})
    assert claims["cid"] == alb.client_id
    assert "client_id" not in claims
    robot = jwt.decode(okta.bearer_token("robot"), options={"verify_signature": False})
    assert (robot["sub"], robot["cid"]) == ("robot", "robot")
    assert "client_id" not in jwt.decode(
        FakeIdP.okta().access_token("alice"), options={"verify_signature": False}
    )
    okta_alb = FakeALB(issuer=okta.issuer, client_id=alb.client_id)
    config = okta_alb.config(access_token=okta.config(client_ids=[alb.client_id]))
    app = Starlette(routes=[Route("/me", lambda request: PlainTextResponse(request.user.sub))])
    app.add_middleware(ALBAuthMiddleware, config=config, http_client=okta_alb.http_client(okta))
    with TestClient(app) as client:
        headers = okta_alb.headers("alice", access_token=okta.access_token("alice"))
        assert client.get("/me", headers=headers).text == "alice"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"alb_arn": "my-alb"}, "alb_arn must be an Application Load Balancer ARN"),
        ({"alb_arn": 7}, "alb_arn must be an Application Load Balancer ARN"),
        ({"kid": "test-key-1"}, "kid must be a UUID"),
    ],
)
def test_bad_fake_alb_arguments_are_named(arguments: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FakeALB(**arguments)  # type: ignore[arg-type]


def test_a_key_of_the_wrong_kind_is_named(alb: FakeALB) -> None:
    with pytest.raises(TypeError, match="key must be a P-256 EllipticCurvePrivateKey, not "):
        alb.data_token(key=alb.pool_key)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="key must be an RSAPrivateKey, not "):
        alb.access_token(key=alb.alb_key)  # type: ignore[arg-type]


@pytest.mark.parametrize("wrong", ["transport", "factory", "sync client"])
def test_an_http_client_that_is_not_an_async_client_is_refused_at_once(
    alb: FakeALB, wrong: str
) -> None:
    client = {
        "transport": alb.transport(),
        "factory": alb.http_client,
        "sync client": httpx2.Client(transport=alb.transport()),
    }[wrong]
    app = Starlette()
    with pytest.raises(TypeError, match=r"http_client must be an httpx2.AsyncClient \(in tests"):
        ALBAuthMiddleware(app, config=alb.config(), http_client=client)  # type: ignore[arg-type]
