from __future__ import annotations

import inspect
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import anyio.to_thread
import pytest
from fastapi import Depends, FastAPI, Security, WebSocket
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from alb_oidc import ALBAuthMiddleware, ALBUser, guards
from alb_oidc.guards import current_user, optional_user, require_groups, require_scopes
from alb_oidc.testing import FakeALB

from .conftest import Clock


def make_app(alb: FakeALB, clock: Clock, **config: object) -> FastAPI:
    app = FastAPI()
    app.add_middleware(
        ALBAuthMiddleware, config=alb.config(**config), http_client=alb.http_client(), clock=clock
    )

    @app.get("/me")
    def me(user: ALBUser = Security(current_user)) -> dict[str, object]:
        return {"sub": user.sub, "scopes": sorted(user.scopes)}

    @app.get("/maybe")
    def maybe(user: ALBUser | None = Depends(optional_user)) -> dict[str, object]:
        return {"sub": user.sub if user else None}

    @app.get("/tasks", dependencies=[Security(require_scopes("tasks/read"))])
    def tasks() -> str:
        return "tasks"

    @app.get("/write")
    def write(user: ALBUser = Security(require_scopes("tasks/read", "tasks/write"))) -> str:
        return f"written by {user.sub}"

    @app.get("/either", dependencies=[Security(require_scopes("a", "b", any_of=True))])
    def either() -> str:
        return "either"

    @app.get("/admin", dependencies=[Depends(require_groups("admins"))])
    def admin() -> str:
        return "admin"

    @app.get("/staff", dependencies=[Depends(require_groups("ops", "admins", any_of=True))])
    def staff() -> str:
        return "staff"

    @app.get("/scoped-user")
    def scoped_user(user: ALBUser = Security(current_user, scopes=["tasks/read"])) -> str:
        return user.sub

    @app.websocket("/ws")
    async def ws(websocket: WebSocket, user: ALBUser = Depends(require_groups("admins"))) -> None:
        await websocket.accept()
        await websocket.send_text(user.sub)
        await websocket.close()

    return app


@pytest.fixture
def app(alb: FakeALB, clock: Clock) -> FastAPI:
    return make_app(alb, clock, optional=True)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


def test_current_user(alb: FakeALB, client: TestClient) -> None:
    response = client.get("/me", headers=alb.headers("alice", scopes=["openid"]))
    assert response.json() == {"sub": "alice", "scopes": ["openid"]}


def test_current_user_is_401_for_anonymous(client: TestClient) -> None:
    response = client.get("/me")
    assert response.status_code == 401
    assert response.json() == {"detail": "not authenticated"}


def test_optional_user(alb: FakeALB, client: TestClient) -> None:
    assert client.get("/maybe").json() == {"sub": None}
    assert client.get("/maybe", headers=alb.headers("bob")).json() == {"sub": "bob"}


@pytest.mark.parametrize(
    ("path", "scopes", "groups", "status", "detail"),
    [
        ("/tasks", ["tasks/read"], [], 200, None),
        ("/tasks", ["openid"], [], 403, "missing scope: tasks/read"),
        ("/write", ["tasks/read", "tasks/write"], [], 200, None),
        ("/write", ["tasks/read"], [], 403, "missing scope: tasks/write"),
        ("/write", [], [], 403, "missing scopes: tasks/read tasks/write"),
        ("/either", ["b"], [], 200, None),
        ("/either", ["c"], [], 403, "requires one of scopes: a b"),
        ("/admin", [], ["admins"], 200, None),
        ("/admin", [], ["ops"], 403, "missing group: admins"),
        ("/staff", [], ["ops"], 200, None),
        ("/staff", [], [], 403, "requires one of groups: admins ops"),
        ("/scoped-user", ["tasks/read"], [], 200, None),
        ("/scoped-user", [], [], 403, "missing scope: tasks/read"),
    ],
)
def test_scope_and_group_guards(
    alb: FakeALB,
    client: TestClient,
    path: str,
    scopes: list[str],
    groups: list[str],
    status: int,
    detail: str | None,
) -> None:
    response = client.get(path, headers=alb.headers(scopes=scopes, groups=groups))
    assert response.status_code == status
    if detail is not None:
        assert response.json() == {"detail": detail}


