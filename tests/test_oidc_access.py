"""Access tokens of any OpenID Connect IdP (`ALBConfig.access_token`), verified end to end.

The IdP is a `FakeIdP`: real keys and signatures, its discovery document and JWKS served through
the same transport as the ALB's key. Loopback servers and outages are in test_idp_keys.py.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from jwt.algorithms import RSAAlgorithm

from alb_oidc import (
    AccessTokenError,
    ALBAuthenticator,
    ALBConfig,
    ALBUser,
    ClaimError,
    CognitoConfig,
    ConfigurationError,
    IdentityMismatchError,
    KeyUnavailableError,
    OIDCAccessTokenConfig,
)
from alb_oidc.testing import FakeALB, FakeIdP

from .conftest import Clock, asgi_headers


def make(alb: FakeALB, idp: FakeIdP, clock: Clock, **overrides: Any) -> ALBAuthenticator:
    settings: dict[str, Any] = {"access_token": idp.config()}
    settings.update(overrides)
    return ALBAuthenticator(alb.config(**settings), http_client=alb.http_client(idp), clock=clock)


def authenticate(auth: ALBAuthenticator, headers: dict[str, str]) -> ALBUser:
    user = asyncio.run(auth.authenticate(asgi_headers(headers)))
    assert isinstance(user, ALBUser)
    return user


def login(alb: FakeALB, access_token: str, sub: str = "alice") -> dict[str, str]:
    return alb.headers(sub, access_token=access_token)


@pytest.fixture
def okta(clock: Clock) -> FakeIdP:
    """Okta-shaped: `scp` a list, `groups`, and the user id in `uid` (`sub` is the login)."""
    return FakeIdP.okta(clock=clock)


def test_an_okta_shaped_access_token_grants_its_scopes_and_groups(
    alb: FakeALB, okta: FakeIdP, clock: Clock
) -> None:
    auth = make(alb, okta, clock)
    token = okta.access_token("alice", scopes=["openid", "tasks:read"], groups=["admins"])
    user = authenticate(auth, login(alb, token))
    assert user.sub == "alice"
    assert user.scopes == {"openid", "tasks:read"}
    assert user.groups == {"admins"}
    assert user.access_claims is not None
    assert user.access_claims["sub"] == "alice@login"  # Okta's `sub` is the login
    assert user.access_token_verified
    assert not user.is_bearer
    # Found by discovery, then cached: one discovery document, one JWKS.
    assert okta.requests == [okta.discovery_url, okta.jwks_url]


@pytest.mark.parametrize(
    "algorithm", ["RS256", "RS384", "RS512", "PS256", "PS512", "ES256", "ES384", "ES512"]
)
def test_every_accepted_algorithm_verifies(alb: FakeALB, clock: Clock, algorithm: str) -> None:
    idp = FakeIdP(algorithm=algorithm, clock=clock)
    user = authenticate(make(alb, idp, clock), login(alb, idp.access_token("alice", scopes=["a"])))
    assert user.scopes == {"a"}


@pytest.mark.parametrize(
    ("scopes_claim", "value", "expected"),
    [
        ("scope", "a b  c", {"a", "b", "c"}),  # space-separated (RFC 9068)
        ("scp", "a b", {"a", "b"}),  # Entra ID: a string
        ("scp", ["a", "b"], {"a", "b"}),  # Okta: a list
        ("scope", [], set()),
    ],
)
def test_scopes_are_a_string_or_a_list(
    alb: FakeALB, clock: Clock, scopes_claim: str, value: object, expected: set[str]
) -> None:
    idp = FakeIdP(scopes_claim=scopes_claim, clock=clock)
    token = idp.access_token("alice", claims={scopes_claim: value})
    assert authenticate(make(alb, idp, clock), login(alb, token)).scopes == expected


@pytest.mark.parametrize(
    ("groups_claim", "claims", "expected"),
    [
        ("groups", {"groups": ["a", "b"]}, {"a", "b"}),
        ("roles", {"roles": "reader writer"}, {"reader", "writer"}),
        ("realm_access.roles", {"realm_access": {"roles": ["admin"]}}, {"admin"}),
        (
            "resource_access.my-app.roles",
            {"resource_access": {"my-app": {"roles": ["editor"]}}},
            {"editor"},
        ),
        # A namespaced claim (Auth0): its whole name is taken before any dotted walk.
        ("https://example.com/roles", {"https://example.com/roles": ["ops"]}, {"ops"}),
        ("realm_access.roles", {}, set()),
        ("realm_access.roles", {"realm_access": {}}, set()),
    ],
)
def test_groups_come_from_the_configured_claim_or_path(
    alb: FakeALB, clock: Clock, groups_claim: str, claims: dict[str, Any], expected: set[str]
) -> None:
    idp = FakeIdP(groups_claim=groups_claim, clock=clock)
    token = idp.access_token("alice", claims=claims)
    assert authenticate(make(alb, idp, clock), login(alb, token)).groups == expected


@pytest.mark.parametrize(
    "claims",
    [
        {"groups": {"admins": True}},  # an object's keys must never become groups
        {"groups": ["admins", 1]},
        {"groups": 7},
        {"groups": [["admins"]]},
        {"groups": True},
    ],
)
def test_a_groups_claim_of_another_type_is_refused(
    alb: FakeALB, clock: Clock, claims: dict[str, Any]
) -> None:
    idp = FakeIdP(groups_claim="groups", clock=clock)
    with pytest.raises(AccessTokenError, match="`groups` is not a string or a list of strings"):
        authenticate(make(alb, idp, clock), login(alb, idp.access_token("alice", claims=claims)))


def test_a_dotted_path_through_a_non_object_is_refused(alb: FakeALB, clock: Clock) -> None:
    idp = FakeIdP(groups_claim="realm_access.roles", clock=clock)
    token = idp.access_token("alice", claims={"realm_access": ["roles", "admin"]})
    with pytest.raises(AccessTokenError, match="not inside an object"):
        authenticate(make(alb, idp, clock), login(alb, token))


def test_scopes_of_another_type_are_refused(alb: FakeALB, clock: Clock) -> None:
    idp = FakeIdP(scopes_claim="scp", clock=clock)
    token = idp.access_token("alice", claims={"scp": {"admin": "yes"}})
    with pytest.raises(AccessTokenError, match="`scp` is not a string"):
        authenticate(make(alb, idp, clock), login(alb, token))


@pytest.mark.parametrize("separator", ["\u00a0", "\t", "\u2028", "\u3000", "\x1f", "\n"])
def test_scopes_are_separated_by_the_space_character_alone(
    alb: FakeALB, clock: Clock, separator: str
) -> None:
    # RFC 6749 section 3.3: one name an IdP let somebody shape must not become two.
    idp = FakeIdP(scopes_claim="scp", groups_claim="groups", clock=clock)
    shaped = f"doc:42{separator}admin"
    token = idp.access_token("alice", claims={"scp": f" read  {shaped} ", "groups": shaped})
    user = authenticate(make(alb, idp, clock), login(alb, token))
    assert user.scopes == {"read", shaped}
    assert user.groups == {shaped}
    assert not user.has_scopes("admin")
    assert not user.in_groups("admin")


def test_the_subject_claim_binds_the_access_token_to_the_user(
    alb: FakeALB, okta: FakeIdP, clock: Clock
) -> None:
    auth = make(alb, okta, clock)
    mallorys = okta.access_token("mallory", scopes=["admin"])
    with pytest.raises(IdentityMismatchError, match="access token `uid` differs"):
        authenticate(auth, login(alb, mallorys, "alice"))
    assert len(auth.access_tokens) == 0  # refused, so not cached
    authenticate(auth, login(alb, mallorys, "mallory"))
    # Cached now; a hit is still bound to each request's own verified `sub`.
    with pytest.raises(IdentityMismatchError, match="access token `uid` differs"):
        authenticate(auth, login(alb, mallorys, "alice"))
    assert auth.access_tokens.hits == 1


def test_a_missing_subject_claim_is_refused(alb: FakeALB, okta: FakeIdP, clock: Clock) -> None:
    token = okta.access_token("alice", claims={"uid": None})
    with pytest.raises(AccessTokenError, match="has no `uid` string"):
        authenticate(make(alb, okta, clock), login(alb, token))


def test_without_a_subject_claim_any_users_token_is_accepted(alb: FakeALB, clock: Clock) -> None:
    idp = FakeIdP(subject_claim=None, clock=clock)
    token = idp.access_token("someone-else", scopes=["a"])
    auth = make(alb, idp, clock)
    assert authenticate(auth, login(alb, token, "alice")).scopes == {"a"}
    # Unbound, a cached token serves any verified user, as a fresh verification would.
    assert authenticate(auth, login(alb, token, "bob")).sub == "bob"
    assert auth.access_tokens.hits == 1


def test_a_sessions_access_token_is_verified_once(
    alb: FakeALB, okta: FakeIdP, clock: Clock
) -> None:
    auth = make(alb, okta, clock)
    token = okta.access_token("alice", scopes=["a"])
    for _ in range(3):
        assert authenticate(auth, login(alb, token)).scopes == {"a"}
    assert (auth.access_tokens.misses, auth.access_tokens.hits) == (1, 2)
    clock.advance(3600 + 31)  # past its own exp and the leeway
    with pytest.raises(AccessTokenError, match="expired"):
        authenticate(auth, alb.headers("alice", access_token=token))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"iss": "https://evil.example/oauth2/default"}, "`iss` is not the configured issuer"),
        ({"aud": "api://other"}, "`aud` holds none of the configured audiences"),
        ({"aud": ["api://other", "api://third"]}, "`aud` holds none"),
        ({"aud": None}, "`aud` holds none"),
        ({"aud": {"api://default": 1}}, "`aud` holds none"),
        ({"aud": [["api://default"]]}, "`aud` holds none"),
        ({"exp": None}, "no numeric `exp`"),
        ({"exp": "9999999999"}, "`exp` is not a number"),
        ({"exp": True}, "`exp` is not a number"),
        ({"nbf": 1_800_000_000 + 300}, "not valid yet"),
        ({"iat": 1_800_000_000 + 300}, "issued in the future"),
        ({"iat": "yesterday"}, "`iat` is not a number"),
    ],
)
def test_claims_are_checked(
    alb: FakeALB, clock: Clock, change: dict[str, Any], message: str
) -> None:
    idp = FakeIdP(issuer="https://acme.okta.example/oauth2/default", clock=clock)
    token = idp.access_token("alice", claims=change)
    with pytest.raises(AccessTokenError, match=message):
        authenticate(make(alb, idp, clock), login(alb, token))


def test_aud_may_be_a_list_holding_one_configured_audience(alb: FakeALB, clock: Clock) -> None:
    idp = FakeIdP(audiences=["api://default"], clock=clock)
    token = idp.access_token(
        "alice", claims={"aud": ["https://idp.example.com/userinfo", "api://default"]}
    )
    assert authenticate(make(alb, idp, clock), login(alb, token)).sub == "alice"


def test_the_leeway_applies_to_nbf_and_iat(alb: FakeALB, clock: Clock) -> None:
    idp = FakeIdP(clock=clock)
    token = idp.access_token("alice", claims={"nbf": clock() + 20, "iat": clock() + 20})
    assert authenticate(make(alb, idp, clock), login(alb, token)).sub == "alice"


@pytest.mark.parametrize("alg", ["HS256", "none", "ES256", "RS384", "PS256"])
def test_an_algorithm_outside_the_configuration_is_refused(
    alb: FakeALB, clock: Clock, alg: str
) -> None:
    idp = FakeIdP(algorithm="RS256", clock=clock)
    token = idp.access_token("alice", header={"alg": alg})
    with pytest.raises(AccessTokenError, match="is not one of the configured algorithms"):
        authenticate(make(alb, idp, clock), login(alb, token))


def test_the_key_type_must_match_the_algorithm(alb: FakeALB, clock: Clock) -> None:
    """An RS256 token naming the kid of the IdP's EC key is refused before any verification."""
    idp = FakeIdP(algorithm="ES256", clock=clock)
    rsa_idp = FakeIdP(algorithm="RS256", clock=clock)
    token = idp.access_token("alice", header={"alg": "RS256"}, key=rsa_idp.key)
    auth = make(alb, idp, clock, access_token=idp.config(algorithms=("ES256", "RS256")))
    with pytest.raises(AccessTokenError, match="does not match the key its `kid` names"):
        authenticate(auth, login(alb, token))


