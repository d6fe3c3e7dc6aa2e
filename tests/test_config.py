from __future__ import annotations

import re
from pathlib import Path

import pytest

import alb_oidc
from alb_oidc import ALBConfig, CognitoConfig, ConfigurationError, OIDCAccessTokenConfig
from alb_oidc.config import known_environment_variables

ARN = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/my-alb/50dc6c495c0c9188"
GOV_ARN = (
    "arn:aws-us-gov:elasticloadbalancing:us-gov-west-1:123456789012:"
    "loadbalancer/app/a/50dc6c495c0c9188"
)
CN_ARN = (
    "arn:aws-cn:elasticloadbalancing:cn-north-1:123456789012:loadbalancer/app/a/50dc6c495c0c9188"
)


def test_minimal_config_uses_the_regional_key_endpoint() -> None:
    config = ALBConfig(alb_arns=[ARN])
    assert config.alb_arns == (ARN,)
    assert config.key_urls[ARN] == "https://public-keys.auth.elb.eu-west-1.amazonaws.com/{kid}"
    assert config.optional is False
    assert config.session_cookie == "AWSELBAuthSessionCookie"
    assert config.cognito is None


def test_each_arn_gets_the_endpoint_of_its_own_region_and_partition() -> None:
    other = ARN.replace("eu-west-1", "us-east-2")
    config = ALBConfig(alb_arns=[ARN, other, GOV_ARN])
    assert config.key_urls[other] == "https://public-keys.auth.elb.us-east-2.amazonaws.com/{kid}"
    assert config.key_urls[GOV_ARN] == (
        "https://s3-us-gov-west-1.amazonaws.com/aws-elb-public-keys-prod-us-gov-west-1/{kid}"
    )


def test_config_is_frozen_and_hashable() -> None:
    config = ALBConfig(alb_arns=[ARN], client_ids=["c"])
    with pytest.raises(AttributeError):
        config.leeway = 5  # type: ignore[misc]
    assert hash(config) == hash(ALBConfig(alb_arns=(ARN,), client_ids=("c",)))


@pytest.mark.parametrize(
    ("arn", "why"),
    [
        ("", "empty"),
        ("my-alb", "not an ARN"),
        (ARN.replace("/app/", "/net/"), "a network load balancer"),
        (ARN.replace("123456789012", "12345"), "short account id"),
        (ARN.replace("50dc6c495c0c9188", "xyz"), "bad id"),
        (ARN.replace("elasticloadbalancing", "ec2"), "another service"),
        (ARN + "/listener", "trailing text"),
        (" " + ARN, "leading space"),
    ],
)
def test_bad_alb_arns_are_refused_with_the_field_named(arn: str, why: str) -> None:
    with pytest.raises(ConfigurationError, match=r"alb_arns\[0\]"):
        ALBConfig(alb_arns=[arn])


def test_no_arn_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="alb_arns must name at least one"):
        ALBConfig(alb_arns=[])


