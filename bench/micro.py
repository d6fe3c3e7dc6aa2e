"""Per-request CPU cost of each contender, in one process, on the same kind of tokens.

Contenders are measured in interleaved batches (floor, middleware, ... then again), so that a
slow spell of the shared machine hits all of them alike and the ratios stay honest.

A "new" token is used exactly once in the whole run, by one contender, so no cache of verified
results can ever answer it; the floor verifies the very same bytes. A "known" access token is
one the middleware has seen on an earlier request of the session, as behind a real ALB. A
"repeated" request carries the same bytes every time (in new bytes objects, as a server makes).

A middleware row is what the middleware adds to a request: each of its batches is paired with a
batch of the same number of requests handed straight to the app (`bare_app`), and the pair's
difference is what counts, as the load test compares servers with and without the middleware.
"""

from __future__ import annotations

import asyncio
import gc
import random
import statistics
import time
from collections.abc import Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx2
import jwt
from starlette.types import Message, Receive, Scope, Send

from alb_oidc import ALBAuthenticator, ALBAuthMiddleware

from . import report
from .fixtures import ES256, RS256, TokenSet, es256_inputs, rs256_inputs

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
    """Something that handles one request: `call(item)` for each of `items`, in order."""

    name: str
    group: str
    items: Sequence[Any]
    call: Callable[[Any], object]
    note: str = ""
    samples: list[float] = field(default_factory=list)
    #: Another contender whose batch times are subtracted from this one's, batch by batch (each
    #: pair in the same turn of `interleave`): the part of each call that is the harness's.
    baseline: Contender | None = None

    @property
    def us(self) -> float:
        """Median microseconds per call (less the baseline's, batch by batch, if any)."""
        if self.baseline is None:
            return statistics.median(self.samples)
        pairs = zip(self.samples, self.baseline.samples, strict=True)
        return statistics.median(mine - theirs for mine, theirs in pairs)


#: The seed of the contenders' order in `interleave`.
ORDER_SEED = 20261121


def interleave(contenders: Sequence[Contender], *, batch: int, rounds: int) -> None:
    """Time every contender's items in batches, alternating contenders batch by batch.

    Each item is used once: the items are split into `rounds` runs of batches, with a garbage
    collection (untimed) between rounds. The contenders run in a new random order at every
    batch (seeded, so a run can be repeated): a batch pays for what the batch before it left in
    the caches (an ECDSA loop evicts the interpreter's data, a Python loop the curve's tables),
    and in any fixed order, turned or not, a contender would nearly always follow the same one.
    """
    per_round = min(len(contender.items) for contender in contenders) // batch // rounds
    if per_round == 0:
        raise ValueError("fewer items than one batch per round")
    shuffle = random.Random(ORDER_SEED).sample  # noqa: S311 - an order, not a secret
    enabled = gc.isenabled()
    gc.disable()
    try:
        for done in range(rounds):
            for index in range(done * per_round, (done + 1) * per_round):
                for contender in shuffle(contenders, len(contenders)):
                    call = contender.call
                    chunk = contender.items[index * batch : (index + 1) * batch]
                    began = time.perf_counter_ns()
                    for item in chunk:
                        call(item)
                    contender.samples.append((time.perf_counter_ns() - began) / batch / 1000)
            gc.collect()
    finally:
        if enabled:
            gc.enable()


def _scope(headers: list[tuple[bytes, bytes]]) -> Scope:
    """An HTTP scope like uvicorn's for `GET /`."""
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "server": ("10.0.1.23", 8000),
        "client": ("10.0.0.5", 41312),
        "scheme": "http",
        "method": "GET",
        "root_path": "",
        "path": "/",
        "raw_path": b"/",
        "query_string": b"",
        "headers": headers,
        "state": {},
    }


async def _app(scope: Scope, receive: Receive, send: Send) -> None:
    """The app behind the measured middleware does nothing: only the middleware's work counts."""


async def _receive() -> Message:
    raise RuntimeError("nothing reads the request body here")


async def _refused(message: Message) -> None:
    # Only a refusal sends anything (the app sends nothing): a benchmark of 401s is worthless.
    raise RuntimeError(f"the middleware refused a valid request: {message}")


def bare_app(scope: Scope) -> object:
    """What a server does for every request with or without a middleware, as the middleware
    rows do it: a new scope, and the app's coroutine driven to its end."""
    return run_now(_app(dict(scope), _receive, _refused))


def middleware(tokens: TokenSet, warm: Iterable[int]) -> Callable[[Scope], object]:
    """`ALBAuthMiddleware` around an app that does nothing, with the ALB key (and the JWKS)
    fetched by serving one request of each user in `warm`; returns the call for one scope."""
    client = httpx2.AsyncClient(transport=tokens.transport())
    protected = ALBAuthMiddleware(_app, tokens.config(), http_client=client)

    async def warm_up() -> None:
        for index in warm:
            await protected(_scope(tokens.headers(index)), _receive, _refused)

    asyncio.run(warm_up())
    # A server builds a new scope per request and drops it (and the user in it) after the
    # response; a shallow copy per call does the same, so no request's objects outlive it.
    return lambda scope: run_now(protected(dict(scope), _receive, _refused))