def test_a_key_published_for_one_algorithm_is_not_used_with_another(
    alb: FakeALB, clock: Clock
) -> None:
    idp = FakeIdP(algorithm="PS256", clock=clock)  # its JWK says alg PS256
    token = idp.access_token("alice", header={"alg": "RS256"})
    auth = make(alb, idp, clock, access_token=idp.config(algorithms=("PS256", "RS256")))
    with pytest.raises(AccessTokenError, match="does not match the key"):
        authenticate(auth, login(alb, token))


def test_an_es256_key_on_another_curve_is_refused(alb: FakeALB, clock: Clock) -> None:
    idp = FakeIdP(algorithm="ES384", clock=clock)
    token = idp.access_token("alice", header={"alg": "ES256"})
    auth = make(alb, idp, clock, access_token=idp.config(algorithms=("ES256", "ES384")))
    with pytest.raises(AccessTokenError, match="does not match the key"):
        authenticate(auth, login(alb, token))


def test_a_signature_by_another_key_is_refused(alb: FakeALB, clock: Clock) -> None:
    idp = FakeIdP(clock=clock)
    token = idp.access_token("alice", key=FakeIdP().key)
    with pytest.raises(AccessTokenError, match="signature is invalid"):
        authenticate(make(alb, idp, clock), login(alb, token))