def test_china_partition_needs_a_key_url() -> None:
    with pytest.raises(ConfigurationError, match=r"partition 'aws-cn'.*set key_url"):
        ALBConfig(alb_arns=[CN_ARN])
    config = ALBConfig(alb_arns=[CN_ARN], key_url="https://keys.example.cn/{region}/{kid}")
    assert config.key_urls[CN_ARN] == "https://keys.example.cn/cn-north-1/{kid}"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("https://keys.example.com/", "containing {kid}"),
        ("https://keys.example.com/{kid}/{account}", "only use the placeholders"),
        ("http://keys.example.com/{kid}", "must use https"),
        ("http://10.0.0.1/{kid}", "must use https"),
        ("ftp://127.0.0.1/{kid}", "must use https"),
        ("/relative/{kid}", "not an absolute URL"),
    ],
)
def test_bad_key_urls_are_refused(url: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        ALBConfig(alb_arns=[ARN], key_url=url)


def test_a_key_url_naming_another_region_than_the_alb_is_refused() -> None:
    # It passed, and then every request was a 503 "retry later" (the other region's 404s).
    other = "https://public-keys.auth.elb.us-east-1.amazonaws.com/{kid}"
    with pytest.raises(ConfigurationError, match=r"alb_arns\[0\] is in eu-west-1, but key_url "):
        ALBConfig(alb_arns=[ARN], key_url=other)
    gov = ARN.replace("arn:aws:", "arn:aws-us-gov:").replace("eu-west-1", "us-gov-west-1")
    s3 = "https://s3-us-gov-east-1.amazonaws.com/aws-elb-public-keys-prod-us-gov-east-1/{kid}"
    with pytest.raises(ConfigurationError, match="names us-gov-east-1"):
        ALBConfig(alb_arns=[gov], key_url=s3)


@pytest.mark.parametrize(
    "url",
    [
        "https://public-keys.auth.elb.eu-west-1.amazonaws.com/{kid}",  # the ALB's own region
        "https://public-keys.auth.elb.{region}.amazonaws.com/{kid}",
        "https://keys-1.example.com/{kid}",  # no region named: a mirror of the user's own
    ],
)
def test_a_key_url_of_the_albs_own_region_or_none_is_allowed(url: str) -> None:
    assert ALBConfig(alb_arns=[ARN], key_url=url).key_urls[ARN].startswith("https://")


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "localhost", "[::1]"])
def test_plain_http_key_url_is_allowed_on_loopback(host: str) -> None:
    config = ALBConfig(alb_arns=[ARN], key_url=f"http://{host}:8080/keys/{{kid}}")
    assert config.key_urls[ARN] == f"http://{host}:8080/keys/{{kid}}"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("leeway", -1),
        ("leeway", 301),
        ("leeway", True),
        ("leeway", "30"),
        ("key_cache_size", 0),
        ("key_fetch_timeout", 0),
        ("max_key_fetches_per_minute", 0),
        ("access_token_cache_size", -1),
        ("access_token_cache_size", 2_000_000),
        ("access_token_cache_size", True),
        ("access_token_cache_ttl", -1),
        ("access_token_cache_ttl", "60"),
        ("session_cookie", "bad name;"),
        ("session_cookie", ""),
        ("logout_url", "/bye"),
        ("optional", "yes"),
        # Any truthy value used to switch the insecure mode on, the string "false" too.
        ("insecure_decode_unverified_access_token", "false"),
        ("insecure_decode_unverified_access_token", 1),
        ("client_ids", [""]),
        ("issuers", [None]),
    ],
)
def test_bad_values_name_their_field(field: str, value: object) -> None:
    with pytest.raises(ConfigurationError, match=field):
        ALBConfig(alb_arns=[ARN], **{field: value})  # type: ignore[arg-type]


def test_a_single_string_is_one_arn_not_characters() -> None:
    assert ALBConfig(alb_arns=ARN).alb_arns == (ARN,)  # type: ignore[arg-type]


def test_public_paths_exact_and_prefix() -> None:
    config = ALBConfig(alb_arns=[ARN], public_paths=["/health", "/static/*"])
    assert config.is_public("/health")
    assert not config.is_public("/health/deep")
    assert not config.is_public("/healthz")
    assert config.is_public("/static/app.js")
    assert config.is_public("/static/")
    assert not config.is_public("/static")
    assert not config.is_public("/me")


@pytest.mark.parametrize("path", ["health", "/a*b", "*"])
def test_bad_public_paths_are_refused(path: str) -> None:
    with pytest.raises(ConfigurationError, match="public_paths"):
        ALBConfig(alb_arns=[ARN], public_paths=[path])


def test_cognito_defaults_derive_from_the_pool_id() -> None:
    cognito = CognitoConfig(user_pool_id="eu-west-1_AbCdEf123", client_ids=["abc"])
    assert cognito.issuer == "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123"
    assert cognito.jwks_url == (
        "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123/.well-known/jwks.json"
    )
    assert cognito.region == "eu-west-1"
    assert cognito.client_ids == ("abc",)


