"""Machine clients: `Authorization: Bearer` JWTs (`ALBConfig.bearer`), the ALB's `jwt-validation`.

Humans come through the ALB's login and machines with a bearer token; the same guards protect
both, and the errors follow RFC 6750.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import Depends, FastAPI, Security, WebSocket
from fastapi.testclient import TestClient
from starlette.testclient import WebSocketDenialResponse

from alb_oidc import (
    ALBAuthenticator,
    ALBAuthMiddleware,
    ALBConfig,
    ALBUser,
    BearerTokenError,
    CognitoConfig,
)
from alb_oidc.guards import current_user, require_groups, require_scopes
from alb_oidc.testing import FakeALB, FakeIdP

from .conftest import Clock, asgi_headers


@pytest.fixture
def idp(clock: Clock) -> FakeIdP:
    return FakeIdP(
        issuer="https://login.example.com/oauth2/machines",
        audiences=["https://api.example.com"],
        groups_claim="roles",
        clock=clock,
    )


def make_app(alb: FakeALB, idp: FakeIdP, clock: Clock, **overrides: Any) -> FastAPI:
    app = FastAPI()

    @app.get("/me")
    def me(user: ALBUser = Security(current_user)) -> dict[str, Any]:
        return {"sub": user.sub, "is_bearer": user.is_bearer, "scopes": sorted(user.scopes)}

    @app.get("/reports", dependencies=[Depends(require_scopes("reports:read"))])
    def reports() -> dict[str, str]:
        return {"reports": "yes"}

    @app.get("/ops", dependencies=[Depends(require_groups("ops"))])
    def ops() -> dict[str, str]:
        return {"ops": "yes"}

    @app.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_json({"sub": websocket.scope["user"].sub})
        await websocket.close()

    settings: dict[str, Any] = {"bearer": idp.config()}
    settings.update(overrides)
    config = alb.config(**settings)
    app.add_middleware(
        ALBAuthMiddleware, config=config, http_client=alb.http_client(idp), clock=clock
    )
    return app


@pytest.fixture
def client(alb: FakeALB, idp: FakeIdP, clock: Clock) -> Iterator[TestClient]:
    with TestClient(make_app(alb, idp, clock)) as test_client:
        yield test_client


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def test_a_machine_client_is_a_user_whose_sub_is_the_client(
    client: TestClient, idp: FakeIdP
) -> None:
    token = idp.bearer_token("reporting-job", scopes=["reports:read"])
    response = client.get("/me", headers=bearer(token))
    assert response.status_code == 200
    assert response.json() == {
        "sub": "reporting-job",
        "is_bearer": True,
        "scopes": ["reports:read"],
    }


def test_the_same_guard_serves_humans_and_machines(
    client: TestClient, alb: FakeALB, idp: FakeIdP
) -> None:
    machine = bearer(idp.bearer_token("job", scopes=["reports:read"]))
    human = alb.headers("alice", scopes=["reports:read"])
    assert client.get("/reports", headers=machine).json() == {"reports": "yes"}
    assert client.get("/reports", headers=human).json() == {"reports": "yes"}
    me = client.get("/me", headers=human).json()
    assert me["is_bearer"] is False
    assert me["sub"] == "alice"
    assert (
        client.get("/ops", headers=bearer(idp.bearer_token("job", groups=["ops"]))).status_code
        == 200
    )


def test_a_missing_scope_is_403_with_the_rfc_6750_challenge(
    client: TestClient, idp: FakeIdP
) -> None:
    response = client.get("/reports", headers=bearer(idp.bearer_token("job", scopes=["other"])))
    assert response.status_code == 403
    assert response.json() == {"detail": "missing scope: reports:read"}
    assert response.headers["www-authenticate"] == (
        'Bearer error="insufficient_scope", scope="reports:read", '
        'error_description="missing scope: reports:read"'
    )


def test_a_humans_403_carries_no_bearer_challenge(client: TestClient, alb: FakeALB) -> None:
    response = client.get("/reports", headers=alb.headers("alice", scopes=["other"]))
    assert response.status_code == 403
    assert "www-authenticate" not in response.headers


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"aud": "https://other.example.com"}, "`aud` holds none"),
        ({"iss": "https://evil.example.com"}, "`iss` is not the configured issuer"),
        ({"exp": 1_800_000_000 - 100}, "bearer token expired"),
        ({"sub": None}, "bearer token has no `sub` string"),
        ({"roles": {"ops": True}}, "`roles` is not a string or a list of strings"),
    ],
)
def test_a_bad_bearer_token_is_401_invalid_token(
    client: TestClient, idp: FakeIdP, change: dict[str, Any], reason: str
) -> None:
    response = client.get("/me", headers=bearer(idp.bearer_token("job", claims=change)))
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"
    assert reason in response.json()["detail"]
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith('Bearer error="invalid_token", error_description="bearer token')


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer ",
        "Bearer not-a-jwt",
        "bearer a.b.c",
        "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
    ],
)
def test_garbage_bearer_tokens_are_401_invalid_token(
    client: TestClient, authorization: str
) -> None:
    response = client.get("/me", headers={"authorization": authorization})
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"


def test_a_data_tokens_bytes_are_no_bearer_token(client: TestClient, alb: FakeALB) -> None:
    response = client.get("/me", headers=bearer(alb.data_token("alice")))
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"


def test_without_credentials_the_401_names_the_bearer_scheme(client: TestClient) -> None:
    response = client.get("/me")
    assert response.status_code == 401
    assert response.json()["error"] == "missing_token"
    assert response.headers["www-authenticate"] == "Bearer"  # no error code (RFC 6750, 3.1)
    basic = client.get("/me", headers={"authorization": "Basic dXNlcjpwYXNz"})
    assert basic.status_code == 401
    assert basic.json()["error"] == "missing_token"


def test_the_alb_headers_decide_when_both_kinds_are_present(
    client: TestClient, alb: FakeALB, idp: FakeIdP
) -> None:
    both = {**alb.headers("alice"), **bearer("garbage")}
    assert client.get("/me", headers=both).json()["sub"] == "alice"
    expired = alb.data_token("alice", exp=1_800_000_000 - 1000)
    bad_login = {"x-amzn-oidc-data": expired, **bearer(idp.bearer_token("job"))}
    assert client.get("/me", headers=bad_login).json()["error"] == "token_expired"


def test_a_duplicated_authorization_header_is_refused(
    alb: FakeALB, idp: FakeIdP, clock: Clock
) -> None:
    auth = ALBAuthenticator(
        alb.config(bearer=idp.config()), http_client=alb.http_client(idp), clock=clock
    )
    token = idp.bearer_token("job")
    headers = [(b"authorization", f"Bearer {token}".encode())] * 2
    with pytest.raises(Exception, match="duplicated"):
        asyncio.run(auth.authenticate(headers))


def test_without_bearer_configured_the_authorization_header_is_the_apps(
    alb: FakeALB, idp: FakeIdP, clock: Clock
) -> None:
    auth = ALBAuthenticator(alb.config(), http_client=alb.http_client(idp), clock=clock)
    headers = asgi_headers(bearer(idp.bearer_token("job")))
    assert asyncio.run(auth.authenticate(headers)) is None
    assert asyncio.run(auth.authenticate(headers * 2)) is None  # not ours: duplicates are fine


def test_an_api_only_alb_needs_no_alb_arns(idp: FakeIdP, clock: Clock, alb: FakeALB) -> None:
    config = ALBConfig(alb_arns=[], bearer=idp.config())
    auth = ALBAuthenticator(config, http_client=alb.http_client(idp), clock=clock)
    user = asyncio.run(auth.authenticate(asgi_headers(bearer(idp.bearer_token("job")))))
    assert user is not None
    assert user.is_bearer
    with pytest.raises(Exception, match="not one of the configured alb_arns"):
        asyncio.run(auth.authenticate(asgi_headers(alb.headers("alice"))))


def test_bearer_tokens_are_cached_apart_from_access_tokens(
    alb: FakeALB, idp: FakeIdP, clock: Clock
) -> None:
    """Bytes verified under one policy are never taken for the other: an access token of the
    same IdP but another audience is verified (and refused) as a bearer token."""
    human_idp = FakeIdP(issuer=idp.issuer, audiences=["app-audience"], clock=clock)
    human_idp.key, human_idp.kid = idp.key, idp.kid  # the same IdP, the same key
    config = alb.config(access_token=human_idp.config(), bearer=idp.config())
    auth = ALBAuthenticator(config, http_client=alb.http_client(idp), clock=clock)
    access = human_idp.access_token("alice", scopes=["admin"])
    user = asyncio.run(auth.authenticate(asgi_headers(alb.headers("alice", access_token=access))))
    assert user is not None
    assert user.scopes == {"admin"}
    with pytest.raises(BearerTokenError, match="`aud` holds none"):
        asyncio.run(auth.authenticate(asgi_headers(bearer(access))))
    assert len(auth.bearer_tokens) == 0
    assert len(auth.access_tokens) == 1


def test_a_bearer_token_is_verified_once_while_it_is_valid(
    alb: FakeALB, idp: FakeIdP, clock: Clock
) -> None:
    auth = ALBAuthenticator(
        alb.config(bearer=idp.config()), http_client=alb.http_client(idp), clock=clock
    )
    token = idp.bearer_token("job", scopes=["a"])
    for _ in range(3):
        asyncio.run(auth.authenticate(asgi_headers(bearer(token))))
    assert (auth.bearer_tokens.misses, auth.bearer_tokens.hits) == (1, 2)
    clock.advance(3600 + 31)
    with pytest.raises(BearerTokenError, match="expired") as caught:
        asyncio.run(auth.authenticate(asgi_headers(bearer(token))))
    assert caught.value.reason == "access_token_expired"


def test_a_cognito_user_pools_client_credentials_tokens(alb: FakeALB, clock: Clock) -> None:
    """Cognito's machine tokens have no `aud`: the preset checks `client_id` and `token_use`."""
    pool = CognitoConfig(user_pool_id=alb.user_pool_id, client_ids=["m2m-client"])
    auth = ALBAuthenticator(
        ALBConfig(alb_arns=[], bearer=pool), http_client=alb.http_client(), clock=clock
    )
    token = alb.access_token("m2m-client", claims={"client_id": "m2m-client"}, scopes=["api/read"])
    user = asyncio.run(auth.verify_bearer_token(token))
    assert user.is_bearer
    assert user.sub == "m2m-client"
    assert user.scopes == {"api/read"}
    other = alb.access_token("x", claims={"client_id": "someone-else"})
    with pytest.raises(BearerTokenError, match="`client_id` is not a configured client id"):
        asyncio.run(auth.verify_bearer_token(other))