def test_an_hs256_token_keyed_with_the_public_key_is_refused(alb: FakeALB, clock: Clock) -> None:
    """The classic confusion: the RSA public key's bytes used as an HMAC secret."""
    idp = FakeIdP(clock=clock)
    public = json.dumps(json.loads(RSAAlgorithm.to_jwk(idp.key.public_key()))).encode()
    token = idp.access_token("alice", header={"alg": "HS256"}, key=public)
    auth = make(alb, idp, clock, access_token=idp.config(algorithms=("RS256",)))
    with pytest.raises(AccessTokenError, match="`alg` is not one of"):
        authenticate(auth, login(alb, token))


@pytest.mark.parametrize(
    "token",
    [
        "2YotnFZFEjr1zCsicMWpAA",  # RFC 6749's example of an opaque token
        "ya29.a0AfH6SMBx",  # Google's shape: opaque, two dots short of a JWT
    ],
)
def test_an_opaque_access_token_is_refused_with_a_clear_reason(
    alb: FakeALB, clock: Clock, token: str
) -> None:
    idp = FakeIdP(clock=clock)
    with pytest.raises(AccessTokenError, match=r"not a JWT \(an opaque token cannot be verified\)"):
        authenticate(make(alb, idp, clock), login(alb, token))


def test_a_padded_access_token_is_refused(alb: FakeALB, clock: Clock) -> None:
    idp = FakeIdP(clock=clock)
    header, payload, signature = idp.access_token("alice").split(".")
    padded = f"{header}.{payload}{'=' * (-len(payload) % 4)}.{signature}"
    if padded.count("=") == 0:
        padded = f"{header}.{payload}.{signature}=="
    with pytest.raises(AccessTokenError, match="malformed"):
        authenticate(make(alb, idp, clock), login(alb, padded))


