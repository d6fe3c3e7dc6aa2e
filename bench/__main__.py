"""`uv run python -m bench`: every benchmark in one run; prints the table (see docs/benchmarks.md).

Options: `--quick` (smaller, for a look), `--skip node,http,coldstart,memory`, and `--write`
to rewrite docs/benchmarks.md and docs/benchmarks.png with this run's figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import cryptography
import jwt
import uvicorn

from . import coldstart, http, micro, node
from .fixtures import TokenSet, okta_idp
from .report import Result, write_chart, write_markdown

ROOT = Path(__file__).resolve().parent.parent
#: Signed-in users in the production rows, each with their own session and access token.
USERS = 100


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:  # noqa: PLR0915 - one step per row
    """Run the benchmarks; print the table; with `--write`, update the docs."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer tokens and shorter loads")
    parser.add_argument("--skip", default="", help="comma-separated: node,http,coldstart,memory")
    parser.add_argument("--write", action="store_true", help="rewrite docs/benchmarks.md + .png")
    args = parser.parse_args(argv)
    skip = {item.strip() for item in args.skip.split(",") if item.strip()}
    count, rounds = (1000, 2) if args.quick else (2000, 5)
    requests = count * rounds
    result = Result(command="uv run python -m bench" + (" --quick" if args.quick else ""))
    result.environment = {
        "python": platform.python_version(),
        "cryptography": cryptography.__version__,
        "pyjwt": jwt.__version__,
        "uvicorn": uvicorn.__version__,
        "machine": f"{platform.machine()}, {_cpus()} CPUs",
    }
    result.method = {"users": USERS, "requests": requests, "batch": 50, "rounds": rounds}

    _say(f"minting tokens: {USERS} users, {requests:,} new sessions ...")
    users = TokenSet(USERS)
    data_only = TokenSet(USERS, with_access=False, opaque=True)  # an IdP like Google
    sessions = TokenSet(requests)
    oidc_users = TokenSet(USERS, idp=okta_idp())
    oidc_sessions = TokenSet(requests, idp=okta_idp())
    result.token_bytes = {"data": len(users.data[0]), "access": len(users.access[0])}

    _say("timing the per-request cost in process ...")
    contenders = micro.contenders(
        users,
        data_only,
        sessions,
        requests=requests,
        oidc_users=oidc_users,
        oidc_sessions=oidc_sessions,
    )
    micro.interleave(contenders, batch=50, rounds=rounds)
    for contender in contenders:
        result.add(contender.name, contender.us, contender.note, contender.group)

    if "node" not in skip:
        _say("timing aws-jwt-verify with Node.js ...")
        try:
            fresh = [data for _, data in data_only.stream(count)]
            figures = node.measure(data_only, fresh, rounds=rounds, repeats=count)
        except node.NodeUnavailable as exc:
            result.skipped["aws-jwt-verify"] = str(exc)
        else:
            label = f"aws-jwt-verify {figures['package']} (Node {figures['node']})"
            result.environment["node"] = figures["node"]
            result.add(f"{label}, new token", figures["fresh_us"], "AlbJwtVerifier.verifySync")
            result.add(f"{label}, same token", figures["repeated_us"], "verified again in full")
            result.add(
                "node floor: node:crypto ES256 verify",
                figures["floor_us"],
                "Node's own OpenSSL call, for scale",
            )

    if "http" not in skip:
        _say("load over loopback with wrk ...")
        load = {"seconds": 3 if args.quick else 6, "runs": 2 if args.quick else 5}
        load.update(pool=16_384 if args.quick else 40_000, connections=16, threads=2)
        try:
            loads = http.measure(users, **load)
        except http.WrkUnavailable as exc:
            result.skipped["load test"] = str(exc)
        else:
            result.http = {name: vars(figures) for name, figures in loads.items()}
            result.method.update(load)

    if "coldstart" not in skip:
        _say("cold start: 1,000 concurrent first requests ...")
        result.coldstart = coldstart.measure(TokenSet(1000, with_access=False))

    if "memory" not in skip:
        total = 20_000 if args.quick else 100_000
        _say(f"memory: {total:,} requests with new data tokens, in a child process ...")
        done = subprocess.run(
            [sys.executable, "-m", "bench.memory", str(total)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
            timeout=1800,
        )
        result.memory = json.loads(done.stdout)

    print(result.table())
    if args.write:
        write_markdown(result, ROOT / "docs" / "benchmarks.md")
        write_chart(result, ROOT / "docs" / "benchmarks.png")
        _say("wrote docs/benchmarks.md and docs/benchmarks.png")
    return 0


def _cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 0


if __name__ == "__main__":
    raise SystemExit(main())
