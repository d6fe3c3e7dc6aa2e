from __future__ import annotations

import asyncio
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx2
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.testclient import TestClient

from alb_oidc import CognitoConfig, ConfigurationError
from alb_oidc.dev.idp import DEV_USER_POOL_ID, DevClient, DevIdP
from alb_oidc.dev.users import DevUser, demo_users, hash_password
from alb_oidc.keys import CognitoJWKS, HTTPFetcher
from alb_oidc.tokens import verify_access_token

from .conftest import Clock

ISSUER = "http://127.0.0.1:9000"
CALLBACK = "http://127.0.0.1:8000/oauth2/idpresponse"
BYE = "http://127.0.0.1:8000/bye"
CLIENT = DevClient("app", "secret", [CALLBACK], [BYE])
AUTHORIZE = {
    "client_id": "app",
    "redirect_uri": CALLBACK,
    "response_type": "code",
    "scope": "openid tasks/read tasks/write",
    "state": "st",
    "nonce": "no",
}


@pytest.fixture(scope="module")
def users() -> list[DevUser]:
    return demo_users()


@pytest.fixture
def idp(users: list[DevUser], clock: Clock) -> DevIdP:
    return DevIdP(ISSUER, users, [CLIENT], clock=clock)


@pytest.fixture
def client(idp: DevIdP) -> Iterator[TestClient]:
    with TestClient(idp, base_url=ISSUER, follow_redirects=False) as test_client:
        yield test_client


def sign_in(client: TestClient, username: str, password: str, **params: str) -> httpx2.Response:
    return client.post(
        "/oauth2/authorize",
        params={**AUTHORIZE, **params},
        data={"username": username, "password": password},
    )


def code_of(response: httpx2.Response) -> str:
    assert response.status_code == 302, response.text
    location = urlsplit(response.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == CALLBACK
    query = parse_qs(location.query)
    assert query["state"] == ["st"]
    return query["code"][0]


def redeem(client: TestClient, code: str, **overrides: str) -> httpx2.Response:
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK}
    form.update(overrides)
    return client.post("/oauth2/token", data=form, auth=("app", "secret"))


def test_discovery_names_every_endpoint(client: TestClient) -> None:
    document = client.get("/.well-known/openid-configuration").json()
    assert document["issuer"] == ISSUER
    assert document["authorization_endpoint"] == f"{ISSUER}/oauth2/authorize"
    assert document["token_endpoint"] == f"{ISSUER}/oauth2/token"
    assert document["userinfo_endpoint"] == f"{ISSUER}/oauth2/userInfo"
    assert document["end_session_endpoint"] == f"{ISSUER}/logout"
    assert document["jwks_uri"] == f"{ISSUER}/.well-known/jwks.json"
    assert "tasks/write" in document["scopes_supported"]


def test_the_login_form_has_username_password_and_one_button(client: TestClient) -> None:
    page = client.get("/oauth2/authorize", params=AUTHORIZE)
    assert page.status_code == 200
    assert "name='username'" in page.text
    assert "name='password'" in page.text
    assert page.text.count("<button") == 1


def test_bad_credentials_show_the_form_again_with_an_error(client: TestClient) -> None:
    for username, password in [("alice", "bob"), ("mallory", "alice"), ("alice", "")]:
        page = sign_in(client, username, password)
        assert page.status_code == 401
        assert "Incorrect username or password" in page.text
        assert "name='password'" in page.text
        assert "set-cookie" not in page.headers