def test_an_unknown_kid_is_refused_after_one_refresh(alb: FakeALB, clock: Clock) -> None:
    idp = FakeIdP(clock=clock)
    auth = make(alb, idp, clock)
    authenticate(auth, login(alb, idp.access_token("alice")))
    for index in range(5):
        token = idp.access_token("alice", header={"kid": f"unknown-{index}"})
        with pytest.raises(AccessTokenError, match="`kid` is not in the IdP's JWKS"):
            authenticate(auth, login(alb, token))
    # Discovery once; the JWKS once at start and once for the first unknown kid (cooldown).
    assert idp.requests == [idp.discovery_url, idp.jwks_url]


def test_groups_from_the_userinfo_join_the_access_tokens(alb: FakeALB, clock: Clock) -> None:
    idp = FakeIdP(groups_claim="groups", clock=clock)
    auth = make(alb, idp, clock, groups_claim="groups")
    headers = alb.headers(
        "alice",
        claims={"groups": ["from-userinfo"]},
        access_token=idp.access_token("alice", groups=["from-token"]),
    )
    assert authenticate(auth, headers).groups == {"from-userinfo", "from-token"}


def test_groups_from_the_userinfo_need_no_access_token(alb: FakeALB, clock: Clock) -> None:
    """Google-shaped: the access token is opaque, so only the userinfo can carry groups."""
    config = alb.config(cognito=False, groups_claim="hd")
    auth = ALBAuthenticator(config, http_client=alb.http_client(), clock=clock)
    headers = alb.headers("alice", claims={"hd": "example.com"}, access_token="ya29.opaque")
    user = authenticate(auth, headers)
    assert user.groups == {"example.com"}
    assert user.scopes == frozenset()
    assert user.access_claims is None