def test_cognito_jwks_url_follows_a_given_issuer() -> None:
    cognito = CognitoConfig(
        user_pool_id="us-east-1_X", client_ids=["abc"], issuer="http://127.0.0.1:5000/us-east-1_X"
    )
    assert cognito.jwks_url == "http://127.0.0.1:5000/us-east-1_X/.well-known/jwks.json"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"user_pool_id": "AbCdEf123", "client_ids": ["a"]}, "user_pool_id"),
        ({"user_pool_id": "eu-west-1_A", "client_ids": []}, "client_ids"),
        (
            {"user_pool_id": "eu-west-1_A", "client_ids": ["a"], "jwks_url": "http://x.com/j"},
            "jwks_url",
        ),
        ({"user_pool_id": "eu-west-1_A", "client_ids": ["a"], "issuer": "http://x.com"}, "issuer"),
        ({"user_pool_id": "eu-west-1_A", "client_ids": ["a"], "jwks_ttl": 0}, "jwks_ttl"),
        # Without a cooldown, every bearer token with an unknown kid would refetch the JWKS.
        (
            {"user_pool_id": "eu-west-1_A", "client_ids": ["a"], "refresh_cooldown": 0},
            "cognito.refresh_cooldown must be a number from 1",
        ),
    ],
)
def test_bad_cognito_settings_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        CognitoConfig(**kwargs)  # type: ignore[arg-type]


def test_cognito_must_be_a_cognito_config() -> None:
    with pytest.raises(ConfigurationError, match="cognito must be a CognitoConfig"):
        ALBConfig(alb_arns=[ARN], cognito={"user_pool_id": "x"})  # type: ignore[arg-type]


def test_from_env_reads_every_documented_variable() -> None:
    env = {
        "ALB_OIDC_ALB_ARNS": f"{ARN}, {ARN.replace('eu-west-1', 'us-east-1')}",
        "ALB_OIDC_CLIENT_IDS": "client-a,client-b",
        "ALB_OIDC_ISSUERS": "https://issuer.example.com",
        "ALB_OIDC_KEY_URL": "http://127.0.0.1:9000/{kid}",
        "ALB_OIDC_LEEWAY": "12.5",
        "ALB_OIDC_PUBLIC_PATHS": "/health,/static/*",
        "ALB_OIDC_OPTIONAL": "true",
        "ALB_OIDC_SESSION_COOKIE": "MyCookie",
        "ALB_OIDC_LOGOUT_URL": "https://auth.example.com/logout?client_id=x",
        "ALB_OIDC_KEY_FETCH_TIMEOUT": "2",
        "ALB_OIDC_ACCESS_TOKEN_CACHE_SIZE": "100",
        "ALB_OIDC_ACCESS_TOKEN_CACHE_TTL": "15",
        "ALB_OIDC_COGNITO_USER_POOL_ID": "eu-west-1_AbC",
        "ALB_OIDC_COGNITO_CLIENT_IDS": "client-a",
        "ALB_OIDC_COGNITO_JWKS_URL": "http://127.0.0.1:9000/jwks.json",
        "ALB_OIDC_COGNITO_ISSUER": "http://127.0.0.1:9000/pool",
        "UNRELATED": "x",
    }
    config = ALBConfig.from_env(env)
    assert len(config.alb_arns) == 2
    assert config.client_ids == ("client-a", "client-b")
    assert config.issuers == ("https://issuer.example.com",)
    assert config.key_urls[ARN] == "http://127.0.0.1:9000/{kid}"
    assert config.leeway == 12.5
    assert config.public_paths == ("/health", "/static/*")
    assert config.optional is True
    assert config.session_cookie == "MyCookie"
    assert config.logout_url == "https://auth.example.com/logout?client_id=x"
    assert config.key_fetch_timeout == 2
    assert (config.access_token_cache_size, config.access_token_cache_ttl) == (100, 15.0)
    assert config.cognito is not None
    assert config.cognito.client_ids == ("client-a",)
    assert config.cognito.jwks_url == "http://127.0.0.1:9000/jwks.json"
    assert config.cognito.issuer == "http://127.0.0.1:9000/pool"


def test_from_env_cognito_client_ids_default_to_client_ids() -> None:
    config = ALBConfig.from_env(
        {
            "ALB_OIDC_ALB_ARNS": ARN,
            "ALB_OIDC_CLIENT_IDS": "client-a",
            "ALB_OIDC_COGNITO_USER_POOL_ID": "eu-west-1_AbC",
        }
    )
    assert config.cognito is not None
    assert config.cognito.client_ids == ("client-a",)


