"""Soak: uvicorn on loopback, a bounded load with 10% forged requests (`python -m bench.soak`).

The protected hello-world app (bench.http_app:protected) runs in its own uvicorn process. A
client sends `total` requests, 16 at a time, from 200 legitimate users; every tenth request is
a forgery (tampered payload, another ALB's signer, expired, alg none, someone else's access token,
a wrong identity, garbage). Counted: forged requests accepted (must be 0), 5xx answers (must be
0), legitimate requests refused (must be 0), and the server's RSS after the first 10% and at
the end. The test suite runs it and asserts the counts; this script also prints the rate.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx2

from .fixtures import TokenSet
from .http import serve, write_setup
from .memory import rss_mb

USERS = 200


def _forgeries(tokens: TokenSet) -> list[dict[str, str]]:
    alb = tokens.alb
    user = {name.decode(): value.decode() for name, value in tokens.headers(0)}
    header, _, signature = user["x-amzn-oidc-data"].split(".")
    other = {name.decode(): value.decode() for name, value in tokens.headers(1)}
    other_arn = alb.alb_arn.replace("123456789012", "999999999999")
    return [
        {
            **user,
            "x-amzn-oidc-data": f"{header}.{other['x-amzn-oidc-data'].split('.')[1]}.{signature}",
        },
        {**user, "x-amzn-oidc-data": alb.data_token(tokens.subs[0], header={"signer": other_arn})},
        {**user, "x-amzn-oidc-data": alb.data_token(tokens.subs[0], exp=int(time.time()) - 3600)},
        {**user, "x-amzn-oidc-data": alb.data_token(tokens.subs[0], header={"alg": "none"})},
        {**user, "x-amzn-oidc-accesstoken": other["x-amzn-oidc-accesstoken"]},
        {**user, "x-amzn-oidc-identity": tokens.subs[1]},
        {**user, "x-amzn-oidc-data": "garbage." * 3},
    ]


def run(total: int = 20_000, concurrency: int = 16) -> dict[str, Any]:
    """Run the soak; return the counts and figures."""
    tokens = TokenSet(USERS)
    legit = [
        {name.decode(): value.decode() for name, value in tokens.headers(index)}
        for index in range(USERS)
    ]
    forged = _forgeries(tokens)
    counts = {"requests": 0, "forged": 0, "forged_accepted": 0, "legit_refused": 0, "5xx": 0}
    statuses: dict[int, int] = {}
    with tempfile.TemporaryDirectory() as folder:
        setup = Path(folder) / "setup.json"
        write_setup(tokens, setup)
        process, url = serve("bench.http_app:protected", setup)
        rss: list[float] = []
        try:
            began = time.perf_counter()
            asyncio.run(
                _load(
                    url,
                    total=total,
                    concurrency=concurrency,
                    legit=legit,
                    forged=forged,
                    counts=counts,
                    statuses=statuses,
                    sample_rss=lambda: rss.append(rss_mb(process.pid)),
                )
            )
            elapsed = time.perf_counter() - began
            rss.append(rss_mb(process.pid))
        finally:
            process.terminate()
            process.wait(timeout=10)
    return {
        **counts,
        "statuses": {str(code): count for code, count in sorted(statuses.items())},
        "seconds": round(elapsed, 1),
        "requests_per_second": round(total / elapsed),
        "server_rss_after_10pct_mb": round(rss[0], 1),
        "server_rss_at_end_mb": round(rss[-1], 1),
        "server_rss_growth_mb": round(rss[-1] - rss[0], 1),
    }


async def _load(
    url: str,
    *,
    total: int,
    concurrency: int,
    legit: list[dict[str, str]],
    forged: list[dict[str, str]],
    counts: dict[str, int],
    statuses: dict[int, int],
    sample_rss: Any,
) -> None:
    queue: asyncio.Queue[int] = asyncio.Queue()
    for index in range(total):
        queue.put_nowait(index)
    limits = httpx2.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx2.AsyncClient(limits=limits, timeout=30) as client:

        async def worker() -> None:
            while not queue.empty():
                index = queue.get_nowait()
                if index == total // 10:
                    sample_rss()
                is_forged = index % 10 == 9
                headers = forged[index % len(forged)] if is_forged else legit[index % len(legit)]
                response = await client.get(url, headers=headers)
                counts["requests"] += 1
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
                if response.status_code >= 500:
                    counts["5xx"] += 1
                if is_forged:
                    counts["forged"] += 1
                    counts["forged_accepted"] += response.status_code == 200
                else:
                    counts["legit_refused"] += response.status_code != 200

        await asyncio.gather(*(worker() for _ in range(concurrency)))


if __name__ == "__main__":
    print(json.dumps(run(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000)))
