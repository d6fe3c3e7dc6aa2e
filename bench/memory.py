"""Memory: resident set after 100,000 distinct valid requests (`python -m bench.memory N`).

Runs in its own process so that RSS is this workload's alone. Every request carries a data
token never seen before (100,000 distinct tokens for 500 users, with their access tokens), as
new bytes objects like a server makes: every cache sees a stream of new entries and must stay
bounded. The access-token cache is set to hold fewer entries (`ACCESS_CACHE`) than there are
sessions, so it fills during the warm-up and then replaces an entry on every request: its
bound is what the growth after the warm-up measures (filling the default 4,096 entries would
take as many RSA signatures to mint, for the same test). Prints one JSON line.
"""

from __future__ import annotations

import asyncio
import gc
import json
import resource
import sys
import time

import httpx2

from alb_oidc import ALBAuthenticator

from .fixtures import TokenSet

USERS = 500
#: The access-token cache's size in this run: fewer than `USERS` (the default is 4,096).
ACCESS_CACHE = 256


def rss_mb(pid: int | str = "self") -> float:
    """A process's resident set size, in MB (Linux: /proc/PID/statm; default this process)."""
    with open(f"/proc/{pid}/statm", encoding="ascii") as handle:
        pages = int(handle.read().split()[1])
    return pages * resource.getpagesize() / 1e6


def main(total: int) -> dict[str, float | int]:
    """Authenticate `total` distinct requests; RSS after a warm-up and at the end."""
    users = TokenSet(USERS)  # access tokens (RSA signing is slow: one per user)
    alb = users.alb
    authenticator = ALBAuthenticator(
        alb.config(access_token_cache_size=ACCESS_CACHE),
        http_client=httpx2.AsyncClient(transport=alb.transport()),
    )
    # RSS is read after the warm-up: by then every cache is full (the access tokens' after
    # `ACCESS_CACHE` requests, a round of the users), so what grows later is a leak.
    warm_up = max(min(10_000, total // 10), USERS)
    if total <= warm_up:
        raise ValueError(f"the run needs more than {warm_up:,} requests")
    cache = authenticator.access_tokens
    baseline = 0.0

    async def run() -> None:
        nonlocal baseline
        for index, (user, data) in enumerate(users.stream(total)):
            if index == warm_up:
                gc.collect()
                baseline = rss_mb()
            if await authenticator.authenticate(users.headers(user, data)) is None:
                raise RuntimeError("a valid request was not authenticated")

    began = time.perf_counter()
    asyncio.run(run())
    gc.collect()
    final = rss_mb()
    if len(cache) != ACCESS_CACHE or cache.hits:
        # Not full, or answering requests: the run did not press against the cache's bound.
        raise RuntimeError(f"the access-token cache holds {len(cache)}, {cache.hits} hits")
    return {
        "requests": total,
        "users": USERS,
        "access_token_cache_size": ACCESS_CACHE,
        "access_token_cache_misses": cache.misses,
        "warm_up": warm_up,
        "rss_after_warm_up_mb": round(baseline, 1),
        "rss_after_all_mb": round(final, 1),
        "growth_mb": round(final - baseline, 1),
        "seconds": round(time.perf_counter() - began, 1),
    }


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)))