@pytest.mark.parametrize(
    "path", ["/tasks", "/write", "/either", "/admin", "/staff", "/scoped-user"]
)
def test_guards_are_401_not_403_without_a_user(client: TestClient, path: str) -> None:
    assert client.get(path).status_code == 401


def test_scopes_appear_in_openapi(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    scheme = schema["components"]["securitySchemes"]["ALB"]
    assert scheme["type"] == "apiKey"
    assert scheme["in"] == "header"
    assert scheme["name"] == "x-amzn-oidc-data"
    assert "Application Load Balancer" in scheme["description"]
    bearer = schema["components"]["securitySchemes"]["Bearer"]
    assert bearer["type"] == "http"
    assert bearer["scheme"] == "bearer"
    assert bearer["bearerFormat"] == "JWT"
    paths = schema["paths"]
    # Two alternatives (OpenAPI ORs the entries of `security`): the ALB's header or a bearer JWT.
    assert paths["/tasks"]["get"]["security"] == [
        {"ALB": ["tasks/read"]},
        {"Bearer": ["tasks/read"]},
    ]
    assert paths["/write"]["get"]["security"] == [
        {"ALB": ["tasks/read", "tasks/write"]},
        {"Bearer": ["tasks/read", "tasks/write"]},
    ]
    assert paths["/scoped-user"]["get"]["security"] == [
        {"ALB": ["tasks/read"]},
        {"Bearer": ["tasks/read"]},
    ]
    assert paths["/me"]["get"]["security"] == [{"ALB": []}, {"Bearer": []}]


def test_same_arguments_give_the_same_dependency() -> None:
    assert require_scopes("a", "b") is require_scopes("a", "b")
    assert require_scopes("a", "b") is not require_scopes("a", "b", any_of=True)
    assert require_groups("g") is require_groups("g")


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ((("x",), {}), (("x",), {"any_of": False})),
        ((("a", "b"), {}), (("b", "a"), {})),
        ((("a", "b"), {}), (("a", "b", "a"), {"any_of": False})),
        ((("a", "b"), {"any_of": True}), (("b", "a"), {"any_of": 1})),
        ((("x",), {}), (("x",), {"any_of": True})),  # one of one is all of one
    ],
)
def test_the_same_requirement_however_spelled_gives_the_same_dependency(
    first: tuple[tuple[str, ...], dict[str, object]],
    second: tuple[tuple[str, ...], dict[str, object]],
) -> None:
    assert require_scopes(*first[0], **first[1]) is require_scopes(*second[0], **second[1])  # type: ignore[arg-type]
    assert require_groups(*first[0], **first[1]) is require_groups(*second[0], **second[1])  # type: ignore[arg-type]


def test_an_override_applies_to_a_route_declared_with_another_spelling() -> None:
    app = FastAPI()

    @app.get("/both", dependencies=[Security(require_scopes("b", "a", any_of=False))])
    def both() -> str:
        return "both"

    fake = ALBUser({"sub": "tester"}, scopes=["a", "b"])
    app.dependency_overrides[require_scopes("a", "b")] = lambda: fake
    with TestClient(app) as client:  # no middleware: only the override can let this through
        assert client.get("/both").json() == "both"


def test_dependencies_can_be_overridden_in_app_tests(app: FastAPI, client: TestClient) -> None:
    fake = ALBUser({"sub": "tester"}, scopes=["tasks/read", "tasks/write"])
    app.dependency_overrides[current_user] = lambda: fake
    app.dependency_overrides[require_scopes("tasks/read")] = lambda: fake
    assert client.get("/me").json() == {"sub": "tester", "scopes": ["tasks/read", "tasks/write"]}
    assert client.get("/tasks").json() == "tasks"


