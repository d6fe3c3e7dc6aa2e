"""One authenticator, several event loops, and shutdown while a fetch runs.

An app object can outlive its event loop: a Lambda handler that runs `asyncio.run` per
invocation, a harness that closes a loop without cancelling its tasks, Starlette's TestClient
(a loop per `with` block, or per request without one). The key sources must then neither wait
for a fetch of a loop that is gone nor hold a failure that only the loop's end caused.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import uuid
import warnings
from collections.abc import Awaitable, Callable

import httpx2
import pytest

from alb_oidc import ALBAuthenticator, AuthError, OIDCAccessTokenConfig
from alb_oidc.keys import HTTPFetcher
from alb_oidc.testing import FakeALB, FakeIdP

from .conftest import asgi_headers
from .test_key_availability import KeyServer, config_for, key_server

__all__ = ["key_server"]  # the fixture, used here too

SLOW = 0.3


class Network:
    """The fake ALB's (and an IdP's) endpoints behind an async handler that can be slowed."""

    def __init__(self, alb: FakeALB, *idps: FakeIdP) -> None:
        self.alb = alb
        self.idps = idps
        self.delay = 0.0
        self.slow_paths: tuple[str, ...] = ("",)  # paths (prefixes) that wait `delay`
        self.requests: list[str] = []

    async def handle(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request.url.path)
        if self.delay and request.url.path.startswith(self.slow_paths):
            await asyncio.sleep(self.delay)
        for idp in self.idps:
            answer = idp.answer(request)
            if answer is not None:
                return answer
        return self.alb.handle(request)

    def client(self) -> httpx2.AsyncClient:
        return httpx2.AsyncClient(transport=httpx2.MockTransport(self.handle))


def sign_in(authenticator: ALBAuthenticator, alb: FakeALB, sub: str) -> Awaitable[object]:
    return authenticator.authenticate(asgi_headers(alb.headers(sub)))


def outcome(run: Callable[[], Awaitable[object]]) -> str:
    """The user's `sub`, or the refusal, of `run()` on a new event loop (`asyncio.run`)."""

    async def main() -> str:
        try:
            user = await asyncio.wait_for(run(), 5)
        except AuthError as exc:
            return f"{exc.status_code} {exc.code}"
        except TimeoutError:
            return "gave up"
        return str(user.sub)  # type: ignore[attr-defined]

    return asyncio.run(main())


def abandon(request: Awaitable[object]) -> None:
    """Run `request` on a loop for a moment, then close that loop without cancelling its tasks
    (as a hand-written Lambda handler or an old test harness does)."""
    loop = asyncio.new_event_loop()
    with contextlib.suppress(TimeoutError):
        loop.run_until_complete(asyncio.wait_for(request, 0.05))
    with warnings.catch_warnings():  # "Task was destroyed but it is pending": the point here
        warnings.simplefilter("ignore")
        loop.close()


@pytest.mark.parametrize("which", ["ALB key", "JWKS"])
def test_a_fetch_left_by_a_closed_loop_is_not_waited_for(alb: FakeALB, which: str) -> None:
    network = Network(alb)
    authenticator = ALBAuthenticator(alb.config(), http_client=network.client())
    if which == "JWKS":  # the ALB key held: only the JWKS is in flight when the loop closes
        asyncio.run(authenticator.verify_data_token(alb.data_token()))
    network.delay = SLOW
    abandon(sign_in(authenticator, alb, "alice"))
    network.delay = 0.0
    # Before: RuntimeError (the flight's event belongs to the closed loop), on every loop after.
    assert outcome(lambda: sign_in(authenticator, alb, "bob")) == "bob"
    assert outcome(lambda: sign_in(authenticator, alb, "carol")) == "carol"


def test_a_jwks_refresh_cancelled_by_its_loops_end_does_not_spend_the_cooldown(
    alb: FakeALB,
) -> None:
    network = Network(alb)
    authenticator = ALBAuthenticator(alb.config(), http_client=network.client())
    asyncio.run(authenticator.verify_data_token(alb.data_token()))
    network.delay = SLOW
    # The request gives up; `asyncio.run` then cancels the JWKS fetch's own task as it ends.
    assert outcome(lambda: asyncio.wait_for(sign_in(authenticator, alb, "alice"), 0.05)) == (
        "gave up"
    )
    network.delay = 0.0
    # Before: 401 bad_access_token ("kid is not in the user pool's JWKS") for the cooldown.
    assert outcome(lambda: sign_in(authenticator, alb, "bob")) == "bob"
    assert authenticator.jwks is not None
    assert authenticator.jwks.fetch_count == 2