def test_from_env_keyword_overrides_win() -> None:
    config = ALBConfig.from_env({"ALB_OIDC_ALB_ARNS": ARN, "ALB_OIDC_LEEWAY": "5"}, leeway=7)
    assert config.leeway == 7


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "ALB_OIDC_ALB_ARNS is not set"),
        ({"ALB_OIDC_ALB_ARNS": "  "}, "ALB_OIDC_ALB_ARNS is not set"),
        ({"ALB_OIDC_ALB_ARNS": ARN, "ALB_OIDC_LEEWAY": "soon"}, "ALB_OIDC_LEEWAY is not a number"),
        (
            {"ALB_OIDC_ALB_ARNS": ARN, "ALB_OIDC_OPTIONAL": "maybe"},
            "ALB_OIDC_OPTIONAL must be true",
        ),
        (
            {"ALB_OIDC_ALB_ARNS": ARN, "ALB_OIDC_COGNITO_CLIENT_IDS": "a"},
            "COGNITO_USER_POOL_ID is not",
        ),
        ({"ALB_OIDC_ALB_ARNS": "nope"}, r"alb_arns\[0\]"),
        (
            {"ALB_OIDC_ALB_ARNS": ARN, "ALB_OIDC_ACCESS_TOKEN_CACHE_SIZE": "4096.0"},
            "ALB_OIDC_ACCESS_TOKEN_CACHE_SIZE is not a whole number",
        ),
        # These two named no variable at all.
        (
            {"ALB_OIDC_ALB_ARNS": ARN, "ALB_OIDC_COGNITO_USER_POOL_ID": "eu-west-1_AbC"},
            "ALB_OIDC_COGNITO_USER_POOL_ID is set but no app client id is: set "
            "ALB_OIDC_COGNITO_CLIENT_IDS",
        ),
        (
            {
                "ALB_OIDC_ALB_ARNS": ARN,
                "ALB_OIDC_COGNITO_USER_POOL_ID": "eu-west-1_AbC",
                "ALB_OIDC_CLIENT_IDS": "c",
                "ALB_OIDC_ACCESS_TOKEN_ISSUER": "https://idp.example.com",
                "ALB_OIDC_ACCESS_TOKEN_AUDIENCES": "api",
            },
            "ALB_OIDC_COGNITO_USER_POOL_ID and ALB_OIDC_ACCESS_TOKEN_\\* are both set",
        ),
    ],
)
def test_from_env_errors_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        ALBConfig.from_env(env)


@pytest.mark.parametrize(("value", "claim"), [("none", None), ("None", None), ("roles", "roles")])
def test_from_env_groups_claim_none_is_off_like_the_other_claim_variables(
    value: str, claim: str | None
) -> None:
    env = {"ALB_OIDC_ALB_ARNS": ARN, "ALB_OIDC_GROUPS_CLAIM": value}
    assert ALBConfig.from_env(env).groups_claim == claim


def test_from_env_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALB_OIDC_ALB_ARNS", ARN)
    assert ALBConfig.from_env().alb_arns == (ARN,)


def test_configuration_error_is_a_value_error() -> None:
    assert issubclass(ConfigurationError, ValueError)


def test_insecure_access_token_option_warns_loudly(caplog: pytest.LogCaptureFixture) -> None:
    ALBConfig(alb_arns=[ARN], insecure_decode_unverified_access_token=True)
    assert "NOT verified" in caplog.text


@pytest.mark.parametrize(
    "verified",
    [
        {"cognito": CognitoConfig(user_pool_id="eu-west-1_AbCdEf123", client_ids=["c"])},
        {
            "access_token": OIDCAccessTokenConfig(
                issuer="https://idp.example.com", audiences=["api"]
            )
        },
    ],
    ids=["cognito", "access_token"],
)
def test_insecure_access_token_option_with_a_verified_access_token_is_refused(
    verified: dict[str, object], caplog: pytest.LogCaptureFixture
) -> None:
    # It did nothing then, but its warning said access tokens were NOT verified.
    with pytest.raises(ConfigurationError, match="has no effect with cognito or access_token"):
        ALBConfig(alb_arns=[ARN], insecure_decode_unverified_access_token=True, **verified)
    assert "NOT verified" not in caplog.text