def test_a_websocket_may_authenticate_with_a_bearer_token(client: TestClient, idp: FakeIdP) -> None:
    with client.websocket_connect("/ws", headers=bearer(idp.bearer_token("job"))) as websocket:
        assert websocket.receive_json() == {"sub": "job"}
    with (
        pytest.raises(WebSocketDenialResponse) as caught,
        client.websocket_connect("/ws", headers=bearer("a.b.c")),
    ):
        pass  # pragma: no cover
    assert caught.value.status_code == 401
    assert caught.value.headers["www-authenticate"].startswith('Bearer error="invalid_token"')


def test_a_bearer_users_repr_and_claims(alb: FakeALB, idp: FakeIdP, clock: Clock) -> None:
    auth = ALBAuthenticator(
        alb.config(bearer=idp.config()), http_client=alb.http_client(idp), clock=clock
    )
    token = idp.bearer_token("job", scopes=["a"])
    user = asyncio.run(auth.verify_bearer_token(token))
    assert user.claims["client_id"] == "job"
    # Any bytes-like value (a bytearray was refused with TypeError: unhashable).
    for raw in (token.encode(), bytearray(token.encode()), memoryview(token.encode())):
        assert asyncio.run(auth.verify_bearer_token(raw)).sub == "job"
    assert user.access_claims == user.claims
    assert repr(user).endswith("is_bearer=True)")
    with pytest.raises(TypeError, match="bearer is not set"):
        asyncio.run(ALBAuthenticator(alb.config()).verify_bearer_token("x"))


