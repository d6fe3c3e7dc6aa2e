"""The README's example must run as written, and its links must lead somewhere."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from alb_oidc.testing import FakeALB

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)


def test_the_example_runs_as_written() -> None:
    (block,) = python_blocks()
    namespace: dict[str, Any] = {}
    exec(compile(block, "README.md", "exec"), namespace)  # noqa: S102
    app, config = namespace["app"], namespace["config"]
    alb = FakeALB(
        alb_arn=config.alb_arns[0],
        client_id=config.cognito.client_ids[0],
        user_pool_id=config.cognito.user_pool_id,
    )
    # The example builds its middleware for real AWS; route its key fetches to the fake ALB.
    (middleware,) = app.user_middleware
    middleware.kwargs["http_client"] = alb.http_client()
    with TestClient(app) as client:
        assert client.get("/me").status_code == 401
        me = client.get("/me", headers=alb.headers("alice", groups=["admins"]))
        assert me.json() == {"sub": "alice", "email": "alice@example.com", "groups": ["admins"]}
        assert client.get("/tasks", headers=alb.headers(scopes=["tasks/read"])).status_code == 200
        assert client.get("/tasks", headers=alb.headers(scopes=["openid"])).status_code == 403
    assert alb.requests == [alb.key_url(), alb.jwks_url]


def test_the_two_commands_are_the_demo_and_the_tests() -> None:
    text = README.read_text()
    assert "uv run alb-oidc demo" in text
    assert "uv run pytest" in text
    assert "pip install uv" in text


def test_every_relative_link_leads_to_a_file() -> None:
    links = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", README.read_text())
    relative = [link for link in links if "://" not in link]
    assert relative, "the README links to the documentation pages"
    missing = [link for link in relative if not (ROOT / link).is_file()]
    assert missing == []


def test_the_readme_links_to_every_page_of_the_site() -> None:
    text = README.read_text()
    pages = sorted(
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "docs").glob("*.md")
        if path.name != "index.md"
    )
    assert [page for page in pages if f"]({page})" not in text] == []