@pytest.mark.parametrize(
    ("path", "public"),
    [
        ("/static/app.js", True),
        ("/static/.well-known/x", True),  # a dot file, not a dot segment
        ("/health", True),
        ("/static/../admin", False),
        ("/static/./../admin", False),
        ("/static/..", False),
        ("/static/a/../../admin", False),
        ("/health/..", False),
        ("/admin", False),
    ],
)
def test_a_public_prefix_does_not_cover_dot_segments(path: str, public: bool) -> None:
    config = ALBConfig(alb_arns=[ARN], public_paths=["/static/*", "/health"])
    assert config.is_public(path) is public


POOL_ISSUER = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Pool1"


@pytest.mark.parametrize("arn", [ARN + " ", " " + ARN, ARN + "\n"])
def test_surrounding_whitespace_is_named_as_such(arn: str) -> None:
    with pytest.raises(
        ConfigurationError, match=r"alb_arns\[0\] has leading or trailing whitespace"
    ):
        ALBConfig(alb_arns=[arn])


def test_an_empty_item_is_still_called_empty() -> None:
    with pytest.raises(ConfigurationError, match=r"client_ids\[0\] must be a non-empty string"):
        ALBConfig(alb_arns=[ARN], client_ids=[""])


def test_a_bad_key_url_is_quoted_as_written() -> None:
    template = "http://keys.example.com/{region}/{kid}"
    with pytest.raises(ConfigurationError) as caught:
        ALBConfig(alb_arns=[ARN], key_url=template)
    assert str(caught.value).endswith(f"{template!r}")
    assert "00000000" not in str(caught.value)


@pytest.mark.parametrize(
    "make",
    [
        lambda: ALBConfig(alb_arns=[ARN], issuers=[POOL_ISSUER + "/"]),
        lambda: CognitoConfig(
            user_pool_id="eu-west-1_Pool1", client_ids=["c"], issuer=POOL_ISSUER + "/"
        ),
    ],
)
def test_a_cognito_issuer_with_a_trailing_slash_is_refused(make: object) -> None:
    with pytest.raises(ConfigurationError, match=r"ends with '/', but Cognito's issuer never does"):
        make()  # type: ignore[operator]


def test_other_issuers_may_end_with_a_slash() -> None:
    # Auth0's issuer is `https://TENANT.auth0.com/`, and the ALB passes it on as it is.
    config = ALBConfig(alb_arns=[ARN], issuers=["https://tenant.eu.auth0.com/"])
    assert config.issuers == ("https://tenant.eu.auth0.com/",)


def test_from_env_warns_about_a_misspelt_variable_with_the_closest_name(
    caplog: pytest.LogCaptureFixture,
) -> None:
    config = ALBConfig.from_env({"ALB_OIDC_ALB_ARNS": ARN, "ALB_OIDC_CLIENT_ID": "abc"})
    assert config.client_ids == ()
    (record,) = caplog.records
    assert (record.name, record.levelname) == ("alb_oidc", "WARNING")
    assert record.getMessage() == (
        "ALB_OIDC_CLIENT_ID is not a setting alb-oidc reads, so it has no effect; "
        "did you mean ALB_OIDC_CLIENT_IDS?"
    )


def test_from_env_does_not_warn_about_the_logout_service_and_dev_variables(
    caplog: pytest.LogCaptureFixture,
) -> None:
    env = {
        "ALB_OIDC_ALB_ARNS": ARN,
        "ALB_OIDC_LOGOUT_COGNITO_DOMAIN": "auth.example.com",
        "ALB_OIDC_LOGOUT_CLIENT_ID": "c",
        "ALB_OIDC_LOGOUT_REDIRECT_URI": "https://app.example.com/bye",
        "ALB_OIDC_LOGOUT_END_SESSION_ENDPOINT": "https://idp.example.com/end",
        "ALB_OIDC_DEV_CLIENT_SECRET": "s",
        "ALB_OIDC_COGNITO_USER_POOL_ID": "eu-west-1_Pool1",
        "ALB_OIDC_COGNITO_CLIENT_IDS": "c",
        "ALB_OIDC_COGNITO_ISSUER": POOL_ISSUER,
        "ALB_OIDC_COGNITO_JWKS_URL": POOL_ISSUER + "/.well-known/jwks.json",
        "ALB_OIDC_KEY_FETCH_TIMEOUT": "3",
        "ALB_OIDC_ACCESS_TOKEN_CACHE_SIZE": "10",
        "ALB_OIDC_ACCESS_TOKEN_CACHE_TTL": "60",
    }
    ALBConfig.from_env(env)
    assert caplog.records == []


