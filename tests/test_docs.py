"""The documentation's examples run as written and do what the pages say.

Key fetches are the only thing faked: the HTTP client alb-oidc creates for itself is given
`FakeALB`'s transport, which serves the keys at the real AWS URLs.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import inspect
import json
import os
import re
import sys
import types
from pathlib import Path
from typing import Any

import httpx2
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

import alb_oidc
from alb_oidc import ALBAuthMiddleware, ALBConfig
from alb_oidc.testing import FakeALB, FakeIdP

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"

# The account, user pool and client the pages' explicit configurations use.
EXAMPLE_ARN = (
    "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/my-alb/50dc6c495c0c9188"
)
EXAMPLE_POOL = "eu-west-1_AbCdEf123"
EXAMPLE_CLIENT = "4fmvht22tjrgd7d3k3tghttct7"
COGNITO_LOGOUT = (
    "https://auth.example.com/logout?client_id=4fmvht22tjrgd7d3k3tghttct7"
    "&logout_uri=https%3A%2F%2Fapp.example.com%2Fbye"
)


def python_blocks(page: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", (DOCS / page).read_text(), flags=re.DOTALL)


def run(page: str, index: int, namespace: dict[str, Any] | None = None) -> dict[str, Any]:
    namespace = {} if namespace is None else namespace
    code = compile(python_blocks(page)[index], f"docs/{page} block {index}", "exec")
    exec(code, namespace)  # noqa: S102
    return namespace


def serve_keys(monkeypatch: pytest.MonkeyPatch, alb: FakeALB) -> None:
    """Every `httpx2.AsyncClient` alb-oidc creates fetches from `alb` instead of AWS."""
    client = functools.partial(httpx2.AsyncClient, transport=alb.transport())
    monkeypatch.setattr("alb_oidc.keys.httpx2.AsyncClient", client)


@pytest.fixture
def example_alb(monkeypatch: pytest.MonkeyPatch) -> FakeALB:
    """A fake ALB for the pages' explicit configuration, its keys served to alb-oidc."""
    alb = FakeALB(alb_arn=EXAMPLE_ARN, client_id=EXAMPLE_CLIENT, user_pool_id=EXAMPLE_POOL)
    serve_keys(monkeypatch, alb)
    return alb


