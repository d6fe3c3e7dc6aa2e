"""Per-request CPU cost of each contender, on the same tokens, in one process (rows 1-5).

Contenders are measured in interleaved batches (floor, PyJWT, ours, ... then again), so that a
slow spell of the shared machine hits all of them alike and the ratios stay honest.
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx2
import jwt

from alb_oidc import ALBAuthenticator

from .fixtures import ES256, TokenSet, floor_inputs

T = TypeVar("T")


def run_now(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never suspends (every key already cached) without an event loop.

    This measures the CPU cost of the async code itself. If the coroutine does suspend, the
    benchmark is wrong (it would be timing a fetch), so that is an error.
    """
    try:
        coroutine.send(None)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
    coroutine.close()
    raise RuntimeError("the measured call suspended: a key was not cached")


@dataclass
class Contender:
    """Something that handles one request's tokens. `start()` is called before every round and
    returns the per-item call (so "fresh" contenders can begin each round with empty caches)."""

    name: str
    items: Sequence[Any]
    start: Callable[[], Callable[[Any], object]]
    note: str = ""
    samples: list[float] = field(default_factory=list)

    @property
    def us(self) -> float:
        """Median microseconds per call."""
        return statistics.median(self.samples)


def interleave(contenders: Sequence[Contender], *, batch: int, rounds: int) -> None:
    """Time every contender's items in batches, alternating contenders batch by batch."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(rounds):
            calls = [contender.start() for contender in contenders]
            batches = min(len(contender.items) for contender in contenders) // batch
            for index in range(batches):
                for contender, call in zip(contenders, calls, strict=True):
                    chunk = contender.items[index * batch : (index + 1) * batch]
                    began = time.perf_counter_ns()
                    for item in chunk:
                        call(item)
                    contender.samples.append((time.perf_counter_ns() - began) / batch / 1000)
            gc.collect()
    finally:
        if enabled:
            gc.enable()


def authenticator(tokens: TokenSet, **overrides: object) -> ALBAuthenticator:
    """An authenticator whose ALB key and JWKS are already fetched (through a mock transport);
    its result cache is empty."""
    client = httpx2.AsyncClient(transport=tokens.alb.transport())
    result = ALBAuthenticator(tokens.config(**overrides), http_client=client)
    asyncio.run(result.authenticate(tokens.headers(tokens.count)))  # the spare user
    result.results.clear()
    return result


def _requests(tokens: TokenSet, count: int, *, same: bool) -> list[list[tuple[bytes, bytes]]]:
    # A server makes new bytes objects for every request; so do these (no hash is reused).
    return [
        [(name, bytes(bytearray(value))) for name, value in tokens.headers(0 if same else index)]
        for index in range(count)
    ]


def _authenticate(tokens: TokenSet) -> Callable[[], Callable[[Any], object]]:
    def start() -> Callable[[Any], object]:
        fresh = authenticator(tokens)
        return lambda headers: run_now(fresh.authenticate(headers))

    return start


def contenders(data_only: TokenSet, both: TokenSet, *, repeats: int) -> list[Contender]:
    """Rows 1-5: the floor, PyJWT, and alb_oidc fresh and repeated."""
    key = data_only.public_key
    count = data_only.count

    def verify_data_token() -> Callable[[Any], object]:
        fresh = authenticator(data_only)
        return lambda raw: run_now(fresh.verify_data_token(raw))

    return [
        Contender(
            "floor: cryptography ES256 verify",
            floor_inputs(data_only),
            lambda: lambda item: key.verify(item[0], item[1], ES256),
            "one P-256 ECDSA verification (DER signature ready, same message bytes)",
        ),
        Contender(
            "PyJWT jwt.decode, unpadded ES256",
            data_only.standard[:count],
            lambda: lambda token: jwt.decode(token, key, algorithms=["ES256"]),
            "the same claims as a standard JWT; no signer/client check",
        ),
        Contender(
            "alb_oidc verify_data_token, fresh",
            data_only.data[:count],
            verify_data_token,
            "parse, alg/signer/kid/client/iss/exp, key lookup, signature",
        ),
        Contender(
            "alb_oidc authenticate data, fresh",
            _requests(data_only, count, same=False),
            _authenticate(data_only),
            "the middleware's call: header rules, the above, ALBUser, cache insert",
        ),
        Contender(
            "alb_oidc authenticate data, repeated",
            _requests(data_only, repeats, same=True),
            _authenticate(data_only),
            "one user's steady state: a result-cache hit",
        ),
        Contender(
            "alb_oidc authenticate data+access, fresh",
            _requests(both, count, same=False),
            _authenticate(both),
            "plus the Cognito access token: RS256, iss/token_use/client_id/exp/sub",
        ),
        Contender(
            "alb_oidc authenticate data+access, repeated",
            _requests(both, repeats, same=True),
            _authenticate(both),
            "one user's steady state with Cognito: a result-cache hit",
        ),
    ]
