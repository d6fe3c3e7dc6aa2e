from __future__ import annotations

import io
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from alb_oidc.cli import EXIT_BROKEN_PIPE, main
from alb_oidc.testing import FakeALB, FakeIdP


def test_decode_prints_header_and_claims_marked_unverified(
    capsys: pytest.CaptureFixture[str],
) -> None:
    alb = FakeALB()
    assert main(["decode", alb.data_token("alice")]) == 0
    out, err = capsys.readouterr()
    assert "UNVERIFIED" in err
    document = json.loads(out)
    assert document["claims"]["sub"] == "alice"
    assert document["header"]["signer"] == alb.alb_arn


def test_decode_reads_stdin(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(FakeALB().data_token("bob") + "\n"))
    assert main(["decode", "-"]) == 0
    assert json.loads(capsys.readouterr().out)["claims"]["sub"] == "bob"


def test_decode_of_garbage_is_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["decode", "garbage"]) == 1
    assert "malformed_token" in capsys.readouterr().err


@pytest.fixture
def key_server() -> Iterator[tuple[FakeALB, str]]:
    alb = FakeALB()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == f"/{alb.kid}":
                body = alb.public_key_pem()
                self.send_response(200)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            else:
                self.send_error(404)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield alb, f"http://127.0.0.1:{server.server_address[1]}/{{kid}}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def configured(key_server: tuple[FakeALB, str], monkeypatch: pytest.MonkeyPatch) -> FakeALB:
    """The ALB that `alb-oidc verify` trusts through ALB_OIDC_* variables."""
    alb, key_url = key_server
    monkeypatch.setenv("ALB_OIDC_ALB_ARNS", alb.alb_arn)
    monkeypatch.setenv("ALB_OIDC_KEY_URL", key_url)
    return alb


def test_verify_uses_the_environment_and_a_real_key_server(
    configured: FakeALB, capsys: pytest.CaptureFixture[str]
) -> None:
    alb = configured
    assert main(["verify", alb.data_token("carol")]) == 0
    out, err = capsys.readouterr()
    assert "VERIFIED" in err
    assert json.loads(out)["sub"] == "carol"
    assert main(["verify", alb.data_token(header={"signer": "x"})]) == 1
    assert "untrusted_signer" in capsys.readouterr().err


def test_verify_without_configuration_is_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("ALB_OIDC_ALB_ARNS", raising=False)
    assert main(["verify", "x.y.z"]) == 2
    assert "ALB_OIDC_ALB_ARNS is not set" in capsys.readouterr().err


def test_usage_errors_exit_2() -> None:
    with pytest.raises(SystemExit) as caught:
        main([])
    assert caught.value.code == 2


def run_cli(
    *args: str, stdin: int | None = subprocess.DEVNULL, prelude: str = ""
) -> subprocess.CompletedProcess[str]:
    """`alb-oidc ARGS` in a fresh interpreter with no controlling terminal."""
    code = f"import sys\n{prelude}\nfrom alb_oidc.cli import main\nsys.exit(main(sys.argv[1:]))"
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        stdin=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        # No terminal: getpass falls back to standard input, as under a pipe or in CI.
        start_new_session=True,
    )