def test_a_userinfo_groups_claim_of_another_type_is_refused(alb: FakeALB, clock: Clock) -> None:
    auth = ALBAuthenticator(
        alb.config(cognito=False, groups_claim="groups"), http_client=alb.http_client(), clock=clock
    )
    with pytest.raises(ClaimError, match="userinfo `groups` is not a string or a list"):
        authenticate(auth, alb.headers("alice", claims={"groups": {"admins": 1}}))


def test_the_user_is_read_only_whatever_the_idp(alb: FakeALB, clock: Clock) -> None:
    idp = FakeIdP(groups_claim="realm_access.roles", clock=clock)
    token = idp.access_token("alice", claims={"realm_access": {"roles": ["admin"]}})
    user = authenticate(make(alb, idp, clock), login(alb, token))
    assert user.access_claims is not None
    with pytest.raises(TypeError):
        user.access_claims["realm_access"]["roles"] = ["root"]  # type: ignore[index]
    assert user.access_claims["realm_access"]["roles"] == ("admin",)


# --- configuration ---------------------------------------------------------------------------


def test_the_config_defaults() -> None:
    config = OIDCAccessTokenConfig(issuer="https://idp.example.com", audiences="api://x")
    assert config.audiences == ("api://x",)
    assert config.algorithms == ("RS256",)
    assert (config.scopes_claim, config.groups_claim, config.subject_claim) == (
        "scope",
        None,
        "sub",
    )
    assert config.discovery_url == "https://idp.example.com/.well-known/openid-configuration"
    # Auth0's issuers end with '/': compared as written, discovered without a double slash.
    auth0 = OIDCAccessTokenConfig(issuer="https://acme.eu.auth0.com/", audiences=["https://api"])
    assert auth0.discovery_url == "https://acme.eu.auth0.com/.well-known/openid-configuration"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"algorithms": ["HS256"]}, r"algorithms\[0\] is not an asymmetric JWS algorithm"),
        ({"algorithms": ["none"]}, "not an asymmetric"),
        ({"algorithms": ["RS256", "rs256"]}, r"algorithms\[1\]"),
        ({"algorithms": []}, "at least one algorithm"),
        ({"audiences": []}, "audiences must name at least one audience"),
        ({"audiences": [""]}, r"audiences\[0\] must be a non-empty string"),
        ({"issuer": "http://idp.example.com"}, "must use https"),
        ({"issuer": ""}, "issuer must be the IdP's issuer URL"),
        ({"jwks_url": "http://idp.example.com/keys"}, "jwks_url must use https"),
        ({"groups_claim": "realm_access..roles"}, "empty part between dots"),
        ({"scopes_claim": " scp"}, "scopes_claim must be a claim name"),
        ({"subject_claim": ""}, "subject_claim must be a claim name"),
        ({"jwks_ttl": 0}, "jwks_ttl must be a number"),
    ],
)
def test_bad_settings_are_refused_with_the_field_named(
    fields: dict[str, Any], message: str
) -> None:
    settings: dict[str, Any] = {"issuer": "https://idp.example.com", "audiences": ["api://x"]}
    settings.update(fields)
    with pytest.raises(ConfigurationError, match=message):
        OIDCAccessTokenConfig(**settings)