def test_every_variable_named_in_the_package_is_known() -> None:
    # A variable named anywhere in alb_oidc (the logout service, the CLI, the emulator's printed
    # settings) must never be reported as a typo by from_env.
    package = Path(alb_oidc.__file__).parent
    named = {
        match
        for source in package.rglob("*.py")
        for match in re.findall(r"[\"'](ALB_OIDC_[A-Z0-9_]+)[\"']", source.read_text("utf-8"))
    }
    assert {"ALB_OIDC_LOGOUT_COGNITO_DOMAIN", "ALB_OIDC_DEV_CLIENT_SECRET"} <= named
    assert named <= known_environment_variables()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"ALB_OIDC_ALB_ARNS": ARN, "ALB_OIDC_COGNITO_ISSUER": POOL_ISSUER},
            "^ALB_OIDC_COGNITO_ISSUER is set but ALB_OIDC_COGNITO_USER_POOL_ID is not",
        ),
        (
            {
                "ALB_OIDC_ALB_ARNS": ARN,
                "ALB_OIDC_COGNITO_USER_POOL_ID": "pool",
                "ALB_OIDC_CLIENT_IDS": "c",
            },
            r"^ALB_OIDC_COGNITO_USER_POOL_ID: cognito.user_pool_id is not a Cognito user pool id",
        ),
        (
            {"ALB_OIDC_ALB_ARNS": ARN, "ALB_OIDC_COGNITO_USER_POOL_ID": "eu-west-1_P"},
            r"^ALB_OIDC_COGNITO_USER_POOL_ID is set but no app client id is",
        ),
        (
            {"ALB_OIDC_ALB_ARNS": ARN + ",nope"},
            r"^ALB_OIDC_ALB_ARNS: alb_arns\[1\] is not an Application Load Balancer ARN",
        ),
        (
            {"ALB_OIDC_ALB_ARNS": ARN, "ALB_OIDC_KEY_URL": "http://keys.example.com/{kid}"},
            r"^ALB_OIDC_KEY_URL: key_url must use https .*'http://keys.example.com/\{kid\}'$",
        ),
    ],
)
def test_from_env_errors_say_which_variable_holds_the_bad_value(
    env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        ALBConfig.from_env(env)


def test_from_env_errors_do_not_blame_a_variable_for_an_override() -> None:
    with pytest.raises(ConfigurationError, match=r"^leeway must be a number"):
        ALBConfig.from_env({"ALB_OIDC_ALB_ARNS": ARN, "ALB_OIDC_LEEWAY": "5"}, leeway=-1)


def test_from_env_builds_an_idps_access_token_and_bearer_configs() -> None:
    env = {
        "ALB_OIDC_ALB_ARNS": ARN,
        "ALB_OIDC_ACCESS_TOKEN_ISSUER": "https://acme.okta.com/oauth2/default",
        "ALB_OIDC_ACCESS_TOKEN_AUDIENCES": "api://default",
        "ALB_OIDC_ACCESS_TOKEN_SCOPES_CLAIM": "scp",
        "ALB_OIDC_ACCESS_TOKEN_SUBJECT_CLAIM": "uid",
        "ALB_OIDC_BEARER_ISSUER": "https://acme.okta.com/oauth2/default",
        "ALB_OIDC_BEARER_AUDIENCES": "api://default",
        "ALB_OIDC_BEARER_SCOPES_CLAIM": "None",
    }
    config = ALBConfig.from_env(env)
    assert config.access_token is not None
    assert config.access_token.subject_claim == "uid"
    assert config.bearer is not None
    assert config.bearer.scopes_claim is None  # "none", in any case, turns a claim off


def test_from_env_bearer_alone_needs_no_alb_arns() -> None:
    env = {"ALB_OIDC_BEARER_ISSUER": "https://idp.example.com", "ALB_OIDC_BEARER_AUDIENCES": "a"}
    assert ALBConfig.from_env(env).alb_arns == ()
    with pytest.raises(ConfigurationError, match="ALB_OIDC_ALB_ARNS is not set"):
        ALBConfig.from_env({})


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"ALB_OIDC_ACCESS_TOKEN_AUDIENCES": "api://default"},
            "ALB_OIDC_ACCESS_TOKEN_AUDIENCES is set but ALB_OIDC_ACCESS_TOKEN_ISSUER is not",
        ),
        (
            {"ALB_OIDC_BEARER_ISSUER": "https://idp.example.com"},
            "ALB_OIDC_BEARER_ISSUER is set but ALB_OIDC_BEARER_AUDIENCES is not",
        ),
        (
            {
                "ALB_OIDC_ACCESS_TOKEN_ISSUER": "https://idp.example.com",
                "ALB_OIDC_ACCESS_TOKEN_AUDIENCES": "a",
                "ALB_OIDC_ACCESS_TOKEN_ALGORITHMS": "HS256",
            },
            r"ALB_OIDC_ACCESS_TOKEN_ALGORITHMS: algorithms\[0\] is not an asymmetric",
        ),
        (
            {
                "ALB_OIDC_ACCESS_TOKEN_ISSUER": "http://idp.example.com",
                "ALB_OIDC_ACCESS_TOKEN_AUDIENCES": "a",
            },
            "ALB_OIDC_ACCESS_TOKEN_ISSUER: issuer .* must use https",
        ),
    ],
)
def test_from_env_names_the_variable_of_a_bad_idp_setting(
    env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        ALBConfig.from_env({"ALB_OIDC_ALB_ARNS": ARN, **env})


def test_the_idp_variables_are_known_names() -> None:
    known = known_environment_variables()
    assert "ALB_OIDC_ACCESS_TOKEN_SUBJECT_CLAIM" in known
    assert "ALB_OIDC_BEARER_SCOPES_CLAIM" in known
    assert "ALB_OIDC_ACCESS_TOKEN_GROUPS_CLAIM" in known
    assert "ALB_OIDC_GROUPS_CLAIM" in known


def test_a_bearer_subject_claim_variable_has_no_effect_and_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A bearer token's user is its own `sub`; the subject binding is the access token's.
    env = {
        "ALB_OIDC_BEARER_ISSUER": "https://idp.example.com",
        "ALB_OIDC_BEARER_AUDIENCES": "a",
        "ALB_OIDC_BEARER_SUBJECT_CLAIM": "uid",
    }
    config = ALBConfig.from_env(env)
    assert config.bearer is not None
    assert config.bearer.subject_claim == "sub"  # the field's default, unused for bearer tokens
    assert "ALB_OIDC_BEARER_SUBJECT_CLAIM" not in known_environment_variables()
    (record,) = caplog.records
    assert record.getMessage().startswith(
        "ALB_OIDC_BEARER_SUBJECT_CLAIM is not a setting alb-oidc reads, so it has no effect"
    )


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: ALBConfig([ARN], key_url="https://keys.example/{kid} "), "whitespace"),
        (lambda: ALBConfig([ARN], key_url="https://keys.example/{kid}#x"), "fragment"),
        (
            lambda: CognitoConfig("eu-west-1_Pool1", ["c"], issuer=POOL_ISSUER + "?x"),
            "query or a fragment",
        ),
        (
            lambda: CognitoConfig("eu-west-1_Pool1", ["c"], jwks_url="https://k.example/j\t"),
            "whitespace",
        ),
        (
            lambda: OIDCAccessTokenConfig(issuer="https://idp.example/a\nb", audiences=["x"]),
            "whitespace",
        ),
        (
            lambda: OIDCAccessTokenConfig(
                issuer="https://idp.example", audiences=["x"], jwks_url="https://k.example/j "
            ),
            "whitespace",
        ),
        (lambda: ALBConfig([ARN], issuers=["https://idp.example?x"]), "query or a fragment"),
    ],
)
def test_urls_keys_are_fetched_from_are_refused_at_startup_not_at_every_request(
    build: object, message: str
) -> None:
    # Before: accepted, then every request fetched a percent-encoded URL and got a 503.
    with pytest.raises(ConfigurationError, match=message):
        build()  # type: ignore[operator]