def test_the_fetchers_own_client_follows_the_event_loop(
    alb: FakeALB, key_server: tuple[KeyServer, str]
) -> None:
    server, url = key_server
    authenticator = ALBAuthenticator(config_for(alb, url))  # its own client, kept alive
    assert outcome(lambda: sign_in(authenticator, alb, "alice")) == "alice"
    alb.kid = str(uuid.uuid4())  # a new kid (the same key: enough here), fetched on a new loop
    # Before: the first loop's pooled connection failed the fetch ("Event loop is closed"), and
    # that failure was held for key_failure_ttl: 503 for every user.
    assert outcome(lambda: sign_in(authenticator, alb, "bob")) == "bob"
    assert outcome(lambda: sign_in(authenticator, alb, "carol")) == "carol"
    assert server.alb_requests == 2
    asyncio.run(authenticator.aclose())


def test_discovery_and_the_jwks_share_one_deadline(alb: FakeALB) -> None:
    idp = FakeIdP()
    network = Network(alb, idp)
    config = alb.config(
        access_token=OIDCAccessTokenConfig(issuer=idp.issuer, audiences=idp.audiences),
        key_fetch_timeout=0.5,
    )
    authenticator = ALBAuthenticator(config, http_client=network.client())
    asyncio.run(authenticator.verify_data_token(alb.data_token()))  # the ALB key, at once
    network.delay, network.slow_paths = 0.4, ("/oauth2/default",)  # discovery, then the JWKS
    headers = alb.headers("alice", access_token=idp.access_token("alice"))
    began = time.monotonic()
    refusal = outcome(lambda: authenticator.authenticate(asgi_headers(headers)))
    elapsed = time.monotonic() - began
    assert refusal == "503 key_unavailable"
    # Before: each GET had its own 0.5 s, so this took 0.8 s (up to twice the timeout).
    assert elapsed < 0.75, elapsed


def test_a_fetch_cut_short_by_aclose_is_not_held_against_the_endpoint(
    alb: FakeALB, key_server: tuple[KeyServer, str]
) -> None:
    _, url = key_server
    authenticator = ALBAuthenticator(config_for(alb, url))

    async def shutdown_during_a_fetch() -> str:
        fetcher: HTTPFetcher = authenticator._fetcher
        original = fetcher._get

        async def slow_get(client: httpx2.AsyncClient, target: str, limit: int) -> bytes:
            await asyncio.sleep(SLOW)  # the client is closed meanwhile
            return await original(client, target, limit)

        fetcher._get = slow_get  # type: ignore[method-assign]
        request = asyncio.ensure_future(sign_in(authenticator, alb, "alice"))
        await asyncio.sleep(0.05)
        await authenticator.aclose()
        try:
            await request
        except AuthError as exc:
            return f"{exc.status_code} {exc.code} {exc}"
        finally:
            fetcher._get = original  # type: ignore[method-assign]
        return "signed in"

    cut = asyncio.run(shutdown_during_a_fetch())
    assert cut.startswith("503 key_unavailable"), cut
    assert "client closed" in cut
    # Before: that failure was held for key_failure_ttl, a 503 for every request after it.
    assert outcome(lambda: sign_in(authenticator, alb, "bob")) == "bob"
    asyncio.run(authenticator.aclose())


@pytest.mark.parametrize("which", ["ALB key", "JWKS"])
def test_requests_on_several_running_loops_share_one_fetch(alb: FakeALB, which: str) -> None:
    # A threaded server calling asyncio.run per request: each thread its own running loop.
    network = Network(alb)
    authenticator = ALBAuthenticator(alb.config(), http_client=network.client())
    if which == "JWKS":
        asyncio.run(authenticator.verify_data_token(alb.data_token()))
    network.delay, network.requests = SLOW, []
    assert alb.pool_key  # made now: the fake user pool makes its key on first use, unlocked
    threads = 8
    start = threading.Barrier(threads)
    outcomes: list[str] = []

    def one(index: int) -> None:
        start.wait()
        outcomes.append(outcome(lambda: sign_in(authenticator, alb, f"user-{index}")))

    workers = [threading.Thread(target=one, args=(index,)) for index in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(10)
    assert sorted(outcomes) == sorted(f"user-{index}" for index in range(threads))
    fetched = [path for path in network.requests if ("jwks" in path) == (which == "JWKS")]
    assert len(fetched) == 1, network.requests  # the others waited through the fetch's loop


def test_an_httpx_async_client_is_used_as_it_is(alb: FakeALB) -> None:
    httpx = pytest.importorskip("httpx")  # the original of httpx2's API (a dev dependency here)
    key = alb.public_key_pem()
    client = httpx.AsyncClient(
        transport=httpx.MockTransport(lambda _: httpx.Response(200, content=key))
    )
    authenticator = ALBAuthenticator(alb.config(cognito=False), http_client=client)
    assert outcome(lambda: sign_in(authenticator, alb, "alice")) == "alice"