@pytest.fixture
def env_alb(monkeypatch: pytest.MonkeyPatch) -> FakeALB:
    """A fake ALB described by the `ALB_OIDC_*` variables `ALBConfig.from_env()` reads."""
    alb = FakeALB()
    serve_keys(monkeypatch, alb)
    for name in [name for name in os.environ if name.startswith("ALB_OIDC_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("ALB_OIDC_ALB_ARNS", alb.alb_arn)
    monkeypatch.setenv("ALB_OIDC_CLIENT_IDS", alb.client_id)
    monkeypatch.setenv("ALB_OIDC_COGNITO_USER_POOL_ID", alb.user_pool_id)
    return alb


def test_every_python_block_in_the_docs_compiles() -> None:
    for page in sorted(DOCS.rglob("*.md")):
        name = page.relative_to(DOCS).as_posix()
        for index, block in enumerate(python_blocks(name)):
            compile(block.replace("[...]", "[]"), f"docs/{name} block {index}", "exec")


def test_the_introduction_example(env_alb: FakeALB) -> None:
    app = run("index.md", 0)["app"]
    with TestClient(app) as client:
        assert client.get("/me").status_code == 401
        me = client.get("/me", headers=env_alb.headers("alice", email="a@example.com"))
        assert me.json() == {"sub": "alice", "email": "a@example.com"}
        tasks = client.get("/tasks", headers=env_alb.headers(scopes=["tasks/read"]))
        assert tasks.json() == ["write the docs"]
        assert client.get("/tasks", headers=env_alb.headers()).status_code == 403


def test_getting_started_app_runs_as_written(example_alb: FakeALB) -> None:
    namespace = run("getting-started.md", 0)
    app = namespace["app"]
    with TestClient(app, follow_redirects=False) as client:
        assert client.get("/me").status_code == 401
        assert client.get("/me", headers=example_alb.headers("alice")).status_code == 200
        read = example_alb.headers(scopes=["tasks/read"])
        assert client.get("/tasks", headers=read).status_code == 200
        assert client.get("/tasks", headers=example_alb.headers()).status_code == 403
        assert client.get("/health").json() == "ok"  # public: no headers needed
        assert client.get("/bye").json() == "Logged out."  # where logout returns: public too
        logout = client.get("/logout", headers=example_alb.headers())
        assert logout.status_code == 303
        assert logout.headers["location"] == COGNITO_LOGOUT
        assert "AWSELBAuthSessionCookie-3=;" in " ".join(logout.headers.get_list("set-cookie"))
    assert example_alb.requests == [example_alb.key_url(), example_alb.jwks_url]


def test_getting_started_app_can_be_tested_with_a_fake_alb(fake_alb: FakeALB) -> None:
    create_app = run("getting-started.md", 0)["create_app"]
    app = create_app(fake_alb.config(), http_client=fake_alb.http_client())
    with TestClient(app) as client:
        assert client.get("/me", headers=fake_alb.headers("alice")).status_code == 200
        assert client.get("/tasks", headers=fake_alb.headers()).status_code == 403


def test_getting_started_what_routes_see(example_alb: FakeALB) -> None:
    namespace = run("getting-started.md", 0)
    run("getting-started.md", 1, namespace)
    headers = example_alb.headers(
        "carol", email="carol@example.com", scopes=["tasks/read", "openid"], groups=["admins"]
    )
    with TestClient(namespace["app"]) as client:
        assert client.get("/whoami", headers=headers).json() == {
            "sub": "carol",
            "email": "carol@example.com",
            "verified": True,
            "scopes": ["openid", "tasks/read"],
            "groups": ["admins"],
            "admin": True,
        }


def test_getting_started_authenticator_without_asgi(env_alb: FakeALB) -> None:
    namespace = run("getting-started.md", 2)
    raw = [(name.encode(), value.encode()) for name, value in env_alb.headers("dave").items()]

    async def main() -> tuple[str | None, str | None]:
        try:
            return await namespace["who_sent"](raw), await namespace["who_sent"]([])
        finally:
            await namespace["authenticator"].aclose()

    assert asyncio.run(main()) == ("dave", None)


def test_the_configuration_table_lists_every_field() -> None:
    text = (DOCS / "configuration.md").read_text()
    table = text.split("## `ALBConfig`", 1)[1].split("\n## ", 1)[0]
    documented = re.findall(r"^\| `(\w+)` \|", table, flags=re.MULTILINE)
    fields = [field.name for field in dataclasses.fields(ALBConfig) if field.init]
    assert documented == fields


# A value for each variable, and what `from_env` must make of it.
ENV_SAMPLES: dict[str, tuple[str, object]] = {
    "alb_arns": (EXAMPLE_ARN, (EXAMPLE_ARN,)),
    "client_ids": ("one, two", ("one", "two")),
    "issuers": ("https://idp.example.com", ("https://idp.example.com",)),
    "key_url": ("https://keys.example.com/{kid}", "https://keys.example.com/{kid}"),
    "leeway": ("5", 5.0),
    "public_paths": ("/health,/static/*", ("/health", "/static/*")),
    "optional": ("true", True),
    "session_cookie": ("AppSession", "AppSession"),
    "logout_url": ("https://auth.example.com/logout", "https://auth.example.com/logout"),
    "key_fetch_timeout": ("2.5", 2.5),
    "access_token_cache_size": ("10", 10),
    "access_token_cache_ttl": ("60", 60.0),
    "cognito.user_pool_id": ("eu-west-1_Other1", "eu-west-1_Other1"),
    "cognito.client_ids": ("pool-client", ("pool-client",)),
    "cognito.jwks_url": ("https://keys.example.com/jwks", "https://keys.example.com/jwks"),
    "cognito.issuer": ("https://idp.example.com", "https://idp.example.com"),
    "groups_claim": ("realm_access.roles", "realm_access.roles"),
    **{
        f"{owner}.{field}": sample
        for owner in ("access_token", "bearer")
        for field, sample in {
            "issuer": (
                "https://sso.example.com/realms/acme",
                "https://sso.example.com/realms/acme",
            ),
            "audiences": ("api://one, api://two", ("api://one", "api://two")),
            "jwks_url": ("https://keys.example.com/jwks", "https://keys.example.com/jwks"),
            "algorithms": ("RS256,ES256", ("RS256", "ES256")),
            "scopes_claim": ("scp", "scp"),
            "groups_claim": ("realm_access.roles", "realm_access.roles"),
            "subject_claim": ("none", None),
            "client_ids": ("0oa1, 0oa2", ("0oa1", "0oa2")),
        }.items()
        if (owner, field) != ("bearer", "subject_claim")
    },
}
#: What an OIDCAccessTokenConfig needs besides the variable under test.
OIDC_BASE = {"ISSUER": "https://idp.example.com", "AUDIENCES": "api://default"}


def test_each_environment_variable_sets_the_field_the_table_names() -> None:
    text = (DOCS / "configuration.md").read_text()
    table = text.split("## Environment variables", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `(ALB_OIDC_\w+)` \| `([\w.]+)`", table, flags=re.MULTILINE)
    assert sorted(field for _, field in rows) == sorted(ENV_SAMPLES)
    base = {
        "ALB_OIDC_ALB_ARNS": EXAMPLE_ARN,
        "ALB_OIDC_CLIENT_IDS": "base-client",
        "ALB_OIDC_COGNITO_USER_POOL_ID": EXAMPLE_POOL,
    }
    for variable, field in rows:
        value, expected = ENV_SAMPLES[field]
        owner_name, _, name = field.rpartition(".")
        env = {**base}
        if owner_name in ("access_token", "bearer"):
            del env["ALB_OIDC_COGNITO_USER_POOL_ID"]  # not both cognito and access_token
            prefix = f"ALB_OIDC_{owner_name.upper()}_"
            env.update({prefix + key: sample for key, sample in OIDC_BASE.items()})
        config = ALBConfig.from_env({**env, variable: value})
        owner = getattr(config, owner_name) if owner_name else config
        assert getattr(owner, name) == expected, variable
    assert ALBConfig.from_env(base).cognito.client_ids == ("base-client",)


def test_the_configuration_examples(env_alb: FakeALB, monkeypatch: pytest.MonkeyPatch) -> None:
    namespace = run("configuration.md", 0)
    config = namespace["config"]
    assert config.logout_url == COGNITO_LOGOUT
    assert config.is_public("/static/app.css")
    assert not config.is_public("/static/../admin")
    cognito = eval(python_blocks("configuration.md")[1], namespace)  # noqa: S307
    assert cognito.jwks_url == (
        f"https://cognito-idp.eu-west-1.amazonaws.com/{EXAMPLE_POOL}/.well-known/jwks.json"
    )
    okta = run("configuration.md", 2, {})["config"]
    assert okta.access_token.subject_claim == "uid"
    assert okta.access_token.discovery_url == (
        "https://acme.okta.com/oauth2/default/.well-known/openid-configuration"
    )
    assert run("configuration.md", 3, namespace)["config"].alb_arns == (env_alb.alb_arn,)
    # The variable its comment shows, as `alb-oidc dev` and the CloudFormation outputs set it.
    monkeypatch.setenv("ALB_OIDC_PUBLIC_PATHS", "/health,/bye,/static/*")
    public = run("configuration.md", 4, namespace)["config"]
    assert public.alb_arns == (env_alb.alb_arn,)
    assert public.public_paths == ("/health", "/bye", "/static/*")
    # What the text says of an override: it replaces the variable's list.
    assert ALBConfig.from_env(public_paths=["/health"]).public_paths == ("/health",)
    namespace.update(app=FastAPI(), ALBAuthMiddleware=ALBAuthMiddleware)
    run("configuration.md", 5, namespace)
    (middleware,) = namespace["app"].user_middleware
    assert middleware.cls is ALBAuthMiddleware


def test_the_guards_example(env_alb: FakeALB) -> None:
    app = run("guards.md", 0)["app"]
    with TestClient(app) as client:
        assert client.get("/").json() == {"hello": "stranger"}
        named = env_alb.headers("erin", claims={"name": "Erin"})
        assert client.get("/", headers=named).json() == {"hello": "Erin"}
        assert client.get("/tasks").status_code == 401
        reader = env_alb.headers(scopes=["tasks/read"])
        assert client.get("/tasks", headers=reader).status_code == 200
        refused = client.post("/tasks", headers=reader)
        assert (refused.status_code, refused.json()) == (
            403,
            {"detail": "missing scope: tasks/write"},
        )
        writer = env_alb.headers("frank", scopes=["tasks/write"])
        assert client.post("/tasks", headers=writer).json() == {"added_by": "frank"}
        assert client.get("/admin", headers=env_alb.headers(groups=["ops"])).status_code == 200
        assert client.get("/admin", headers=env_alb.headers(groups=["dev"])).status_code == 403
        admin = env_alb.headers("gina", groups=["admins"])
        with client.websocket_connect("/feed", headers=admin) as socket:
            assert socket.receive_json() == {"sub": "gina"}
        with (
            pytest.raises(WebSocketDisconnect) as refused_socket,
            client.websocket_connect("/feed", headers=env_alb.headers()),
        ):
            pass  # pragma: no cover
    assert (refused_socket.value.code, refused_socket.value.reason) == (1008, "insufficient_group")
    assert "ALB" in app.openapi()["components"]["securitySchemes"]


def test_the_starlette_example(env_alb: FakeALB) -> None:
    app = run("guards.md", 1)["app"]
    with TestClient(app) as client:
        reader = env_alb.headers("hank", scopes=["tasks/read"])
        assert client.get("/tasks", headers=reader).json() == {
            "user": "hank",
            "scopes": ["tasks/read"],
        }
        assert client.get("/tasks", headers=env_alb.headers()).status_code == 403
        assert client.get("/tasks").status_code == 401


def test_the_error_page_example(env_alb: FakeALB) -> None:
    app = FastAPI()
    app.get("/")(lambda: "home")
    namespace = {"app": app, "ALBAuthMiddleware": ALBAuthMiddleware, "ALBConfig": ALBConfig}
    run("guards.md", 2, namespace)
    forged = env_alb.headers()
    forged["x-amzn-oidc-data"] = env_alb.data_token(header={"client": "another-client"})
    with TestClient(app) as client:
        missing = client.get("/")
        refused = client.get("/", headers=forged)
        assert client.get("/", headers=env_alb.headers()).json() == "home"
    assert missing.status_code == 401
    assert missing.headers["content-type"].startswith("text/html")
    assert missing.text.startswith("<h1>Sign-in problem</h1>")
    assert refused.status_code == 401
    assert refused.text.startswith("<h1>Sign-in problem</h1><p>")


def test_the_logout_examples(example_alb: FakeALB) -> None:
    namespace = run("logout.md", 0)
    run("logout.md", 1, namespace)
    cookies = {f"AWSELBAuthSessionCookie-{index}": "x" for index in (0, 1, 5)}
    with TestClient(namespace["app"], follow_redirects=False, cookies=cookies) as client:
        for method, path in [("GET", "/logout"), ("POST", "/logout"), ("POST", "/sign-out")]:
            response = client.request(method, path, headers=example_alb.headers())
            assert response.status_code == 303
            assert response.headers["location"] == COGNITO_LOGOUT
            expired = [cookie.split("=")[0] for cookie in response.headers.get_list("set-cookie")]
            assert expired == [f"AWSELBAuthSessionCookie-{index}" for index in (0, 1, 2, 3, 5)]
        # Logging out needs no identity: without the ALB's headers the cookies still expire.
        assert client.get("/logout").status_code == 303


def test_the_testing_page_examples(monkeypatch: pytest.MonkeyPatch) -> None:
    myapp = types.ModuleType("myapp")
    exec(compile(python_blocks("testing.md")[0], "myapp.py", "exec"), myapp.__dict__)  # noqa: S102
    monkeypatch.setitem(sys.modules, "myapp", myapp)
    namespace: dict[str, Any] = {}
    for index in range(1, len(python_blocks("testing.md"))):
        run("testing.md", index, namespace)
    tests = {name: value for name, value in namespace.items() if name.startswith("test_")}
    assert len(tests) == 8
    for test in tests.values():
        arguments = [FakeALB() for _ in inspect.signature(test).parameters]
        test(*arguments)


def test_the_fake_alb_fixture_is_the_documented_one(fake_alb: FakeALB) -> None:
    assert isinstance(fake_alb, FakeALB)


def test_the_api_reference_covers_every_public_name() -> None:
    reference = "\n".join(path.read_text() for path in (DOCS / "reference").glob("*.md"))
    rendered = re.findall(r"^::: ([\w.]+)|^ +- (\w+)$", reference, flags=re.MULTILINE)
    named = {target or member for target, member in rendered}
    for module in ("testing", "guards", "logout_service", "dev"):
        assert f"alb_oidc.{module}" in named
    public = {name for name in alb_oidc.__all__ if not name.startswith("__")}
    assert {name for name in public if name not in named and f"alb_oidc.{name}" not in named} == (
        set()
    )


IDP_PAGES = sorted(path.relative_to(DOCS).as_posix() for path in (DOCS / "idps").glob("*.md"))


@pytest.mark.parametrize("page", [*IDP_PAGES, "machine-clients.md"])
def test_every_configuration_on_the_idp_pages_builds(page: str) -> None:
    """The pages per IdP and for machine clients show configurations users copy: each builds."""
    built = []
    for index in range(len(python_blocks(page))):
        namespace = run(page, index)
        built += [
            value
            for value in namespace.values()
            if isinstance(value, ALBConfig | alb_oidc.OIDCAccessTokenConfig)
        ]
    assert built, f"{page} shows no configuration"


def test_the_machine_clients_example_serves_people_and_machines(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    okta = "https://acme.okta.com/oauth2/default"
    alb = FakeALB(alb_arn=EXAMPLE_ARN, client_id="0oa1b2c3d4e5f6g7h8i9", issuer=okta)
    idp = FakeIdP(
        issuer=okta,
        audiences=["api://default"],
        scopes_claim="scp",
        scopes_as_list=True,
        subject_claim="uid",
    )
    client = functools.partial(httpx2.AsyncClient, transport=alb.transport(idp))
    monkeypatch.setattr("alb_oidc.keys.httpx2.AsyncClient", client)
    blocks = python_blocks("machine-clients.md")
    index = next(i for i, block in enumerate(blocks) if "def reports" in block)
    app = run("machine-clients.md", index)["app"]
    with TestClient(app) as test:
        person = alb.headers(
            "alice", access_token=idp.access_token("alice", scopes=["reports:read"])
        )
        assert test.get("/reports", headers=person).json() == {
            "caller": "person",
            "email": "alice@example.com",
        }
        nightly = "0oa9nightlyreports1x7"
        machine = {"authorization": f"Bearer {idp.bearer_token(nightly, scopes=['reports:read'])}"}
        assert test.get("/reports", headers=machine).json() == {
            "caller": "service",
            "client": nightly,
        }
        denied = {"authorization": f"Bearer {idp.bearer_token(nightly)}"}
        assert test.get("/reports", headers=denied).status_code == 403
        # Another client of the same IdP, with the scope, is not one of `client_ids`.
        other = idp.bearer_token("0oaSomeOtherApp", scopes=["reports:read"])
        refused = test.get("/reports", headers={"authorization": f"Bearer {other}"})
        assert refused.status_code == 401
        assert refused.json()["error"] == "invalid_token"
        # A person's own access token sent as a bearer token names no allowed client either.
        script = {"authorization": f"Bearer {idp.access_token('alice', scopes=['reports:read'])}"}
        assert test.get("/reports", headers=script).status_code == 401


#: AWS, "Action types for listener rules": each rule must include exactly one of the routing
#: actions forward, redirect or fixed-response, and it must be the last action performed.
ROUTING_ACTIONS = {"forward", "redirect", "fixed-response"}


def test_every_json_block_parses_and_every_rules_actions_end_in_one_routing_action() -> None:
    rules = 0
    for page in sorted(DOCS.rglob("*.md")):
        name = page.relative_to(DOCS).as_posix()
        for block in re.findall(r"```json\n(.*?)```", page.read_text(), flags=re.DOTALL):
            value = json.loads(block)
            if isinstance(value, dict) and "Type" in value:
                pytest.fail(f"{name}: a lone action is not a rule's actions (a list): {block}")
            if isinstance(value, list) and value and all("Type" in item for item in value):
                rules += 1
                types = [item["Type"] for item in sorted(value, key=lambda item: item["Order"])]
                assert types[-1] in ROUTING_ACTIONS, name
                assert len(ROUTING_ACTIONS.intersection(types)) == 1, name
    assert rules >= 6  # Cognito and the five other IdPs