POOL_ISSUER = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Pool1"


@pytest.mark.parametrize(
    "arn",
    [
        GOV_ARN.replace("us-gov-west-1", "us-east-1"),  # GovCloud partition, commercial region
        ARN.replace("eu-west-1", "us-gov-west-1"),  # commercial partition, GovCloud region
        ARN.replace("eu-west-1", "cn-north-1"),
        ARN.replace("eu-west-1", "eu-west-\u0661"),  # an Arabic-Indic digit
    ],
)
def test_arns_aws_could_never_issue_are_refused(arn: str) -> None:
    with pytest.raises(ConfigurationError, match=r"alb_arns\[0\]"):
        ALBConfig(alb_arns=[arn])


@pytest.mark.parametrize(
    "build",
    [
        lambda: ALBConfig([ARN], client_ids="a,b"),
        lambda: ALBConfig([ARN], issuers="https://a.example,https://b.example"),
        lambda: ALBConfig([ARN], public_paths="/health,/static/*"),
        lambda: CognitoConfig("eu-west-1_Pool1", "abc,def"),
        lambda: OIDCAccessTokenConfig(
            issuer="https://i.example", audiences=["a"], client_ids="x,y"
        ),
    ],
)
def test_a_comma_separated_string_is_refused_with_a_hint(build: object) -> None:
    with pytest.raises(ConfigurationError, match="holds a comma: give a list"):
        build()  # type: ignore[operator]


