"""Per-request CPU cost of each contender, in one process, on the same kind of tokens.

Contenders are measured in interleaved batches (floor, middleware, ... then again), so that a
slow spell of the shared machine hits all of them alike and the ratios stay honest.

Every contender has caches of its own (its own middleware or authenticator), and a "new" token is
one they have never seen. The steady-state row, `verify_data_token` and the ES256 floor are
handed the very same stream of data tokens, each once; the other rows have tokens of their own.
So no cache of verified results can answer a new token, and the floor verifies the same bytes.
As from a real ALB, the tokens of one second share their header (its `exp` is the request's
time plus 120 s) and the authenticator remembers headers it verified: `TokenSet.stream` makes
one round of the users one second (100 users in `python -m bench`: 100 tokens a header), so
those rows assume an app that gets at least that many requests a second per process. The row
"header not seen before" gives every token a header of its own: a quiet app, where each request
is the first of its second (at one request a second or fewer, every request). A "known" access
token is one the middleware has seen on an earlier request of the session, as behind a real
ALB. A "repeated" request carries the same bytes every time (in new bytes objects, as a server
makes).

A middleware row is what the middleware adds to a request: each of its batches is paired with a
batch of the same number of requests handed straight to the app (`bare_app`), and the pair's
difference is what counts, as the load test compares servers with and without the middleware.
The app checks that the request reached it authenticated, so no refused or anonymous request
is ever timed; the bare requests carry a signed-in user for the same check.
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
from starlette.authentication import SimpleUser
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
    #: What `call` runs (a middleware, an authenticator), for tests to look into its caches.
    subject: Any = None

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


def _scope(headers: list[tuple[bytes, bytes]], **extra: Any) -> Scope:
    """An HTTP scope like uvicorn's for `GET /` (plus `extra` entries)."""
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
        **extra,
    }


async def _app(scope: Scope, receive: Receive, send: Send) -> None:
    """The app behind the measured middleware does nothing but check that the request is
    authenticated: only the middleware's work counts, and only on requests it let in."""
    if not scope["user"].is_authenticated:
        # An optional mode or a missing header would let a request through anonymously, and
        # that (with no verification in it) must never be timed as the middleware's cost.
        raise RuntimeError("the app got an anonymous request")


async def _receive() -> Message:
    raise RuntimeError("nothing reads the request body here")


async def _refused(message: Message) -> None:
    # Only a refusal sends anything (the app sends nothing): a benchmark of 401s is worthless.
    raise RuntimeError(f"the middleware refused a valid request: {message}")


def bare_app(scope: Scope) -> object:
    """What a server does for every request with or without a middleware, as the middleware
    rows do it: a new scope, and the app's coroutine driven to its end. `scope` must carry a
    signed-in user (see `bare_scope`), as the middleware's do, so that the app's check costs
    the same on both sides of the subtraction."""
    return run_now(_app(dict(scope), _receive, _refused))


#: The user of the bare requests: what the app checks, already there.
_BARE_USER = SimpleUser("bench")


def bare_scope(headers: list[tuple[bytes, bytes]]) -> Scope:
    """A scope for `bare_app`: as a server makes it, with a signed-in user in it."""
    return _scope(headers, user=_BARE_USER)


def middleware(
    tokens: TokenSet, warm: Iterable[int]
) -> tuple[Callable[[Scope], object], ALBAuthMiddleware]:
    """`ALBAuthMiddleware` around an app that does nothing, with the ALB key (and the JWKS)
    fetched by serving one request of each user in `warm`; returns the call for one scope, and
    the middleware."""
    client = httpx2.AsyncClient(transport=tokens.transport())
    protected = ALBAuthMiddleware(_app, tokens.config(), http_client=client)

    async def warm_up() -> None:
        for index in warm:
            await protected(_scope(tokens.headers(index)), _receive, _refused)

    asyncio.run(warm_up())
    # A server builds a new scope per request and drops it (and the user in it) after the
    # response; a shallow copy per call does the same, so no request's objects outlive it.
    return lambda scope: run_now(protected(dict(scope), _receive, _refused)), protected