def test_code_flow_issues_cognito_shaped_tokens(
    client: TestClient, idp: DevIdP, clock: Clock
) -> None:
    tokens = redeem(client, code_of(sign_in(client, "bob", "bob"))).json()
    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] == 3600
    access = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    bob = idp.users["bob"]
    assert access["token_use"] == "access"
    assert access["client_id"] == "app"
    assert access["username"] == "bob"
    assert access["sub"] == bob.sub
    # Granted scopes: those requested that bob may have; bob is in no group.
    assert access["scope"] == "openid tasks/read"
    assert "cognito:groups" not in access
    identity = jwt.decode(tokens["id_token"], options={"verify_signature": False})
    assert (identity["aud"], identity["nonce"], identity["token_use"]) == ("app", "no", "id")

    info = client.get(
        "/oauth2/userInfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert info.json() == bob.userinfo()
    assert info.json()["email_verified"] == "true"


def test_access_tokens_verify_with_cognito_config_against_the_jwks(
    client: TestClient, idp: DevIdP, clock: Clock
) -> None:
    tokens = redeem(client, code_of(sign_in(client, "alice", "alice"))).json()
    config = CognitoConfig(
        user_pool_id=DEV_USER_POOL_ID, client_ids=["app"], issuer=ISSUER, jwks_url=idp.jwks_url
    )

    async def verify() -> dict[str, object]:
        transport = httpx2.ASGITransport(app=idp)
        async with httpx2.AsyncClient(transport=transport) as http:
            jwks = CognitoJWKS(config, HTTPFetcher(http, timeout=5), clock=clock)
            key = await jwks.get(jwt.get_unverified_header(tokens["access_token"])["kid"])
            return dict(
                verify_access_token(
                    tokens["access_token"],
                    key,
                    config,
                    sub=idp.users["alice"].sub or "",
                    now=clock(),
                    leeway=0,
                )
            )

    claims = asyncio.run(verify())
    assert claims["cognito:groups"] == ["admins"]
    assert claims["scope"] == "openid tasks/read tasks/write"


def test_codes_are_single_use_bound_to_the_client_and_expire(
    client: TestClient, clock: Clock
) -> None:
    code = code_of(sign_in(client, "bob", "bob"))
    assert redeem(client, code, redirect_uri="http://127.0.0.1:8000/other").json()["error"] == (
        "invalid_grant"
    )
    code = code_of(sign_in(client, "bob", "bob"))
    assert redeem(client, code).status_code == 200
    assert redeem(client, code).json()["error"] == "invalid_grant"
    code = code_of(sign_in(client, "bob", "bob"))
    clock.advance(61)
    assert redeem(client, code).json()["error"] == "invalid_grant"


def test_client_authentication_basic_or_post(client: TestClient) -> None:
    code = code_of(sign_in(client, "bob", "bob"))
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK}
    wrong = client.post("/oauth2/token", data=form, auth=("app", "wrong"))
    assert (wrong.status_code, wrong.json()["error"]) == (401, "invalid_client")
    assert client.post("/oauth2/token", data=form).status_code == 401
    posted = client.post(
        "/oauth2/token", data={**form, "client_id": "app", "client_secret": "secret"}
    )
    assert posted.status_code == 200
    bad_basic = client.post("/oauth2/token", data=form, headers={"Authorization": "Basic !!"})
    assert bad_basic.status_code == 401


@pytest.mark.parametrize("secret", ["é", "secreté", "\u2603"])
def test_a_non_ascii_client_secret_is_refused_not_a_500(client: TestClient, secret: str) -> None:
    code = code_of(sign_in(client, "bob", "bob"))
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK}
    posted = client.post(
        "/oauth2/token", data={**form, "client_id": "app", "client_secret": secret}
    )
    assert (posted.status_code, posted.json()["error"]) == (401, "invalid_client")
    basic = client.post("/oauth2/token", data=form, auth=("app", secret))
    assert (basic.status_code, basic.json()["error"]) == (401, "invalid_client")


def test_a_non_ascii_client_secret_can_be_the_right_one(users: list[DevUser]) -> None:
    idp = DevIdP(ISSUER, users, [DevClient("app", "sécret", [CALLBACK])])
    with TestClient(idp, base_url=ISSUER, follow_redirects=False) as client:
        code = code_of(sign_in(client, "bob", "bob"))
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK}
        assert client.post("/oauth2/token", data=form, auth=("app", "sécret")).status_code == 200


@pytest.mark.parametrize(
    ("body", "content_type", "error"),
    [
        ("grant_type=password", "application/x-www-form-urlencoded", "unsupported_grant_type"),
        ("a=1&a=2", "application/x-www-form-urlencoded", "invalid_request"),
        ('{"grant_type": "authorization_code"}', "application/json", "invalid_request"),
        ("x=" + "y" * 20_000, "application/x-www-form-urlencoded", "invalid_request"),
    ],
)
def test_token_endpoint_refuses_bad_requests(
    client: TestClient, body: str, content_type: str, error: str
) -> None:
    response = client.post(
        "/oauth2/token",
        content=body,
        headers={"Content-Type": content_type},
        auth=("app", "secret"),
    )
    assert response.status_code == 400
    assert response.json()["error"] == error