def _verify_data_token(tokens: TokenSet) -> Callable[[bytes], object]:
    client = httpx2.AsyncClient(transport=tokens.alb.transport())
    authenticator = ALBAuthenticator(tokens.config(), http_client=client)
    asyncio.run(authenticator.verify_data_token(tokens.data[tokens.count]))  # fetches the key
    return lambda raw: run_now(authenticator.verify_data_token(raw))


def contenders(
    users: TokenSet,
    data_only: TokenSet,
    sessions: TokenSet,
    *,
    requests: int,
    oidc_users: TokenSet | None = None,
    oidc_sessions: TokenSet | None = None,
) -> list[Contender]:
    """The in-process rows, `requests` items each, in the order of the table.

    `users` are signed-in users with Cognito access tokens, `data_only` users whose IdP's access
    token is opaque (nothing to verify), and `sessions` holds at least `requests` new sessions
    (one user and one access token each). `oidc_users` and `oidc_sessions`, when given, are the
    same with an Okta-shaped IdP's access tokens (`access_token=`), and machine clients' bearer
    tokens.
    """
    if sessions.count < requests:
        raise ValueError("every new session must be used once: too few sessions")
    stream = list(users.stream(requests))
    data_stream = list(data_only.stream(requests))
    steady = middleware(users, range(users.count + 1))  # every session's access token seen
    new_sessions = middleware(sessions, [sessions.count])  # the spare: keys, not sessions
    es_key = users.public_key
    rs_key = sessions.alb.pool_key.public_key()
    standard = data_only.standard[: data_only.count]
    bare = Contender(
        report.BARE_APP,
        "harness",
        [_scope(users.headers(0)) for _ in range(requests)],
        bare_app,
        "subtracted from every middleware row: the server's part of each call",
    )
    rows = [
        Contender(
            report.STEADY,
            "production",
            [_scope(users.headers(user, data)) for user, data in stream],
            steady,
            f"{users.count} sessions, each request with a data token never seen before",
            baseline=bare,
        ),
        Contender(
            report.DATA_ONLY,
            "production",
            [_scope(data_only.headers(user, data)) for user, data in data_stream],
            middleware(data_only, range(data_only.count + 1)),
            "an IdP whose access token is opaque (e.g. Google): only the data token to verify",
            baseline=bare,
        ),
        Contender(
            report.VERIFY,
            "production",
            [data for _, data in stream],
            _verify_data_token(users),
            "parse, alg/signer/kid/client/iss/exp, key lookup, signature",
        ),
        Contender(
            report.FLOOR,
            "floor",
            es256_inputs(data for _, data in stream),
            lambda item: es_key.verify(item[0], item[1], ES256),
            "one P-256 ECDSA verification of the same bytes (DER signature ready)",
        ),
        Contender(
            report.NEW_SESSION,
            "new session",
            [_scope(sessions.headers(index)) for index in range(requests)],
            new_sessions,
            "a session's first request: its Cognito access token is new too",
            baseline=bare,
        ),
        Contender(
            report.RS_FLOOR,
            "floor",
            rs256_inputs(sessions.access[:requests]),
            lambda item: rs_key.verify(item[0], item[1], *RS256),
            "one RSA-2048 PKCS#1 v1.5 verification of the same access tokens",
        ),
        Contender(
            report.REPEATED,
            "repeated",
            [_scope(users.headers(0)) for _ in range(requests)],
            middleware(users, [0]),
            "identical bytes again: a retry, a dev emulator that reuses its tokens",
            baseline=bare,
        ),
        Contender(
            report.REPEATED_DATA_ONLY,
            "repeated",
            [_scope(data_only.headers(0)) for _ in range(requests)],
            middleware(data_only, [0]),
            "the same, without an access token",
            baseline=bare,
        ),
        Contender(
            report.PYJWT,
            "peer",
            [standard[index % len(standard)] for index in range(requests)],
            lambda token: jwt.decode(token, data_only.public_key, algorithms=["ES256"]),
            "the same claims as a standard (unpadded) JWT; no signer/client check, no cache",
        ),
        *(_oidc(oidc_users, oidc_sessions, requests, bare) if oidc_users and oidc_sessions else []),
    ]
    return [*rows, bare]


def _oidc(users: TokenSet, sessions: TokenSet, requests: int, bare: Contender) -> list[Contender]:
    """The rows of another IdP (Okta-shaped access tokens) and of machine clients."""
    if sessions.count < requests:
        raise ValueError("every new session must be used once: too few sessions")
    stream = list(users.stream(requests))
    steady = middleware(users, range(users.count + 1))
    for index in range(users.count):  # every machine client's token seen once (one JWKS)
        steady(_scope(users.bearer_headers(index)))
    bearer_headers = [users.bearer_headers(index % users.count) for index in range(requests)]
    return [
        Contender(
            report.OIDC_STEADY,
            "production",
            [_scope(users.headers(user, data)) for user, data in stream],
            steady,
            "the same with an Okta-shaped access token (access_token=OIDCAccessTokenConfig)",
            baseline=bare,
        ),
        Contender(
            report.BEARER_KNOWN,
            "production",
            [_scope(headers) for headers in bearer_headers],
            steady,
            f"{users.count} machine clients, each with its bearer token (bearer=)",
            baseline=bare,
        ),
        Contender(
            report.OIDC_NEW_SESSION,
            "new session",
            [_scope(sessions.headers(index)) for index in range(requests)],
            middleware(sessions, [sessions.count]),
            "a session's first request with an Okta-shaped access token",
            baseline=bare,
        ),
    ]
