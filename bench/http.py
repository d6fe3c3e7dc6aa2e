"""The load test: requests per second and latency of a hello-world app under uvicorn, with and
without the middleware, driven by wrk over loopback.

Every request carries a data token the server has never seen (like the ALB, which signs a new
one for every request) and its session's access token: a pool of tokens is minted beforehand,
and bench/wrk_pool.lua sends them in turn, each wrk thread its own slice, every run going on
where the previous one stopped. A token comes back only after the whole pool (16,384 tokens or
more) has gone by: far more than a bounded cache of verified results holds.

Each variant runs in its own uvicorn process (uvloop and httptools when installed, no access
log): `plain`, `passthrough` (a do-nothing middleware), `protected` (`ALBAuthMiddleware`), and
`protected` again with two workers, and `floor`: the plain app behind a middleware that does
one raw P-256 verification per request and nothing else, so the floor is also measured where
the middleware runs (under uvicorn, with wrk on the other core: a one-worker server is pinned to
one CPU and wrk to the other, see `cpu_split`; the two workers share both CPUs with wrk). Being
a middleware layer itself, `floor` is compared with `passthrough`, not `plain`. The tokens of a
pool share a header a round of the users at a time, as the requests of one second do at that
rate. All get the same headers: the ALB sends them whether the app reads them or not, and
parsing them is the server's cost, not the middleware's. The variants alternate, several times,
after a warm-up, and the median is reported; a run with a refused request or a socket error
(warm-ups included) stops the test.
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

from .fixtures import TokenSet, es256_inputs

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = Path(__file__).resolve().parent / "wrk_pool.lua"

#: Variant name -> (uvicorn target, workers).
VARIANTS = {
    "plain": ("bench.http_app:plain", 1),
    "passthrough": ("bench.http_app:passthrough", 1),
    "floor": ("bench.http_app:floor", 1),
    "protected": ("bench.http_app:protected", 1),
    "protected, 2 workers": ("bench.http_app:protected", 2),
}


class WrkUnavailable(RuntimeError):
    """wrk is not installed and could not be (Debian: `apt-get install wrk`)."""


@dataclass(frozen=True)
class Load:
    """One wrk run's figures."""

    rps: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    #: wrk's "Socket errors" (connect, read, write and timeout together): 0 in a valid run.
    socket_errors: int = 0

    def check(self, name: str) -> None:
        """Refuse a run in which any request was refused or failed: its rate is not the
        server's at its work (a 401 is cheap, a dropped connection is no request at all)."""
        if self.non_2xx:
            raise RuntimeError(f"{name}: {self.non_2xx} requests were refused")
        if self.socket_errors:
            raise RuntimeError(f"{name}: {self.socket_errors} socket errors in wrk's run")