def test_authorize_never_redirects_to_an_unregistered_uri(client: TestClient) -> None:
    for params in ({"client_id": "other"}, {"redirect_uri": "https://evil.example/cb"}):
        response = client.get("/oauth2/authorize", params={**AUTHORIZE, **params})
        assert response.status_code == 400
        assert "location" not in response.headers


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"scope": "email"}, "invalid_scope"),
    ],
)
def test_authorize_reports_request_errors_to_the_client(
    client: TestClient, params: dict[str, str], error: str
) -> None:
    response = client.get("/oauth2/authorize", params={**AUTHORIZE, **params})
    assert response.status_code == 302
    assert parse_qs(urlsplit(response.headers["location"]).query)["error"] == [error]


def test_a_signed_in_user_is_not_asked_again_until_logout(client: TestClient) -> None:
    code_of(sign_in(client, "alice", "alice"))
    assert code_of(client.get("/oauth2/authorize", params=AUTHORIZE))
    out = client.get("/logout", params={"client_id": "app", "logout_uri": BYE})
    assert (out.status_code, out.headers["location"]) == (302, BYE)
    assert "Max-Age=0" in out.headers["set-cookie"]
    client.cookies.clear()
    assert client.get("/oauth2/authorize", params=AUTHORIZE).status_code == 200


def test_logout_accepts_oidc_parameters_and_refuses_unknown_targets(client: TestClient) -> None:
    oidc = client.get("/logout", params={"client_id": "app", "post_logout_redirect_uri": BYE})
    assert oidc.headers["location"] == BYE
    assert client.get("/logout", params={"client_id": "app"}).status_code == 200
    for params in ({"client_id": "app", "logout_uri": "https://evil.example/"}, {"client_id": "x"}):
        refused = client.get("/logout", params=params)
        assert refused.status_code == 400
        assert "location" not in refused.headers


def test_userinfo_needs_a_valid_access_token(client: TestClient) -> None:
    tokens = redeem(client, code_of(sign_in(client, "bob", "bob"))).json()
    for header in ("", "Bearer", "Bearer nonsense", f"Bearer {tokens['id_token']}", "Basic x"):
        response = client.get("/oauth2/userInfo", headers={"Authorization": header})
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'


def test_requested_scopes_the_user_lacks_are_not_granted(clock: Clock) -> None:
    user = DevUser("eve", hash_password("eve"), scopes=("openid",))
    with TestClient(DevIdP(ISSUER, [user], [CLIENT], clock=clock), follow_redirects=False) as c:
        tokens = redeem(c, code_of(sign_in(c, "eve", "eve"))).json()
    assert (
        jwt.decode(tokens["access_token"], options={"verify_signature": False})["scope"] == "openid"
    )


def test_issuer_must_be_a_url_without_trailing_slash(users: list[DevUser]) -> None:
    with pytest.raises(ConfigurationError, match="issuer"):
        DevIdP(f"{ISSUER}/", users, [CLIENT])


def test_a_given_key_keeps_the_kid_and_the_jwks(users: list[DevUser]) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    first, again = (DevIdP(ISSUER, users, [CLIENT], key=key) for _ in "ab")
    assert first.kid == again.kid != DevIdP(ISSUER, users, [CLIENT]).kid
    with TestClient(first) as one, TestClient(again) as two:
        assert one.get("/.well-known/jwks.json").json() == two.get("/.well-known/jwks.json").json()


def test_the_idp_session_cookie_is_named_with_the_port(client: TestClient) -> None:
    # Cookies are scoped by host, not port: two dev IdPs on one machine must not share one.
    signed_in = sign_in(client, "alice", "alice")
    assert signed_in.headers["set-cookie"].startswith("ALBOIDCDevIdP-9000-0=")
    assert client.get("/oauth2/authorize", params=AUTHORIZE).status_code == 302


def test_a_redirect_uri_with_a_query_keeps_it(users: list[DevUser], clock: Clock) -> None:
    callback = f"{CALLBACK}?tenant=t1"
    idp = DevIdP(ISSUER, users, [DevClient("app", "secret", [callback])], clock=clock)
    with TestClient(idp, base_url=ISSUER, follow_redirects=False) as client:
        response = sign_in(client, "alice", "alice", redirect_uri=callback)
    location = urlsplit(response.headers["location"])
    assert set(parse_qs(location.query)) == {"tenant", "code", "state"}