def _verify_data_token(tokens: TokenSet) -> tuple[Callable[[bytes], object], ALBAuthenticator]:
    client = httpx2.AsyncClient(transport=tokens.alb.transport())
    authenticator = ALBAuthenticator(tokens.config(), http_client=client)
    asyncio.run(authenticator.verify_data_token(tokens.data[tokens.count]))  # fetches the key
    return lambda raw: run_now(authenticator.verify_data_token(raw)), authenticator


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
    token is opaque (nothing to verify; `TokenSet(opaque=True)` sends one), and `sessions` holds
    at least `requests` new sessions (one user and one access token each). `oidc_users` and
    `oidc_sessions`, when given, are the same with an Okta-shaped IdP's access tokens
    (`access_token=`), and machine clients' bearer tokens.
    """
    if sessions.count < requests:
        raise ValueError("every new session must be used once: too few sessions")
    # One stream for the steady state, `verify_data_token` and the floor (each has caches of its
    # own, so every token is new to each); `users.count` tokens share a header, as from a busy app.
    stream = list(users.stream(requests))
    # The first request of every second: each token's header is new (a quiet app).
    lone = list(users.stream(requests, quiet=True))
    data_stream = list(data_only.stream(requests))
    steady, steady_app = middleware(users, range(users.count + 1))  # every access token seen
    quiet, quiet_app = middleware(users, range(users.count + 1))
    new_sessions, new_sessions_app = middleware(sessions, [sessions.count])  # keys, not sessions
    opaque, opaque_app = middleware(data_only, range(data_only.count + 1))
    verify, authenticator = _verify_data_token(users)
    repeated, repeated_app = middleware(users, [0])
    repeated_data_only, repeated_data_only_app = middleware(data_only, [0])
    es_key = users.public_key
    rs_key = sessions.alb.pool_key.public_key()
    standard = data_only.standard[: data_only.count]
    bare = Contender(
        report.BARE_APP,
        "harness",
        [bare_scope(users.headers(0)) for _ in range(requests)],
        bare_app,
        "subtracted from every middleware row: the server's part of each call",
    )
    rows = [
        Contender(
            report.STEADY,
            "production",
            [_scope(users.headers(user, data)) for user, data in stream],
            steady,
            f"{users.count} sessions, each request with a data token never seen before "
            f"({users.count} requests a second: {users.count} tokens share a header)",
            baseline=bare,
            subject=steady_app,
        ),
        Contender(
            report.NEW_HEADER,
            "production",
            [_scope(users.headers(user, data)) for user, data in lone],
            quiet,
            "a quiet app: each request the first of its second, so its data token's header is "
            "new too (header checks, key lookup); the access token is known",
            baseline=bare,
            subject=quiet_app,
        ),
        Contender(
            report.DATA_ONLY,
            "production",
            [_scope(data_only.headers(user, data)) for user, data in data_stream],
            opaque,
            "an IdP whose access token is opaque (e.g. Google): only the data token to verify",
            baseline=bare,
            subject=opaque_app,
        ),
        Contender(
            report.VERIFY,
            "production",
            [data for _, data in stream],
            verify,
            "parse, payload checks, signature; the header's checks (alg/signer/kid/client/iss) "
            f"and key lookup once per header ({users.count} tokens share one)",
            subject=authenticator,
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
            subject=new_sessions_app,
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
            repeated,
            "identical bytes again: a retry, a dev emulator that reuses its tokens",
            baseline=bare,
            subject=repeated_app,
        ),
        Contender(
            report.REPEATED_DATA_ONLY,
            "repeated",
            [_scope(data_only.headers(0)) for _ in range(requests)],
            repeated_data_only,
            "the same, with an opaque access token",
            baseline=bare,
            subject=repeated_data_only_app,
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
    steady, steady_app = middleware(users, range(users.count + 1))
    for index in range(users.count):  # every machine client's token seen once (one JWKS)
        steady(_scope(users.bearer_headers(index)))
    new_sessions, new_sessions_app = middleware(sessions, [sessions.count])
    bearer_headers = [users.bearer_headers(index % users.count) for index in range(requests)]
    return [
        Contender(
            report.OIDC_STEADY,
            "production",
            [_scope(users.headers(user, data)) for user, data in stream],
            steady,
            "the same with an Okta-shaped access token (access_token=OIDCAccessTokenConfig)",
            baseline=bare,
            subject=steady_app,
        ),
        Contender(
            report.BEARER_KNOWN,
            "machine clients",
            [_scope(headers) for headers in bearer_headers],
            steady,
            f"{users.count} machine clients, each with its bearer token (bearer=), no ALB header",
            baseline=bare,
            subject=steady_app,
        ),
        Contender(
            report.OIDC_NEW_SESSION,
            "new session",
            [_scope(sessions.headers(index)) for index in range(requests)],
            new_sessions,
            "a session's first request with an Okta-shaped access token",
            baseline=bare,
            subject=new_sessions_app,
        ),
    ]
