"""`alb-oidc demo`, `alb-oidc dev` and `alb-oidc hash-password`, run as real processes."""

from __future__ import annotations

import dataclasses
import errno
import io
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2
import pytest

from alb_oidc import ALBConfig, ConfigurationError
from alb_oidc.cli import _demo_lines, _dev_lines, _idp_port, build_parser, main
from alb_oidc.dev.demo_app import create_app
from alb_oidc.dev.serving import bind, is_loopback
from alb_oidc.dev.stack import DevStack
from alb_oidc.dev.users import verify_password

from .servers import dev_stack, echo_app, free_port, login, require, serve

pytestmark = pytest.mark.integration


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


def test_dev_keeps_the_idp_port_and_makes_the_logout_return_public() -> None:
    port, idp_port = free_port(), free_port()
    args = ("dev", "--upstream", "", "--port", str(port), "--idp-port", str(idp_port))
    with serve(echo_app) as upstream:
        for _ in range(2):  # a restart prints the same settings, so the app's stay valid
            with command(*args[:2], upstream, *args[3:]) as (process, banner):
                text = "\n".join(banner)
                assert f"export ALB_OIDC_ISSUERS='http://127.0.0.1:{idp_port}'" in text
                assert "export ALB_OIDC_PUBLIC_PATHS='/bye'" in text
                assert f"the IdP returns to http://127.0.0.1:{port}/bye" in text
                # The printed logout URL ends on /bye, which must not ask for a login.
                (logout,) = re.findall(r"export ALB_OIDC_LOGOUT_URL='([^']+)'", text)
                returned = httpx2.get(logout, follow_redirects=False).headers["location"]
                assert returned == f"http://127.0.0.1:{port}/bye"
                assert httpx2.get(returned).json()["path"] == "/bye"
                process.send_signal(signal.SIGTERM)
                process.communicate(timeout=15)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--port", "8100"], 8101),
        (["--port", "0"], 0),
        (["--idp-port", "9000"], 9000),
        (["--port", "65535"], 65534),  # the last port: the one before it
    ],
)
def test_the_idp_port_defaults_to_the_next_port(args: list[str], expected: int) -> None:
    parsed = build_parser().parse_args(["dev", "--upstream", "http://127.0.0.1:9", *args])
    assert _idp_port(parsed) == expected


def test_a_taken_port_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    taken = bind()
    try:
        assert main(["demo", "--port", str(taken.getsockname()[1])]) == 2
    finally:
        taken.close()
    err = capsys.readouterr().err
    assert "cannot listen on 127.0.0.1" in err
    assert "choose another with --port" in err
    assert "WARNING" not in err


@contextmanager
def port_held_on(host: str) -> Iterator[int]:
    """A port bound (never listening) on `host`: the command's bind fails before it serves."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind((host, 0))
        yield sock.getsockname()[1]
    finally:
        sock.close()


ALL_INTERFACES = "0.0.0.0"  # noqa: S104 - never listened on: see port_held_on
DEV = ["dev", "--upstream", "http://127.0.0.1:9"]
OWN_IDP = ["--issuer", "http://127.0.0.1:8", "--client-id", "c", "--client-secret", "s"]


@pytest.mark.parametrize(
    ("args", "passwords"), [(["demo"], True), (DEV, True), ([*DEV, *OWN_IDP], False)]
)
def test_a_non_loopback_host_gets_a_loud_warning(
    capsys: pytest.CaptureFixture[str], args: list[str], passwords: bool
) -> None:
    # The port is held, so nothing ever listens on every interface during the test.
    with port_held_on(ALL_INTERFACES) as port:
        assert main([*args, "--host", ALL_INTERFACES, "--port", str(port)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "WARNING: --host 0.0.0.0 is not a loopback address" in captured.err
    assert ("alice/alice" in captured.err) is passwords


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("localhost", True),
        ("LOCALHOST", True),
        ("::1", True),
        ("[::1]", True),
        (ALL_INTERFACES, False),
        ("::", False),
        ("192.0.2.1", False),
        ("dev.example", False),
        ("", False),
    ],
)
def test_only_loopback_hosts_count_as_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


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


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["demo", "--port", "70000"],
            "argument --port: a port is 0 (any free one) to 65535: 70000",
        ),
        ([*DEV, "--port", "-1"], "argument --port: a port is 0 (any free one) to 65535: -1"),
        ([*DEV, "--idp-port", "65536"], "argument --idp-port: a port is 0 (any free one) to 65535"),
        ([*DEV, "--port", "http"], "argument --port: not a port number: 'http'"),
        ([*DEV, "--timeout", "0"], "argument --timeout: must be a positive number of seconds: 0"),
        ([*DEV, "--timeout", "-5"], "argument --timeout: must be a positive number of seconds"),
        ([*DEV, "--timeout", "inf"], "argument --timeout: must be a positive number of seconds"),
        ([*DEV, "--timeout", "nan"], "argument --timeout: must be a positive number of seconds"),
        ([*DEV, "--timeout", "soon"], "argument --timeout: not a number of seconds: 'soon'"),
    ],
)
def test_ports_out_of_range_are_usage_errors(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as caught:
        main(args)
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.startswith("usage: alb-oidc")


def test_a_bad_public_pattern_names_the_option_before_any_port_is_bound(
    capsys: pytest.CaptureFixture[str],
) -> None:
    taken = bind()  # were the port bound first, the error would be about the port
    try:
        status = main([*DEV, "--port", str(taken.getsockname()[1]), "--public", "/static/*/x"])
    finally:
        taken.close()
    assert status == 2
    err = capsys.readouterr().err
    assert "--public may use '*' only as its last character" in err
    assert "cannot listen" not in err


def exports(lines: list[str]) -> dict[str, str]:
    return dict(re.findall(r"^  export (ALB_OIDC_\w+)='([^']*)'$", "\n".join(lines), re.M))


def run_machine_lines(lines: list[str]) -> httpx2.Response:
    """Run the banner's two machine-client lines in a shell; what the second one printed."""
    require(shutil.which("curl") is not None, "curl")
    bash = shutil.which("bash")
    require(bash is not None, "bash")
    start = next(i for i, line in enumerate(lines) if line.startswith("  Machine "))
    script = "\n".join(
        line.strip() for line in (lines[start][len("  Machine ") :], lines[start + 1])
    )
    # The shell's python3 is this interpreter (the banner parses the token's JSON with it).
    path = f"{os.path.dirname(sys.executable)}{os.pathsep}{os.environ['PATH']}"
    result = subprocess.run(
        [str(bash), "-c", f"set -eo pipefail\n{script} -s -w '\\n%{{http_code}}'"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "PATH": path},
    )
    assert result.returncode == 0, result.stderr
    body, _, status = result.stdout.rpartition("\n")
    return httpx2.Response(int(status), content=body.encode())