def test_one_idp_for_access_and_bearer_tokens_is_fetched_once(
    alb: FakeALB, idp: FakeIdP, clock: Clock
) -> None:
    config = alb.config(access_token=idp.config(), bearer=idp.config())
    auth = ALBAuthenticator(config, http_client=alb.http_client(idp), clock=clock)
    assert auth.jwks is auth.bearer_jwks
    login = alb.headers("alice", access_token=idp.access_token("alice"))
    asyncio.run(auth.authenticate(asgi_headers(login)))
    asyncio.run(auth.authenticate(asgi_headers(bearer(idp.bearer_token("job")))))
    assert idp.requests == [idp.discovery_url, idp.jwks_url]
    unknown = idp.bearer_token("job", header={"kid": "not-there"})
    with pytest.raises(BearerTokenError, match="bearer token `kid` is not in the IdP's JWKS"):
        asyncio.run(auth.authenticate(asgi_headers(bearer(unknown))))


def test_a_duplicated_authorization_header_does_not_spoil_an_alb_login(
    client: TestClient, alb: FakeALB
) -> None:
    """The ALB's headers decide: two `Authorization` headers (the app's own Basic auth, a proxy's)
    next to a valid login are none of the bearer path's business."""
    headers = [
        *alb.headers("alice").items(),
        ("authorization", "Basic dXNlcjpwYXNz"),
        ("authorization", "Basic b3RoZXI6cGFzcw=="),
    ]
    response = client.get("/me", headers=headers)
    assert response.status_code == 200
    assert response.json()["sub"] == "alice"


def test_cognito_bearer_tokens_get_nbf_and_iat_checks_the_albs_access_tokens_exp_only(
    alb: FakeALB, clock: Clock
) -> None:
    pool = CognitoConfig(user_pool_id=alb.user_pool_id, client_ids=["m2m"])
    auth = ALBAuthenticator(
        ALBConfig(alb_arns=[], bearer=pool), http_client=alb.http_client(), clock=clock
    )
    future = alb.access_token("m2m", claims={"client_id": "m2m", "iat": clock() + 86400})
    with pytest.raises(BearerTokenError, match="issued in the future"):
        asyncio.run(auth.verify_bearer_token(future))
    # The ALB's Cognito access tokens are held to `exp` alone (as docs/index.md says).
    login = ALBAuthenticator(alb.config(), http_client=alb.http_client(), clock=clock)
    headers = alb.headers("alice")
    headers["x-amzn-oidc-accesstoken"] = alb.access_token(
        "alice", claims={"iat": clock() + 86400, "nbf": clock() + 86400}
    )
    user = asyncio.run(login.authenticate(asgi_headers(headers)))
    assert user is not None
    assert user.access_token_verified
