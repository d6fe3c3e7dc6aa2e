"""`alb-oidc demo`, `alb-oidc dev` and `alb-oidc hash-password`, run as real processes."""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import httpx2
import pytest

from alb_oidc.cli import main
from alb_oidc.dev.serving import bind
from alb_oidc.dev.users import verify_password

from .servers import echo_app, login, serve

pytestmark = pytest.mark.integration


def free_port() -> int:
    sock = bind()
    port: int = sock.getsockname()[1]
    sock.close()
    return port


@contextmanager
def command(*args: str) -> Iterator[tuple[subprocess.Popen[str], list[str]]]:
    """Run `alb-oidc ARGS` until it prints 'Press Ctrl-C'; yields the process and its lines."""
    process = subprocess.Popen(
        [sys.executable, "-m", "alb_oidc.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    lines: list[str] = []
    try:
        assert process.stdout is not None
        for line in process.stdout:  # bounded: the command prints a short banner, then waits
            lines.append(line.rstrip("\n"))
            if line.startswith("Press Ctrl-C") or len(lines) > 50:
                break
        assert lines, "the command printed nothing"
        assert lines[-1].startswith("Press Ctrl-C"), "\n".join(lines)
        yield process, lines
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=10)


def test_demo_serves_the_contract_and_stops_cleanly_on_sigterm() -> None:
    port = free_port()
    with command("demo", "--port", str(port)) as (process, banner):
        url = f"http://127.0.0.1:{port}"
        assert f"  Open        {url}/" in banner
        assert any(
            re.match(
                r"  User +alice / alice +groups: admins; scopes: openid tasks/read tasks/write",
                line,
            )
            for line in banner
        )
        assert any(
            re.match(r"  User +bob / bob +groups: -; scopes: openid tasks/read", line)
            for line in banner
        )
        assert "not an AWS load balancer" in banner[0]
        with httpx2.Client(follow_redirects=True, timeout=10) as http:
            login(http, f"{url}/", "alice", "alice")
            me = http.get(f"{url}/me").json()
            assert (me["username"], me["groups"]) == ("alice", ["admins"])
            assert http.get(f"{url}/write").status_code == 200
            assert http.get(f"{url}/admin").status_code == 200
        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=15)
        assert process.returncode == 0
        assert "Stopped." in out
    with pytest.raises(httpx2.ConnectError):
        httpx2.get(url)


def test_demo_stops_on_ctrl_c() -> None:
    with command("demo", "--port", str(free_port())) as (process, _):
        process.send_signal(signal.SIGINT)
        out, _ = process.communicate(timeout=15)
    assert process.returncode == 0
    assert "Stopped." in out


def test_dev_fronts_an_upstream_and_prints_the_app_settings() -> None:
    port = free_port()
    with (
        serve(echo_app) as upstream,
        command("dev", "--upstream", upstream, "--port", str(port), "--public", "/open/*") as (
            process,
            banner,
        ),
    ):
        text = "\n".join(banner)
        assert (
            f"export ALB_OIDC_KEY_URL='http://127.0.0.1:{port}/.alb-oidc-dev/keys/{{kid}}'" in text
        )
        assert (
            "export ALB_OIDC_ALB_ARNS='arn:aws:elasticloadbalancing:dev-local-1:000000000000:"
            in text
        )
        assert "export ALB_OIDC_COGNITO_JWKS_URL=" in text
        assert httpx2.get(f"http://127.0.0.1:{port}/open/x").json()["path"] == "/open/x"
        assert httpx2.get(f"http://127.0.0.1:{port}/closed").status_code == 302
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=15)
        assert process.returncode == 0


def test_a_taken_port_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    taken = bind()
    try:
        assert main(["demo", "--port", str(taken.getsockname()[1])]) == 2
    finally:
        taken.close()
    assert "cannot listen on 127.0.0.1" in capsys.readouterr().err


def test_dev_with_an_issuer_needs_a_client(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dev", "--upstream", "http://127.0.0.1:9", "--issuer", "http://127.0.0.1:8"]) == 2
    assert "--client-id" in capsys.readouterr().err


def test_hash_password_from_stdin(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("correct horse\n"))
    assert main(["hash-password", "--stdin"]) == 0
    assert verify_password("correct horse", capsys.readouterr().out.strip())
    monkeypatch.setattr("sys.stdin", io.StringIO("\n"))
    assert main(["hash-password", "--stdin"]) == 2