def test_the_demo_banner_shows_a_machine_client_call_that_works() -> None:
    with dev_stack(app_factory=create_app) as stack:
        lines = _demo_lines(stack)
        assert any(
            f'curl -H "Authorization: Bearer $TOKEN" {stack.upstream}/me' in line for line in lines
        )
        me = run_machine_lines(lines)
    assert me.status_code == 200, me.text
    assert me.json()["is_bearer"] is True
    assert me.json()["scopes"] == ["tasks/read"]


@pytest.mark.parametrize("provider", ["cognito", "okta"])
def test_dev_prints_what_the_app_needs_to_verify_as_the_demo_app_does(provider: str) -> None:
    """An app started from the printed settings sees the user (and machine) the demo app sees."""
    target = bind()
    upstream = f"http://127.0.0.1:{target.getsockname()[1]}"
    try:
        stack = DevStack(port=0, upstream=upstream, provider=provider)
    except BaseException:
        target.close()
        raise
    lines = _dev_lines(stack)
    printed = ALBConfig.from_env(exports(lines))
    expected = stack.app_config()
    assert printed.access_token == expected.access_token
    assert printed.cognito == expected.cognito
    if provider == "okta":
        assert printed.access_token is not None
        assert printed.bearer is not None
        # A bearer token's user is its own `sub`: the only field with no bearer variable.
        assert dataclasses.replace(printed.bearer, subject_claim="uid") == expected.bearer
    else:
        # A Cognito pool as bearer has no ALB_OIDC_ variables: then no machine token is shown.
        assert printed.bearer is None
        assert not any("Machine" in line for line in lines)
    with serve(create_app(printed), target):
        stack.start()
        try:
            with httpx2.Client(follow_redirects=True, timeout=10) as http:
                me = login(http, f"{stack.url}/me", "alice", "alice").json()
            assert (me["scopes"], me["groups"]) == (
                ["openid", "tasks/read", "tasks/write"],
                ["admins"],
            )
            if provider == "okta":
                machine = run_machine_lines(lines)  # the app's home page, as the client
                assert machine.status_code == 200, machine.text
                assert "<span id='scopes'>tasks/read</span>" in machine.text
        finally:
            stack.stop()