def find_wrk() -> str:
    """The path of wrk; installed from Debian's archive first if missing and running as root."""
    wrk = shutil.which("wrk")
    if wrk is not None:
        return wrk
    apt = shutil.which("apt-get")
    if apt is None or os.geteuid() != 0:
        raise WrkUnavailable("wrk is not installed (Debian: sudo apt-get install wrk)")

    def apt_get(*arguments: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        return subprocess.run(
            [apt, *arguments], capture_output=True, text=True, timeout=600, env=env, check=False
        )

    done = apt_get("install", "-y", "wrk")
    if done.returncode != 0:  # a fresh image may have no package lists yet
        apt_get("update")
        done = apt_get("install", "-y", "wrk")
    wrk = shutil.which("wrk")
    if wrk is None:
        raise WrkUnavailable(f"apt-get install wrk failed: {done.stderr.strip()[-300:]}")
    return wrk


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_split() -> tuple[set[int], set[int]] | None:
    """(the server's CPUs, wrk's CPUs) for a one-worker server: one CPU each, so the server has
    a CPU of its own as in production (where the load comes from elsewhere) and the scheduler
    does not move them onto each other between runs; None where that cannot be done. (On a
    virtual machine two CPUs may be two threads of one core.)"""
    if not hasattr(os, "sched_getaffinity"):
        return None
    cpus = sorted(os.sched_getaffinity(0))
    return ({cpus[0]}, {cpus[-1]}) if len(cpus) >= 2 else None


def _pinned(command: list[str], cpus: set[int] | None) -> list[str]:
    """`command` run with `taskset` on `cpus` (it and every thread it starts), if given and
    taskset is installed (util-linux)."""
    taskset = shutil.which("taskset")
    if cpus is None or taskset is None:
        return command
    return [taskset, "--cpu-list", ",".join(map(str, sorted(cpus))), *command]


def serve(
    target: str, setup: Path, *, workers: int = 1, cpus: set[int] | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    """Start `python -m uvicorn target` on a free loopback port, on `cpus` if given; return it
    and its URL."""
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
        str(workers),
    ]
    env = {**os.environ, "ALB_OIDC_BENCH_SETUP": str(setup)}
    process = subprocess.Popen(_pinned(command, cpus), cwd=ROOT, env=env)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 30
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


def write_setup(tokens: TokenSet, path: Path) -> None:
    """The file `bench.http_app:protected` reads: what to trust and the keys to serve itself."""
    alb = tokens.alb
    signing_input, der = es256_inputs([tokens.data[0]])[0][1], es256_inputs([tokens.data[0]])[0][0]
    setup = {
        "floor_signature": der.hex(),
        "floor_message": signing_input.decode(),
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


def write_pool(tokens: TokenSet, folder: Path, size: int) -> None:
    """The files bench/wrk_pool.lua reads: every user's session, then `size` new data tokens."""
    with open(folder / "users", "w", encoding="ascii") as users:
        for index in range(tokens.count):
            users.write(f"{tokens.access[index].decode()} {tokens.subs[index]}\n")
    with open(folder / "tokens", "w", encoding="ascii") as pool:
        for user, data in tokens.stream(size):
            pool.write(f"{user} {data.decode()}\n")


@dataclass
class _Wrk:
    """wrk with the pool script: one instance per server, remembering where each thread is."""

    wrk: str
    folder: Path
    threads: int
    connections: int
    positions: list[int]
    cpus: set[int] | None = None  # where wrk runs (the CPU the server does not have)

    def run(self, url: str, seconds: float) -> Load:
        command = [
            self.wrk,
            f"-t{self.threads}",
            f"-c{self.connections}",
            f"-d{seconds}s",
            "--latency",
            "--timeout",
            "5s",
            "-s",
            str(SCRIPT),
            url,
            "--",
            str(self.folder),
            *map(str, self.positions),
        ]
        output = subprocess.run(
            _pinned(command, self.cpus),
            capture_output=True,
            text=True,
            check=True,
            timeout=seconds + 120,
        ).stdout
        positions = re.search(r"^pool positions: ([\d ]+)$", output, re.MULTILINE)
        if positions is None:
            raise RuntimeError(f"wrk_pool.lua reported no positions: {output[-500:]}")
        self.positions = [int(value) for value in positions[1].split()]
        return parse_wrk(output)


def parse_wrk(output: str) -> Load:
    """The figures of wrk's report (`--latency`). wrk prints "Non-2xx or 3xx responses" and
    "Socket errors: connect N, read N, write N, timeout N" only when there were any."""
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    if sockets is None and "Socket errors" in output:
        raise RuntimeError(f"unreadable socket errors in wrk's output: {output[-500:]}")
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if rps is None:
        raise RuntimeError(f"no requests/sec in wrk's output: {output[-500:]}")
    return Load(
        rps=float(rps[1]),
        p50_ms=_latency(output, "50%"),
        p99_ms=_latency(output, "99%"),
        non_2xx=int(non_2xx[1]) if non_2xx else 0,
        socket_errors=sum(map(int, sockets.groups())) if sockets else 0,
    )


def _latency(output: str, percentile: str) -> float:
    match = re.search(rf"^\s+{percentile}\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE)
    if match is None:
        raise RuntimeError(f"no {percentile} latency in wrk's output")
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[match[2]]
    return float(match[1]) * scale


def measure(
    tokens: TokenSet,
    *,
    seconds: int,
    runs: int,
    pool: int,
    connections: int = 16,
    threads: int = 2,
) -> dict[str, Load]:
    """Median figures of `runs` alternating wrk runs per variant, after a warm-up each."""
    wrk = find_wrk()
    results: dict[str, list[Load]] = {name: [] for name in VARIANTS}
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        write_setup(tokens, folder / "setup.json")
        write_pool(tokens, folder, pool)
        # A one-worker server on a CPU of its own and wrk on another; two workers share all.
        split = cpu_split()
        pinned = {
            name: split if split and workers == 1 else (None, None)
            for name, (_, workers) in VARIANTS.items()
        }
        servers = {
            name: serve(target, folder / "setup.json", workers=workers, cpus=pinned[name][0])
            for name, (target, workers) in VARIANTS.items()
        }
        clients = {
            name: _Wrk(wrk, folder, threads, connections, [0] * threads, pinned[name][1])
            for name in VARIANTS
        }
        try:
            # The warm-up fetches the keys, and gives a second worker time to start; a refusal
            # or a socket error there is as wrong as in a measured run.
            for name, (_, url) in servers.items():
                clients[name].run(url, 2).check(f"{name} (warm-up)")
            for _ in range(runs):
                for name, (_, url) in servers.items():
                    load = clients[name].run(url, seconds)
                    load.check(name)
                    results[name].append(load)
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
        socket_errors=sum(load.socket_errors for load in loads),
    )