def test_decode_into_a_closed_pipe_exits_quietly() -> None:
    token = FakeALB().data_token("alice", claims={"name": "x" * 5000})
    process = subprocess.Popen(
        [sys.executable, "-m", "alb_oidc.cli", "decode", "-"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None
    # The reader goes away before the command writes (`... | head` after its lines).
    process.stdout.close()
    _, err = process.communicate(token.encode(), timeout=60)
    assert process.returncode == EXIT_BROKEN_PIPE
    assert b"Traceback" not in err
    assert b"BrokenPipeError" not in err


def test_hash_password_without_input_is_a_message_not_a_traceback() -> None:
    result = run_cli("hash-password")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert (
        "alb-oidc: configuration error: no password: standard input ended before one was typed "
        "(pipe one in with: alb-oidc hash-password --stdin)"
    ) in result.stderr


@pytest.mark.parametrize(
    ("command", "module"),
    [
        (["demo", "--port", "0"], "fastapi"),
        (["demo", "--port", "0"], "uvicorn"),
        (["dev", "--upstream", "http://127.0.0.1:9", "--port", "0"], "uvicorn"),
    ],
)
def test_demo_and_dev_without_the_extra_say_what_to_install(
    command: list[str], module: str
) -> None:
    result = run_cli(*command, prelude=f"sys.modules[{module!r}] = None")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip() == (
        f"alb-oidc: '{command[0]}' needs the 'demo' extra (no module named {module!r}): "
        'pip install "alb-oidc[demo]"'
    )


def test_untrusted_signer_names_the_signer_the_token_carried(
    configured: FakeALB, capsys: pytest.CaptureFixture[str]
) -> None:
    alb = configured
    other = alb.alb_arn.replace("test-alb", "other-alb")
    assert main(["verify", alb.data_token(header={"signer": other})]) == 1
    assert capsys.readouterr().err == (
        f"alb-oidc: refused (untrusted_signer): token signer '{other}' is not one of the "
        "configured alb_arns\n"
    )
    # A client writes the signer: it is escaped onto one line and cut short.
    assert main(["verify", alb.data_token(header={"signer": "x\nINFO forged" + "y" * 500})]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "token signer 'x\\nINFO forged" in err
    assert "y" * 161 not in err


#: Runs `_serve_until_signal` with a stack that does nothing, and sends SIGTERM from inside the
#: wait: as a lock of `threading` is being released (`Condition.__exit__`: the old wait held an
#: Event's lock there, which its handler then needed, a deadlock), or from a timer when the wait
#: makes no such call.
_SIGNAL_DURING_THE_WAIT = """
import os, signal, sys, threading
from alb_oidc import cli

class Stack:
    def start(self): pass
    def stop(self): print("stopped", flush=True)

sent = []
def send():
    if not sent:
        sent.append(1)
        os.kill(os.getpid(), signal.SIGTERM)
def tracer(frame, event, arg):
    code = frame.f_code
    if event == "call" and code.co_filename == threading.__file__ and code.co_name == "__exit__":
        send()
    return None
def banner(stack):
    threading.Timer(0.5, send).start()
    sys.settrace(tracer)
    return ["serving"]
code = cli._serve_until_signal(Stack(), banner)
sys.settrace(None)
print("returned", code, flush=True)
"""


def test_a_signal_during_the_wait_stops_the_server() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _SIGNAL_DURING_THE_WAIT],
        capture_output=True,
        text=True,
        timeout=15,  # the old wait never returned
        check=False,
    )
    assert done.stdout.split() == ["serving", "stopped", "returned", "0"], done


def test_verify_says_unavailable_with_its_own_status_when_the_key_cannot_be_fetched(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    alb = FakeALB()
    monkeypatch.setenv("ALB_OIDC_ALB_ARNS", alb.alb_arn)
    monkeypatch.setenv("ALB_OIDC_KEY_URL", "http://127.0.0.1:9/{kid}")  # discard: nothing there
    monkeypatch.setenv("ALB_OIDC_KEY_FETCH_TIMEOUT", "2")
    assert main(["verify", alb.data_token()]) == 3  # not 1: no verdict on the token
    assert "unavailable, try again (key_unavailable)" in capsys.readouterr().err


def test_hash_password_from_a_windows_line_drops_the_carriage_return(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from alb_oidc.dev.users import verify_password  # noqa: PLC0415

    monkeypatch.setattr(sys, "stdin", io.StringIO("secret\r\n"))
    assert main(["hash-password", "--stdin"]) == 0
    hashed = capsys.readouterr().out.strip()
    assert verify_password("secret", hashed)


def test_verify_help_lists_every_exit_status(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["verify", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "3 unavailable (the key could not be fetched: try again later)" in help_text


@pytest.mark.parametrize("command", ["decode", "verify"])
def test_an_access_token_is_named_for_what_it_is(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    monkeypatch.setenv("ALB_OIDC_ALB_ARNS", FakeALB().alb_arn)
    access_token = FakeIdP().access_token("alice")  # RS256, as Cognito's: no `signer`
    assert main([command, access_token]) == 1
    err = capsys.readouterr().err
    assert "refused (malformed_token)" in err
    assert "looks like an access token or an ID token" in err
    assert "64 bytes" not in err


def test_a_data_token_that_is_malformed_keeps_its_own_reason(
    capsys: pytest.CaptureFixture[str],
) -> None:
    header, payload, _ = FakeALB().data_token("alice").split(".")
    assert main(["decode", f"{header}.{payload}.AAAA"]) == 1
    err = capsys.readouterr().err
    assert "signature" in err
    assert "access token" not in err


@pytest.mark.parametrize("command", ["decode", "verify"])
def test_nothing_on_standard_input_says_so(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("\n"))
    assert main([command, "-"]) == 2
    assert capsys.readouterr().err == "alb-oidc: no token on standard input\n"