def test_a_zero_from_the_environment_is_named_by_its_variable() -> None:
    env = {"ALB_OIDC_ALB_ARNS": ARN, "ALB_OIDC_KEY_FETCH_TIMEOUT": "0"}
    with pytest.raises(ConfigurationError, match=r"^ALB_OIDC_KEY_FETCH_TIMEOUT: key_fetch_timeout"):
        ALBConfig.from_env(env)


def test_from_env_keyword_arguments_replace_the_environments_sections() -> None:
    env = {
        "ALB_OIDC_ALB_ARNS": ARN,
        "ALB_OIDC_COGNITO_USER_POOL_ID": "eu-west-1_Pool1",
        "ALB_OIDC_COGNITO_CLIENT_IDS": "c",
        "ALB_OIDC_ACCESS_TOKEN_ISSUER": "https://idp.example",
        "ALB_OIDC_ACCESS_TOKEN_AUDIENCES": "api",
    }
    with pytest.raises(ConfigurationError, match="are both set"):
        ALBConfig.from_env(env)
    assert ALBConfig.from_env(env, cognito=None).access_token is not None
    assert ALBConfig.from_env(env, access_token=None).cognito is not None
    with pytest.raises(ConfigurationError, match=r"alb_arns \(given to from_env\)"):
        ALBConfig.from_env({"ALB_OIDC_ALB_ARNS": ARN}, alb_arns=[])


def test_a_config_can_be_pickled_and_deep_copied() -> None:
    import copy  # noqa: PLC0415
    import pickle  # noqa: PLC0415

    config = ALBConfig(
        [ARN, GOV_ARN],
        public_paths=["/health", "/static/*"],
        cognito=CognitoConfig("eu-west-1_Pool1", ["c"]),
    )
    for again in (copy.deepcopy(config), pickle.loads(pickle.dumps(config))):  # noqa: S301
        assert again == config
        assert dict(again.key_urls) == dict(config.key_urls)
        assert again.is_public("/static/app.js")
        with pytest.raises(TypeError):  # still read-only
            again.key_urls[ARN] = "https://elsewhere.example/{kid}"  # type: ignore[index]


def test_copying_a_config_does_not_repeat_its_startup_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import copy  # noqa: PLC0415

    config = ALBConfig([ARN], insecure_decode_unverified_access_token=True)
    caplog.clear()
    copy.deepcopy(config)
    assert not caplog.records


def test_the_bearer_subject_claim_variable_says_to_remove_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ALBConfig.from_env({"ALB_OIDC_ALB_ARNS": ARN, "ALB_OIDC_BEARER_SUBJECT_CLAIM": "uid"})
    message = caplog.records[-1].getMessage()
    assert "bearer token's user is its own `sub`" in message
    assert "SCOPES_CLAIM" not in message
