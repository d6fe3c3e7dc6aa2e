"""Row 7: requests per second and latency of a hello-world app under uvicorn, with and without
the middleware, driven by wrk over loopback (one connection pool, bounded duration).

Each variant runs in its own uvicorn process (one worker, uvloop and httptools when installed,
no access log). The variants alternate, several times, and the median is reported. Every
request of the protected variant carries the same data and access tokens: one user's steady
state, so after the first request it is the result cache that is measured, plus the
middleware's own work (header scan, scope building).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from .fixtures import TokenSet

ROOT = Path(__file__).resolve().parent.parent


class WrkUnavailable(RuntimeError):
    """wrk is not installed (Debian: `apt-get install wrk`)."""


@dataclass(frozen=True)
class Load:
    """One wrk run's figures."""

    rps: float
    p50_ms: float
    p99_ms: float
    non_2xx: int


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve(target: str, setup: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Start `python -m uvicorn target` on a free loopback port; return it and its URL."""
    port = _free_port()
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        target,
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--no-access-log",
        "--workers",
        "1",
    ]
    env = {**os.environ, "ALB_OIDC_BENCH_SETUP": str(setup)}
    process = subprocess.Popen(command, cwd=ROOT, env=env)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return process, url
        except OSError as exc:
            if getattr(exc, "code", None):  # an HTTP status: the server is up (401 is fine)
                return process, url
            time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"uvicorn {target} did not start")


def _wrk(wrk: str, url: str, headers: dict[str, str], *, seconds: int, connections: int) -> Load:
    command = [wrk, "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "5s"]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    output = subprocess.run(
        [*command, url], capture_output=True, text=True, check=True, timeout=seconds + 30
    ).stdout
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return Load(
        rps=float(re.search(r"Requests/sec:\s+([\d.]+)", output)[1]),  # type: ignore[index]
        p50_ms=_latency(output, "50%"),
        p99_ms=_latency(output, "99%"),
        non_2xx=int(non_2xx[1]) if non_2xx else 0,
    )


def _latency(output: str, percentile: str) -> float:
    match = re.search(rf"^\s+{percentile}\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE)
    if match is None:
        raise RuntimeError(f"no {percentile} latency in wrk's output")
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[match[2]]
    return float(match[1]) * scale


def write_setup(tokens: TokenSet, path: Path) -> None:
    """The file `bench.http_app:protected` reads: what to trust and the keys to serve itself."""
    alb = tokens.alb
    setup = {
        "alb_arn": alb.alb_arn,
        "client_id": alb.client_id,
        "issuer": alb.issuer,
        "user_pool_id": alb.user_pool_id,
        "key_url": alb.key_url(),
        "pem": alb.public_key_pem().decode(),
        "jwks_url": alb.jwks_url,
        "jwks": alb.jwks(),
    }
    path.write_text(json.dumps(setup), encoding="utf-8")


def measure(tokens: TokenSet, *, seconds: int, runs: int, connections: int = 16) -> dict[str, Load]:
    """Median figures of `runs` alternating wrk runs per variant."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise WrkUnavailable("wrk is not on PATH (Debian: apt-get install wrk)")
    user = {name.decode(): value.decode() for name, value in tokens.headers(0)}
    auth = {name: value for name, value in user.items() if name.startswith("x-amzn-oidc-")}
    results: dict[str, list[Load]] = {"plain": [], "protected": [], "passthrough": []}
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "setup.json"
        write_setup(tokens, path)
        servers = {name: serve(f"bench.http_app:{name}", path) for name in results}
        try:
            for _ in range(runs):
                for name, (_, url) in servers.items():
                    # Both get the ALB's headers: the ALB sends them whether the app reads them
                    # or not, and parsing 2 KB of headers is the server's cost, not ours.
                    results[name].append(
                        _wrk(wrk, url, auth, seconds=seconds, connections=connections)
                    )
        finally:
            for process, _ in servers.values():
                process.terminate()
                process.wait(timeout=10)
    return {name: _median(loads) for name, loads in results.items()}


def _median(loads: list[Load]) -> Load:
    return Load(
        rps=statistics.median(load.rps for load in loads),
        p50_ms=statistics.median(load.p50_ms for load in loads),
        p99_ms=statistics.median(load.p99_ms for load in loads),
        non_2xx=sum(load.non_2xx for load in loads),
    )