@pytest.mark.parametrize("bad", [(), ("",), ("two words",), (5,)])
def test_bad_guard_arguments_fail_at_definition(bad: tuple[object, ...]) -> None:
    with pytest.raises(ValueError, match="require_scopes"):
        require_scopes(*bad)  # type: ignore[arg-type]


def test_websocket_guard(alb: FakeALB, client: TestClient) -> None:
    with client.websocket_connect("/ws", headers=alb.headers("alice", groups=["admins"])) as socket:
        assert socket.receive_text() == "alice"
    with (
        pytest.raises(WebSocketDisconnect) as caught,
        client.websocket_connect("/ws", headers=alb.headers("bob")),
    ):
        pass  # pragma: no cover
    assert caught.value.code == 1008
    assert caught.value.reason == "insufficient_group"


@pytest.fixture
def no_scope_warning_yet(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(guards, "_WARNED", {})


@pytest.mark.usefixtures("no_scope_warning_yet")
def test_without_cognito_a_scope_guard_says_why_and_warns_once(
    alb: FakeALB, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app(alb, clock, cognito=None)
    headers = alb.headers("alice", scopes=["tasks/read"])
    with TestClient(app) as client:
        first = client.get("/tasks", headers=headers)
        second = client.get("/scoped-user", headers=headers)
    assert first.status_code == second.status_code == 403
    assert first.json()["detail"] == (
        "missing scope: tasks/read (scopes come only from a verified access token, and this app "
        "verifies none: configure ALBConfig.cognito or ALBConfig.access_token)"
    )
    assert second.json()["detail"].endswith(
        "configure ALBConfig.cognito or ALBConfig.access_token)"
    )
    warnings = [r for r in caplog.records if r.name == "alb_oidc" and r.levelname == "WARNING"]
    assert [r.getMessage() for r in warnings] == [
        "require_scopes(tasks/read) can never pass for ALB logins (scopes come only from a "
        "verified access token, and this app verifies none: configure ALBConfig.cognito or "
        "ALBConfig.access_token), so every user is refused with 403"
    ]


def test_each_configuration_warns_once_so_tests_do_not_depend_on_their_order(
    alb: FakeALB, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    # Two apps (as two tests build them), each with its own configuration: each warns once.
    for _ in range(2):
        app = make_app(alb, clock, cognito=None)
        with TestClient(app) as client:
            for _ in range(2):
                assert client.get("/tasks", headers=alb.headers("alice")).status_code == 403
    warnings = [r for r in caplog.records if "can never pass" in r.getMessage()]
    assert len(warnings) == 2


@pytest.mark.usefixtures("no_scope_warning_yet")
def test_with_cognito_a_missing_scope_is_a_plain_403_without_a_warning(
    alb: FakeALB, client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    response = client.get("/tasks", headers=alb.headers("bob", scopes=["openid"]))
    assert response.json()["detail"] == "missing scope: tasks/read"
    assert not [r for r in caplog.records if r.levelname == "WARNING"]


@pytest.mark.usefixtures("no_scope_warning_yet")
def test_without_any_group_source_a_group_guard_says_why_and_warns_once(
    alb: FakeALB, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    # The user is in `admins` at the IdP, but nothing verified can say so: a bare 403 hid why.
    with TestClient(make_app(alb, clock, cognito=None)) as client:
        headers = alb.headers("alice", groups=["admins"])
        first = client.get("/admin", headers=headers)
        second = client.get("/admin", headers=headers)
    assert (
        first.json()["detail"]
        == second.json()["detail"]
        == (
            "missing group: admins (groups come only from a verified token, and this app verifies "
            "none that has them: configure ALBConfig.cognito, ALBConfig.access_token or "
            "ALBConfig.groups_claim)"
        )
    )
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1
    assert warnings[0].startswith("require_groups(admins) can never pass for ALB logins")
    assert "scopes" not in warnings[0]


@pytest.mark.usefixtures("no_scope_warning_yet")
def test_with_a_userinfo_groups_claim_a_missing_group_is_a_plain_403(
    alb: FakeALB, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    with TestClient(make_app(alb, clock, cognito=None, groups_claim="groups")) as client:
        response = client.get("/admin", headers=alb.headers("bob"))
    assert response.json()["detail"] == "missing group: admins"
    assert not [r for r in caplog.records if r.levelname == "WARNING"]


@pytest.mark.parametrize("path", ["/me", "/tasks", "/maybe"])
def test_guards_on_an_app_without_the_middleware_answer_503_and_log_why(
    alb: FakeALB, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Valid ALB headers, but nothing verified them: the guards used to answer a silent 401.
    app = FastAPI()

    @app.get("/me")
    def me(user: ALBUser = Security(current_user)) -> str:
        return user.sub  # pragma: no cover - never reached

    @app.get("/tasks", dependencies=[Security(require_scopes("tasks/read"))])
    def tasks() -> list[str]:
        return []  # pragma: no cover - never reached

    @app.get("/maybe")
    def maybe(user: ALBUser | None = Security(optional_user)) -> str | None:
        return None if user is None else user.sub  # pragma: no cover - never reached

    response = TestClient(app).get(path, headers=alb.headers("alice", scopes=["tasks/read"]))
    assert (response.status_code, response.json()) == (
        503,
        {"detail": "authentication is not configured"},
    )
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert errors == [f"{guards.NOT_INSTALLED} ({path})"]


def test_guards_without_fastapi_say_which_extra_to_install() -> None:
    code = (
        "import sys; sys.modules['fastapi'] = None\n"
        "try:\n"
        "    import alb_oidc.guards\n"
        "except ImportError as exc:\n"
        "    print(type(exc).__name__, exc.name, exc, sep='|')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == (
        'ModuleNotFoundError|fastapi|alb_oidc.guards needs FastAPI: pip install "alb-oidc[fastapi]"'
    )


def test_a_websocket_guard_without_the_middleware_closes_with_1011(
    alb: FakeALB, caplog: pytest.LogCaptureFixture
) -> None:
    app = FastAPI()

    @app.websocket("/ws")
    async def ws(websocket: WebSocket, user: ALBUser = Depends(current_user)) -> None:
        await websocket.accept()  # pragma: no cover - never reached

    with (
        pytest.raises(WebSocketDisconnect) as caught,
        TestClient(app).websocket_connect("/ws", headers=alb.headers("alice")),
    ):
        pass  # pragma: no cover
    assert (caught.value.code, caught.value.reason) == (1011, "authentication_not_configured")
    assert [r.getMessage() for r in caplog.records if r.levelname == "ERROR"] == [
        f"{guards.NOT_INSTALLED} (/ws)"
    ]


def test_the_guards_refusals_are_logged_like_the_middlewares(
    alb: FakeALB, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    """A guard's 403 (and its 401 on an optional app) is a refused request too: one INFO line
    on the `alb_oidc` logger with the same fields as the middleware's, and no token in it."""
    app = make_app(alb, clock, optional=True)
    headers = alb.headers("bob", scopes=["openid"])
    with TestClient(app) as client, caplog.at_level("INFO", logger="alb_oidc"):
        assert client.get("/tasks", headers=headers).status_code == 403
        assert client.get("/admin", headers=headers).status_code == 403
        assert client.get("/me").status_code == 401
    refused = [r for r in caplog.records if r.getMessage().startswith("refused ")]
    assert [r.getMessage() for r in refused] == [
        "refused GET /tasks (insufficient_scope): missing scope: tasks/read",
        "refused GET /admin (insufficient_group): missing group: admins",
        "refused GET /me (missing_token): not authenticated",
    ]
    assert [(r.levelname, r.alb_oidc_status, r.alb_oidc_path) for r in refused] == [  # type: ignore[attr-defined]
        ("INFO", 403, "/tasks"),
        ("INFO", 403, "/admin"),
        ("INFO", 401, "/me"),
    ]
    assert not any(headers["x-amzn-oidc-data"][:40] in r.getMessage() for r in caplog.records)


def test_scopes_given_around_a_guard_are_required_as_openapi_says(
    alb: FakeALB, clock: Clock
) -> None:
    # FastAPI lists the scopes of `Security(guard, scopes=[...])` as the route's requirement:
    # a guard that ignored them would let in a user the schema says is refused.
    app = make_app(alb, clock, optional=True)

    @app.delete(
        "/tasks", dependencies=[Security(require_groups("admins"), scopes=["tasks/delete"])]
    )
    def delete() -> str:
        return "deleted"

    @app.post("/tasks")
    def post(
        user: ALBUser = Security(require_scopes("tasks/read"), scopes=["tasks/write"]),
    ) -> str:
        return user.sub

    @app.get("/either-and")
    def either_and(
        user: ALBUser = Security(require_scopes("a", "b", any_of=True), scopes=["c"]),
    ) -> str:
        return user.sub

    @app.get("/maybe-scoped")
    def maybe_scoped(user: ALBUser | None = Security(optional_user, scopes=["tasks/read"])) -> str:
        return user.sub if user else "anonymous"

    with TestClient(app) as client:
        reader = alb.headers("alice", scopes=["tasks/read"], groups=["admins"])
        deleter = alb.headers("alice", scopes=["tasks/delete"], groups=["admins"])
        writer = alb.headers("alice", scopes=["tasks/read", "tasks/write"])
        refused = client.delete("/tasks", headers=reader)
        assert refused.status_code == 403
        assert refused.json()["detail"] == "missing scope: tasks/delete"
        assert client.delete("/tasks", headers=deleter).status_code == 200
        assert client.post("/tasks", headers=reader).status_code == 403
        assert client.post("/tasks", headers=writer).status_code == 200
        # `any_of` is about the guard's own names; the scopes around it are all required.
        assert client.get("/either-and", headers=alb.headers(scopes=["a"])).status_code == 403
        assert client.get("/either-and", headers=alb.headers(scopes=["a", "c"])).status_code == 200
        # An anonymous request still gets None; a signed-in one needs the scopes.
        assert client.get("/maybe-scoped").text == '"anonymous"'
        assert client.get("/maybe-scoped", headers=alb.headers(scopes=["x"])).status_code == 403
        assert client.get("/maybe-scoped", headers=reader).text == '"alice"'
        schema = client.get("/openapi.json").json()["paths"]
    assert {"ALB": ["tasks/delete"]} in schema["/tasks"]["delete"]["security"]


def test_the_guards_are_coroutines_so_fastapi_runs_them_on_the_event_loop() -> None:
    # A plain function would be run in FastAPI's thread pool: a thread hop per guarded request,
    # and a guarded async route stalled while sync endpoints hold every thread of the pool.
    for guard in (current_user, optional_user, require_scopes("a"), require_groups("a")):
        assert inspect.iscoroutinefunction(guard), guard


def test_a_guarded_async_route_answers_while_sync_routes_hold_the_whole_thread_pool(
    alb: FakeALB, clock: Clock
) -> None:
    app = make_app(alb, clock)
    entered, release = threading.Event(), threading.Event()

    @app.get("/slow")
    def slow() -> str:  # a sync endpoint: it runs in the thread pool and holds a thread
        entered.set()
        release.wait(timeout=10)
        return "slow"

    @app.get("/quick", dependencies=[Security(require_scopes("tasks/read"))])
    async def quick(user: ALBUser = Security(current_user)) -> str:
        return user.sub

    async def one_thread() -> None:
        anyio.to_thread.current_default_thread_limiter().total_tokens = 1

    headers = alb.headers("alice", scopes=["tasks/read"])
    with TestClient(app) as client:
        client.portal.call(one_thread)
        with ThreadPoolExecutor(2) as pool:
            held = pool.submit(client.get, "/slow", headers=headers)
            assert entered.wait(timeout=10)
            try:
                # Bounded: with the guards in the pool, this would wait for `release`.
                answer = pool.submit(client.get, "/quick", headers=headers).result(timeout=5)
            finally:
                release.set()
            assert held.result(timeout=10).text == '"slow"'
    assert answer.text == '"alice"'
