from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from alb_oidc.cli import main
from alb_oidc.testing import FakeALB


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


def test_verify_uses_the_environment_and_a_real_key_server(
    key_server: tuple[FakeALB, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    alb, key_url = key_server
    monkeypatch.setenv("ALB_OIDC_ALB_ARNS", alb.alb_arn)
    monkeypatch.setenv("ALB_OIDC_KEY_URL", key_url)
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