def test_the_documented_options_and_settings_are_the_real_ones() -> None:
    page = (Path(__file__).resolve().parent.parent / "docs" / "dev.md").read_text()
    dev = build_parser()._subparsers._group_actions[0].choices["dev"]  # type: ignore[union-attr]
    options = {
        option
        for action in dev._actions
        for option in action.option_strings
        if option.startswith("--") and option != "--help"
    }
    table = page.split("Options, mirroring", 1)[1].split("\n\n", 2)[1]
    assert sorted(option for option in options if f"`{option}" not in table) == []
    stack = DevStack(port=0, upstream="http://127.0.0.1:8080")
    try:
        printed = list(exports(_dev_lines(stack)))
    finally:
        stack.stop()
    sample = page.split("The printed\nvariables look like this:", 1)[1].split("```", 2)[1]
    assert re.findall(r"export (ALB_OIDC_\w+)=", sample) == printed


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--upstream", "http://[::1"], "--upstream is not a URL"),
        (["--upstream", "http://127.0.0.1:99999"], "--upstream is not a URL"),
        (["--upstream", "http://"], "--upstream must be an http(s) URL with a host"),
        ([*OWN_IDP[:2], "--client-id", "c", "--client-secret", "s"], None),  # --issuer alone
        (["--issuer", "http://[::1", "--client-id", "c", "--client-secret", "s"], "not a URL"),
        (["--client-id", "mine"], "--client-id applies to an IdP of your own: give its --issuer"),
        (["--scope", "openid email", "--token-endpoint", "http://127.0.0.1:1/t"], "apply to"),
    ],
)
def test_dev_options_that_cannot_work_are_usage_errors(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str | None
) -> None:
    if message is None:  # a valid own IdP: the control case, refused only for the held port
        with port_held_on("127.0.0.1") as port:
            arguments = ["dev", "--upstream", "http://127.0.0.1:9", *args, "--port", str(port)]
            assert main(arguments) == 2
        assert "cannot listen" in capsys.readouterr().err
        return
    upstream = [] if "--upstream" in args else ["--upstream", "http://127.0.0.1:9"]
    assert main(["dev", *upstream, *args, "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert message in err


def test_an_upstream_on_the_emulators_or_the_idps_own_port_is_refused(
    capsys: pytest.CaptureFixture[str],
) -> None:
    port = free_port()
    for upstream, what in (
        (f"http://127.0.0.1:{port}", "the emulator's own address"),
        (f"http://localhost:{port + 1}", "the dev IdP's port"),
    ):
        assert main(["dev", "--upstream", upstream, "--port", str(port)]) == 2
        assert what in capsys.readouterr().err


def test_a_host_that_cannot_be_bound_names_the_host_not_the_port(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["demo", "--host", "203.0.113.1", "--port", "0"]) == 2  # not this machine's
    err = capsys.readouterr().err
    assert "(check --host)" in err
    assert "--port" not in err


def test_the_banner_says_whether_the_settings_last(capsys: pytest.CaptureFixture[str]) -> None:
    stack = DevStack(port=0, upstream="http://127.0.0.1:8080")
    try:
        assert "they change with the ports each run" in "\n".join(_dev_lines(stack))
    finally:
        stack.stop()
    port = free_port()
    stack = DevStack(port=port, idp_port=port + 1, upstream="http://127.0.0.1:8080")
    try:
        assert "they stay the same across runs" in "\n".join(_dev_lines(stack))
    finally:
        stack.stop()


def test_an_upstream_on_the_same_port_of_another_address_is_the_apps(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The emulator on 127.0.0.2 (a phone-testing address, say), the app on 127.0.0.1: same port.
    port = free_port()
    stack = DevStack(host="127.0.0.2", port=port, upstream=f"http://127.0.0.1:{port}")
    stack.stop()
    assert stack.emulator.settings.upstream == f"http://127.0.0.1:{port}"


def test_a_privileged_or_taken_port_names_the_port(monkeypatch: pytest.MonkeyPatch) -> None:
    def refused(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
        raise ConfigurationError(f"cannot listen on {host}:{port}: Permission denied") from (
            PermissionError(errno.EACCES, "Permission denied")
        )

    monkeypatch.setattr("alb_oidc.dev.stack.bind", refused)
    with pytest.raises(
        ConfigurationError, match=r"Permission denied \(choose another with --port\)"
    ):
        DevStack(port=80, upstream="http://127.0.0.1:8080")


def started_by_main(monkeypatch: pytest.MonkeyPatch, args: list[str]) -> DevStack:
    """The stack `main(args)` builds, stopped instead of served."""
    built: list[DevStack] = []

    def record(stack: DevStack, banner: object) -> int:
        stack.stop()
        built.append(stack)
        return 0

    monkeypatch.setattr("alb_oidc.cli._serve_until_signal", record)
    assert main(args) == 0
    return built[0]


def test_the_timeout_option_sets_how_long_the_emulator_waits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    default = started_by_main(monkeypatch, [*DEV, "--port", "0"])
    assert default.emulator.settings.timeout == 60
    chosen = started_by_main(monkeypatch, [*DEV, "--port", "0", "--timeout", "2.5"])
    assert chosen.emulator.settings.timeout == 2.5


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--users", "users.toml"], "--users applies to the built-in dev IdP"),
        (["--idp-port", "9001"], "--idp-port applies to the built-in dev IdP"),
        (["--provider", "okta"], "--provider applies to the built-in dev IdP"),
        (["--provider", "cognito", "--idp-port", "0"], "--idp-port, --provider apply to"),
    ],
)
def test_built_in_idp_options_with_an_issuer_are_usage_errors(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
) -> None:
    # They were silently ignored: the IdP at --issuer has its own users, port and tokens.
    monkeypatch.setattr("alb_oidc.cli._serve_until_signal", lambda stack, _: stack.stop() or 0)
    assert main([*DEV, *OWN_IDP, *args, "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


def test_the_key_file_keeps_both_keys_across_runs(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    args = [*DEV, "--port", "0", "--key-file", str(tmp_path / "keys.pem")]
    first, again = (started_by_main(monkeypatch, args) for _ in "ab")
    assert first.idp is not None
    assert again.idp is not None
    assert (again.emulator.signer.kid, again.idp.kid) == (first.emulator.signer.kid, first.idp.kid)