def test_a_loopback_issuer_may_use_http() -> None:
    config = OIDCAccessTokenConfig(issuer="http://127.0.0.1:9000/realms/dev", audiences=["a"])
    assert (
        config.discovery_url == "http://127.0.0.1:9000/realms/dev/.well-known/openid-configuration"
    )


def test_cognito_and_access_token_cannot_both_be_set(alb: FakeALB) -> None:
    with pytest.raises(ConfigurationError, match="cognito and access_token are both set"):
        ALBConfig(
            alb_arns=[alb.alb_arn], cognito=alb.cognito_config(), access_token=FakeIdP().config()
        )


def test_access_token_and_bearer_must_be_configs(alb: FakeALB) -> None:
    with pytest.raises(ConfigurationError, match="access_token must be an OIDCAccessTokenConfig"):
        alb.config(access_token={"issuer": "https://idp.example.com"})
    with pytest.raises(
        ConfigurationError, match="bearer must be an OIDCAccessTokenConfig, a CognitoConfig"
    ):
        ALBConfig(alb_arns=[alb.alb_arn], bearer="https://idp.example.com")


def test_alb_arns_may_be_empty_only_with_bearer() -> None:
    with pytest.raises(ConfigurationError, match="unless bearer is set"):
        ALBConfig(alb_arns=[])
    config = ALBConfig(alb_arns=[], bearer=FakeIdP().config())
    assert config.alb_arns == ()
    cognito = ALBConfig(
        alb_arns=[], bearer=CognitoConfig(user_pool_id="eu-west-1_Pool", client_ids=["m2m"])
    )
    assert isinstance(cognito.bearer, CognitoConfig)


def test_groups_claim_is_checked(alb: FakeALB) -> None:
    with pytest.raises(ConfigurationError, match="groups_claim has an empty part"):
        alb.config(groups_claim=".groups")


@pytest.mark.parametrize("claim", ["azp", "client_id", "cid", "appid"])
def test_client_ids_name_the_clients_whose_tokens_are_accepted(
    alb: FakeALB, clock: Clock, claim: str
) -> None:
    idp = FakeIdP(clock=clock)
    auth = make(alb, idp, clock, access_token=idp.config(client_ids=["the-app"]))
    ours = idp.access_token("alice", claims={claim: "the-app"})
    assert authenticate(auth, login(alb, ours)).sub == "alice"
    theirs = idp.access_token("alice", claims={claim: "another-app"})
    with pytest.raises(AccessTokenError, match=f"`{claim}` is not a configured client id"):
        authenticate(auth, login(alb, theirs))


def test_with_client_ids_a_token_naming_no_client_is_refused(alb: FakeALB, clock: Clock) -> None:
    idp = FakeIdP(clock=clock)
    auth = make(alb, idp, clock, access_token=idp.config(client_ids=["the-app"]))
    for claims in ({}, {"azp": ["the-app"]}, {"client_id": {"the-app": 1}}):
        with pytest.raises(AccessTokenError, match="is not a configured client id"):
            authenticate(auth, login(alb, idp.access_token("alice", claims=claims)))


def test_the_first_client_claim_decides(alb: FakeALB, clock: Clock) -> None:
    """`azp` comes first: a token naming another client there cannot pass by also carrying an
    allowed `client_id`."""
    idp = FakeIdP(clock=clock)
    auth = make(alb, idp, clock, access_token=idp.config(client_ids=["the-app"]))
    token = idp.access_token("alice", claims={"azp": "another-app", "client_id": "the-app"})
    with pytest.raises(AccessTokenError, match="`azp` is not a configured client id"):
        authenticate(auth, login(alb, token))


def test_a_jwks_that_breaks_the_parser_is_an_outage_not_a_500(
    alb: FakeALB, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever goes wrong with what the IdP sends is a failed fetch: 503, remembered for the
    cooldown (one attempt, not one per request)."""
    idp = FakeIdP(clock=clock)

    def broken(body: bytes) -> Any:
        raise RuntimeError("unexpected")

    monkeypatch.setattr("alb_oidc.keys.parse_jwks", broken)
    auth = make(alb, idp, clock)
    for _ in range(3):
        with pytest.raises(KeyUnavailableError) as caught:
            authenticate(auth, login(alb, idp.access_token("alice")))
        assert caught.value.reason == "jwks_fetch_failed"
    assert auth.jwks is not None
    assert auth.jwks.fetch_count == 1


def test_an_https_issuers_discovery_may_not_send_the_fetch_to_plain_http(
    alb: FakeALB, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    idp = FakeIdP(clock=clock)
    document = {**idp.discovery_document(), "jwks_uri": "http://127.0.0.1:9/keys"}
    monkeypatch.setattr(idp, "discovery_document", lambda: document)
    with pytest.raises(KeyUnavailableError, match="unavailable"):
        authenticate(make(alb, idp, clock), login(alb, idp.access_token("alice")))
    assert idp.requests == [idp.discovery_url]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"issuer": "https://idp.example.com/?tenant=1"}, "query or a fragment"),
        ({"issuer": "https://idp.example.com#x"}, "query or a fragment"),
        ({"issuer": "https://[::1"}, "is not a URL"),
        ({"jwks_url": "https://idp.example.com:port/keys"}, "jwks_url is not a URL"),
        ({"jwks_url": 5}, "jwks_url is not a URL"),
        ({"audiences": 5}, "audiences must be a list of strings"),
        ({"algorithms": 5}, "algorithms must be a list of strings"),
        ({"client_ids": [""]}, r"client_ids\[0\] must be a non-empty string"),
        ({"refresh_cooldown": 0}, "refresh_cooldown must be a number from 1"),
    ],
)
def test_more_bad_settings_are_configuration_errors(fields: dict[str, Any], message: str) -> None:
    settings: dict[str, Any] = {"issuer": "https://idp.example.com", "audiences": ["api://x"]}
    settings.update(fields)
    with pytest.raises(ConfigurationError, match=message):
        OIDCAccessTokenConfig(**settings)


def test_deeply_nested_signed_claims_are_refused_not_crashed_on(alb: FakeALB, clock: Clock) -> None:
    idp = FakeIdP(clock=clock)
    deep: Any = "bottom"
    for _ in range(500):
        deep = {"x": deep}
    with pytest.raises(AccessTokenError, match="nest deeper than 64 levels"):
        authenticate(
            make(alb, idp, clock), login(alb, idp.access_token("alice", claims={"x": deep}))
        )
    fine: Any = "bottom"
    for _ in range(60):
        fine = [fine]
    user = authenticate(
        make(alb, idp, clock), login(alb, idp.access_token("alice", claims={"x": fine}))
    )
    assert user.access_claims is not None


def test_warm_up_fetches_a_jwks_shared_by_access_and_bearer_tokens_once(
    alb: FakeALB, clock: Clock
) -> None:
    idp = FakeIdP(clock=clock)
    auth = make(alb, idp, clock, bearer=idp.config())
    assert auth.jwks is auth.bearer_jwks
    asyncio.run(auth.warm_up())
    assert idp.requests == [idp.discovery_url, idp.jwks_url]
