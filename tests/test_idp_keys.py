"""The keys of any OpenID Connect IdP (`ALBConfig.access_token`, `ALBConfig.bearer`) under the
traffic and the failures a deployment sees: cold starts, rotations, outages, kid floods, a moved
JWKS and cancelled requests.

The IdP is a `FakeIdP` whose issuer is a real server on 127.0.0.1: alb-oidc finds its JWKS
through `{issuer}/.well-known/openid-configuration` and fetches both over real loopback HTTP (the
same server publishes the ALB's key). The clock that decides expiry and cooldowns is the test's;
network delays are real.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import anyio
import httpx2
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from alb_oidc import ALBAuthenticator, ALBConfig, AuthError, KeyUnavailableError
from alb_oidc.testing import FakeALB, FakeIdP

from .conftest import Clock, asgi_headers
from .servers import serve

pytestmark = pytest.mark.integration

T = TypeVar("T")

USERS = 16
ARRIVAL_GAP = 0.02  # 16 users 20 ms apart: all of them arrive while one slow fetch runs
SLOW = 0.3  # each of the discovery document and the JWKS, when the server is slow
PAST_COOLDOWN = 31  # OIDCAccessTokenConfig.refresh_cooldown is 30 s
PAST_TTL = 3601  # OIDCAccessTokenConfig.jwks_ttl is 3600 s

PREFIX = "/oauth2/default"  # the issuer is f"{url}{PREFIX}", as Okta's are
DISCOVERY = f"{PREFIX}/.well-known/openid-configuration"
JWKS = f"{PREFIX}/v1/keys"  # FakeIdP's jwks_url, which its discovery document names
MOVED_JWKS = f"{PREFIX}/v2/keys"
ALB_KEY = "alb"  # the hit counter of /alb/{kid}
GOOD = "200"
UNKNOWN_KID = "401 bad_access_token"  # the JWKS was fetched, and has no such kid
UNAVAILABLE = "503 jwks_fetch_failed"  # the JWKS could not be fetched (ever, or last time)


class IdPServer:
    """An OpenID Connect IdP on loopback: the discovery document and JWKS of a `FakeIdP` whose
    issuer is this server, with knobs for slowness, failures and a moved JWKS, and a count of
    requests per path. It also serves the ALB's public key at /alb/{kid}."""

    def __init__(self) -> None:
        self.url = ""  # set once serving
        self._idp: FakeIdP | None = None
        self.alb: FakeALB | None = None
        #: Seconds before each discovery or JWKS answer.
        self.delay = 0.0
        #: A status to answer instead of 200, by path.
        self.status: dict[str, int] = {}
        #: What the discovery document says instead of the truth, if not None.
        self.discovery_issuer: str | None = None
        self.jwks_uri: str | None = None
        #: Requests by path (ALB_KEY for the ALB's key).
        self.hits: Counter[str] = Counter()

    def reset(self, alb: FakeALB, clock: Clock) -> None:
        """A new IdP whose issuer is this server, for `alb`, on `clock`; healthy, fast, no hits."""
        self.alb = alb
        self._idp = FakeIdP(issuer=f"{self.url}{PREFIX}", clock=clock)
        self.heal()
        self.delay = 0.0
        self.hits = Counter()

    @property
    def idp(self) -> FakeIdP:
        assert self._idp is not None, "reset() names the IdP"
        return self._idp

    @property
    def fake_alb(self) -> FakeALB:
        assert self.alb is not None, "reset() names the ALB"
        return self.alb

    def heal(self) -> None:
        """Answer every request as a healthy IdP again."""
        self.status.clear()
        self.discovery_issuer = self.jwks_uri = None

    def rotate(self) -> tuple[Any, str]:
        """The IdP signs with a new key under a new kid from now on, and its JWKS publishes only
        the new one; the old (key, kid)."""
        old = self.idp.key, self.idp.kid
        self.idp.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.idp.kid = f"rotated-{uuid.uuid4().hex[:8]}"
        return old

    async def discovery(self, request: Request) -> Response:
        self.hits[DISCOVERY] += 1
        await asyncio.sleep(self.delay)
        status = self.status.get(DISCOVERY, 200)
        if status != 200:
            return Response("unavailable", status_code=status)
        document = self.idp.discovery_document()
        if self.discovery_issuer is not None:
            document["issuer"] = self.discovery_issuer
        if self.jwks_uri is not None:
            document["jwks_uri"] = self.jwks_uri
        return JSONResponse(document)

    async def jwks(self, request: Request) -> Response:
        path = request.url.path
        self.hits[path] += 1
        await asyncio.sleep(self.delay)
        status = self.status.get(path, 200)
        if status != 200:
            return Response("unavailable", status_code=status)
        return JSONResponse(self.idp.jwks())

    async def alb_key(self, request: Request) -> Response:
        self.hits[ALB_KEY] += 1
        if request.path_params["kid"] != self.fake_alb.kid:
            return Response("not found", status_code=404)
        return Response(self.fake_alb.public_key_pem())

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route(DISCOVERY, self.discovery),
                Route(JWKS, self.jwks),
                Route(MOVED_JWKS, self.jwks),
                Route("/alb/{kid}", self.alb_key),
            ]
        )

    def config(self, **overrides: Any) -> ALBConfig:
        """The FakeALB's config, its key fetched from this server."""
        return self.fake_alb.config(key_url=f"{self.url}/alb/{{kid}}", **overrides)

    def login(self, sub: str, *, key: Any = None, kid: str | None = None) -> dict[str, str]:
        """The ALB's headers for `sub`, with an access token of the IdP (signed with `key` under
        `kid` if given: an old key, or a kid the JWKS does not have)."""
        header = None if kid is None else {"kid": kid}
        token = self.idp.access_token(sub, scopes=["tasks:read"], header=header, key=key)
        return self.fake_alb.headers(sub, access_token=token)

    def machine(self, client: str) -> dict[str, str]:
        """A machine client's request: a bearer token of the IdP."""
        return {"authorization": f"Bearer {self.idp.bearer_token(client, scopes=['jobs:run'])}"}


@pytest.fixture(scope="module")
def loopback() -> Iterator[IdPServer]:
    """One server for the module (starting and stopping uvicorn takes a while)."""
    idp_server = IdPServer()
    with serve(idp_server.app()) as url:
        idp_server.url = url
        yield idp_server


@pytest.fixture
def server(loopback: IdPServer, alb: FakeALB, clock: Clock) -> IdPServer:
    """The loopback IdP, reset for this test: a new FakeIdP on the test's clock."""
    loopback.reset(alb, clock)
    return loopback


def hits(**counts: int) -> Counter[str]:
    """A hit counter: discovery=, jwks=, moved=, alb= requests."""
    paths = {"discovery": DISCOVERY, "jwks": JWKS, "moved": MOVED_JWKS, "alb": ALB_KEY}
    return Counter({paths[name]: count for name, count in counts.items() if count})


def run(
    config: ALBConfig,
    clock: Clock,
    scenario: Callable[[ALBAuthenticator], Awaitable[T]],
    *,
    http_client: httpx2.AsyncClient | None = None,
) -> T:
    """Run `scenario` with a new authenticator (whose own client fetches the keys, unless
    `http_client` is given), and close it."""

    async def main() -> T:
        authenticator = ALBAuthenticator(config, http_client=http_client, clock=clock)
        try:
            return await scenario(authenticator)
        finally:
            await authenticator.aclose()
            if http_client is not None:
                await http_client.aclose()

    return anyio.run(main)


async def outcome(authenticator: ALBAuthenticator, headers: dict[str, str]) -> str:
    """GOOD, or the refusal as "status reason" (UNKNOWN_KID, UNAVAILABLE, ...)."""
    try:
        user = await authenticator.authenticate(asgi_headers(headers))
    except AuthError as exc:
        return f"{exc.status_code} {exc.reason}"
    return GOOD if user is not None else "anonymous"


async def staggered(
    authenticator: ALBAuthenticator,
    requests: list[dict[str, str]],
    *,
    durations: list[float] | None = None,
    catch_all: bool = False,
) -> list[str]:
    """Send each request ARRIVAL_GAP after the previous one; the outcome of each, in order (and
    how long each took, into `durations`). With `catch_all`, an exception that is not an
    `AuthError` is an outcome too ("error <type>") instead of failing the test."""
    outcomes = [""] * len(requests)
    took = [0.0] * len(requests)

    async def one(index: int, headers: dict[str, str]) -> None:
        await anyio.sleep(index * ARRIVAL_GAP)
        started = time.monotonic()
        try:
            outcomes[index] = await outcome(authenticator, headers)
        except Exception as exc:
            if not catch_all:
                raise
            outcomes[index] = f"error {type(exc).__name__}"
        took[index] = time.monotonic() - started

    async with anyio.create_task_group() as group:
        for index, headers in enumerate(requests):
            group.start_soon(one, index, headers)
    if durations is not None:
        durations[:] = took
    return outcomes


# --- 1. cold start -----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["access_token", "bearer"])
def test_cold_start_requests_arriving_during_discovery_and_jwks_fetch_wait_for_one_fetch(
    server: IdPServer, clock: Clock, kind: str
) -> None:
    """16 users (or machine clients) arrive 20 ms apart while the discovery document and the
    JWKS each take 300 ms: every one of them waits for the single flight and gets in, and the
    IdP sees exactly one discovery request and one JWKS request."""
    server.delay = SLOW
    idp = server.idp
    if kind == "access_token":
        config = server.config(access_token=idp.config())
        requests = [server.login(f"user-{index}") for index in range(USERS)]
    else:
        config = server.config(cognito=False, bearer=idp.config())
        requests = [server.machine(f"job-{index}") for index in range(USERS)]

    async def scenario(authenticator: ALBAuthenticator) -> tuple[list[str], int]:
        outcomes = await staggered(authenticator, requests)
        source = authenticator.jwks if kind == "access_token" else authenticator.bearer_jwks
        assert source is not None
        return outcomes, source.fetch_count

    outcomes, fetch_count = run(config, clock, scenario)
    assert outcomes == [GOOD] * USERS
    assert fetch_count == 1
    assert server.hits == hits(discovery=1, jwks=1, alb=int(kind == "access_token"))


# --- 2. rotation -------------------------------------------------------------------------------


def test_rotation_requests_with_the_new_kid_arriving_during_the_refresh_wait_for_it(
    server: IdPServer, clock: Clock
) -> None:
    """The IdP rotates to a new key under a new kid; 16 users with the new kid arrive during the
    slow refresh: all of them get in, on one JWKS refresh (from the jwks_uri already discovered:
    no second discovery request)."""
    config = server.config(access_token=server.idp.config())

    async def scenario(authenticator: ALBAuthenticator) -> list[str]:
        assert await outcome(authenticator, server.login("early-user")) == GOOD
        server.rotate()
        server.delay = SLOW
        clock.advance(PAST_COOLDOWN)
        return await staggered(
            authenticator, [server.login(f"user-{index}") for index in range(USERS)]
        )

    assert run(config, clock, scenario) == [GOOD] * USERS
    assert server.hits == hits(discovery=1, jwks=2, alb=1)


# --- 3. outages --------------------------------------------------------------------------------


def _jwks_500(server: IdPServer) -> None:
    server.status[JWKS] = 500


def _discovery_404(server: IdPServer) -> None:
    server.status[DISCOVERY] = 404


def _another_issuer(server: IdPServer) -> None:
    server.discovery_issuer = f"{server.url}/oauth2/other"


def _plain_http_jwks_uri(server: IdPServer) -> None:
    server.jwks_uri = f"http://keys.idp.example{JWKS}"


@pytest.mark.parametrize(
    ("breakage", "failed_hits", "why"),
    [
        pytest.param(_jwks_500, {"discovery": 1, "jwks": 1}, "HTTP 500", id="jwks-answers-500"),
        pytest.param(_discovery_404, {"discovery": 1}, "HTTP 404", id="discovery-answers-404"),
        pytest.param(
            _another_issuer,
            {"discovery": 1},
            "discovery document names another issuer",
            id="discovery-names-another-issuer",
        ),
        pytest.param(
            _plain_http_jwks_uri,
            {"discovery": 1},
            "discovery document's jwks_uri is not https",
            id="jwks_uri-plain-http-off-loopback",
        ),
    ],
)
def test_an_idp_outage_at_cold_start_is_a_503_until_it_recovers(
    server: IdPServer,
    clock: Clock,
    breakage: Callable[[IdPServer], None],
    failed_hits: dict[str, int],
    why: str,
) -> None:
    """Whatever stops the JWKS from being had at cold start (the JWKS failing, the discovery
    document missing, naming another issuer, or pointing at plain http off loopback, which is
    never fetched), the request gets a 503 `jwks_fetch_failed` whose message says why; a
    request within the cooldown is refused without another fetch; past the cooldown, a
    recovered IdP lets users in (re-discovering the JWKS). Every request alb-oidc makes goes to
    the loopback IdP."""
    requested: list[str] = []

    async def record(request: httpx2.Request) -> None:
        requested.append(str(request.url))

    client = httpx2.AsyncClient(timeout=2.0, event_hooks={"request": [record]})
    config = server.config(access_token=server.idp.config())
    breakage(server)

    async def scenario(
        authenticator: ALBAuthenticator,
    ) -> tuple[KeyUnavailableError, str, Counter[str], str]:
        with pytest.raises(KeyUnavailableError) as refused:
            await authenticator.authenticate(asgi_headers(server.login("alice")))
        again = await outcome(authenticator, server.login("bob"))  # within the cooldown
        during = Counter(server.hits)
        server.heal()
        clock.advance(PAST_COOLDOWN)
        return refused.value, again, during, await outcome(authenticator, server.login("carol"))

    error, again, during, recovered = run(config, clock, scenario, http_client=client)
    assert (error.status_code, error.reason) == (503, "jwks_fetch_failed")
    assert why in str(error)
    assert again == UNAVAILABLE
    assert during == hits(alb=1, **failed_hits)
    assert recovered == GOOD
    assert server.hits == during + hits(discovery=1, jwks=1)
    assert requested
    assert all(url.startswith(f"{server.url}/") for url in requested), requested


@pytest.mark.parametrize("trigger", ["unknown-kid-past-the-cooldown", "jwks-past-its-ttl"])
def test_keys_held_keep_working_while_and_after_a_refresh_fails(
    server: IdPServer, clock: Clock, trigger: str
) -> None:
    """A refresh fails (the JWKS answers 500, slowly): triggered either by a token with a kid
    the IdP rotated to, or by the JWKS growing stale. Users whose kid is held get in while the
    refresh runs (without waiting for it) and after it failed; the new kid gets a 503, not a
    401: it may well be in the document that could not be read, and clients retry a 503; one
    refresh in all."""
    config = server.config(access_token=server.idp.config())

    async def scenario(authenticator: ALBAuthenticator) -> tuple[list[str], list[float], str]:
        assert await outcome(authenticator, server.login("early-user")) == GOOD
        server.status[JWKS] = 500
        server.delay = SLOW
        if trigger == "jwks-past-its-ttl":
            clock.advance(PAST_TTL)
            old_key, old_kid = server.idp.key, server.idp.kid
            first = server.login("first-user")
        else:
            clock.advance(PAST_COOLDOWN)
            old_key, old_kid = server.rotate()
            first = server.login("new-kid-user")
        held = [server.login(f"user-{index}", key=old_key, kid=old_kid) for index in range(USERS)]
        durations: list[float] = []
        outcomes = await staggered(authenticator, [first, *held], durations=durations)
        # After the failed refresh, and within its cooldown: still in, and no new fetch.
        later = await outcome(authenticator, server.login("later", key=old_key, kid=old_kid))
        return outcomes, durations, later

    outcomes, durations, later = run(config, clock, scenario)
    first_outcome = GOOD if trigger == "jwks-past-its-ttl" else UNAVAILABLE
    assert outcomes == [first_outcome] + [GOOD] * USERS
    assert durations[0] >= SLOW * 0.9  # the first request ran the refresh ...
    assert max(durations[1:]) < SLOW / 2, durations  # ... the held key did not wait for it
    assert later == GOOD
    assert server.hits == hits(discovery=1, jwks=2, alb=1)


# --- 4. a flood of unknown kids ----------------------------------------------------------------

FLOOD = 200


def test_a_flood_of_unknown_kids_costs_at_most_one_jwks_refresh_per_cooldown(
    server: IdPServer, clock: Clock
) -> None:
    """200 tokens signed by the IdP's key but under random kids arrive at once, with real users
    among them, in three rounds: within the cooldown of the first fetch (no refresh), past it
    (exactly one refresh, which the whole flood shares), and within the cooldown again (none).
    The flood is refused as unknown kids; real users get in throughout, without waiting for the
    refresh; the discovery document is not asked for again."""
    config = server.config(access_token=server.idp.config())
    flood = [server.login("attacker", kid=uuid.uuid4().hex) for _ in range(FLOOD)]

    async def round_of_flood(authenticator: ALBAuthenticator) -> tuple[list[str], list[str]]:
        users = [server.login(f"user-{index}") for index in range(USERS)]
        flooded: list[str] = []
        durations: list[float] = []

        async def attack() -> None:
            flooded.extend(await asyncio.gather(*(outcome(authenticator, h) for h in flood)))

        async with anyio.create_task_group() as group:
            group.start_soon(attack)
            real = await staggered(authenticator, users, durations=durations)
        assert max(durations) < SLOW / 2, durations
        return flooded, real

    async def scenario(authenticator: ALBAuthenticator) -> list[Counter[str]]:
        assert await outcome(authenticator, server.login("early-user")) == GOOD
        server.delay = SLOW
        seen = []
        for advance in (0, PAST_COOLDOWN, 0):
            clock.advance(advance)
            flooded, real = await round_of_flood(authenticator)
            assert flooded == [UNKNOWN_KID] * FLOOD
            assert real == [GOOD] * USERS
            seen.append(Counter(server.hits))
        return seen

    within, past, within_again = run(config, clock, scenario)
    assert within == hits(discovery=1, jwks=1, alb=1)
    assert past == hits(discovery=1, jwks=2, alb=1)
    assert within_again == past


# --- 5. a moved JWKS ---------------------------------------------------------------------------


def test_the_jwks_is_rediscovered_after_a_failure(server: IdPServer, clock: Clock) -> None:
    """The IdP moves its keys: the old jwks_uri answers 500 and the discovery document names a
    new one, where the rotated key is. The refresh past the cooldown still asks the old URL and
    fails (held keys keep working; the new kid gets a 503 until the keys can be read); the
    next one, past the cooldown again, re-discovers and follows the new jwks_uri; the new kid
    gets in."""
    config = server.config(access_token=server.idp.config())

    async def scenario(authenticator: ALBAuthenticator) -> list[tuple[str, str, Counter[str]]]:
        assert await outcome(authenticator, server.login("early-user")) == GOOD
        old_key, old_kid = server.rotate()
        server.status[JWKS] = 500
        server.jwks_uri = f"{server.url}{MOVED_JWKS}"
        steps = []
        for advance in (PAST_COOLDOWN, 1, PAST_COOLDOWN):
            clock.advance(advance)
            new = await outcome(authenticator, server.login("new-kid-user"))
            old = await outcome(
                authenticator, server.login("old-kid-user", key=old_key, kid=old_kid)
            )
            steps.append((new, old, Counter(server.hits)))
        return steps

    failed, within_cooldown, followed = run(config, clock, scenario)
    assert failed == (UNAVAILABLE, GOOD, hits(discovery=1, jwks=2, alb=1))
    assert within_cooldown == (UNAVAILABLE, GOOD, hits(discovery=1, jwks=2, alb=1))
    # The new JWKS holds only the new key: the old kid is now unknown.
    assert followed == (GOOD, UNKNOWN_KID, hits(discovery=2, jwks=2, moved=1, alb=1))


# --- 6. the request that started the fetch is cancelled ----------------------------------------


@pytest.mark.parametrize("cancel_at", [SLOW / 2, SLOW * 1.5], ids=["mid-discovery", "mid-jwks"])
def test_cancelling_the_request_that_started_the_idp_fetch_refuses_nobody_else(
    server: IdPServer, clock: Clock, cancel_at: float
) -> None:
    """Three requests wait on the first one's slow discovery + JWKS fetch; asyncio cancels the
    first (a timeout around the app, a client that went away) during the discovery request or
    during the JWKS request; then one more request. The fetch is not the request's: it runs to
    its end, once, and everybody else gets in."""
    server.delay = SLOW
    config = server.config(access_token=server.idp.config())

    async def main() -> tuple[list[str], bool, int]:
        authenticator = ALBAuthenticator(config, clock=clock)
        outcomes: list[str] = []

        async def one(name: str, delay: float) -> None:
            await asyncio.sleep(delay)
            outcomes.append(await outcome(authenticator, server.login(name)))

        try:
            first = asyncio.create_task(one("first", 0))
            waiters = [asyncio.create_task(one(f"user-{index}", 0.05)) for index in range(3)]
            await asyncio.sleep(cancel_at)
            first.cancel()
            await asyncio.gather(first, *waiters, return_exceptions=True)
            await one("later", 0)
            assert authenticator.jwks is not None
            return outcomes, first.cancelled(), authenticator.jwks.fetch_count
        finally:
            await authenticator.aclose()

    outcomes, cancelled, fetch_count = asyncio.run(main())
    assert cancelled
    assert outcomes == [GOOD] * 4
    assert fetch_count == 1
    assert server.hits == hits(alb=1, discovery=1, jwks=1)


# --- discovery documents that name no usable URL -----------------------------------------------


@pytest.mark.parametrize(
    "jwks_uri",
    [
        pytest.param(f"http://127.0.0.1:notaport{JWKS}", id="bad-port"),
        pytest.param(f"http://[127.0.0.1{JWKS}", id="unclosed-bracket"),
    ],
)
def test_a_discovered_jwks_uri_that_is_no_url_is_an_outage_like_any_other(
    server: IdPServer, clock: Clock, jwks_uri: str
) -> None:
    """A discovery document whose jwks_uri is not a usable URL is an IdP failure like any
    other: 503 `jwks_fetch_failed` for the users who came during the fetch and within the
    cooldown, one attempt per cooldown (not one per request), and once the IdP fixes its
    discovery document, the next refresh past the cooldown re-discovers and lets users in."""
    server.jwks_uri = jwks_uri
    server.delay = SLOW / 3
    config = server.config(access_token=server.idp.config())

    async def scenario(authenticator: ALBAuthenticator) -> tuple[list[str], int, list[str]]:
        assert authenticator.jwks is not None
        users = [server.login(f"user-{index}") for index in range(4)]
        outcomes = await staggered(authenticator, users, catch_all=True)
        outcomes += await staggered(authenticator, [server.login("later")], catch_all=True)
        attempts = authenticator.jwks.fetch_count
        server.heal()
        clock.advance(PAST_COOLDOWN)
        healed = await staggered(authenticator, [server.login("healed")], catch_all=True)
        return outcomes, attempts, healed

    outcomes, attempts, healed = run(config, clock, scenario)
    assert outcomes == [UNAVAILABLE] * 5
    assert attempts == 1
    assert healed == [GOOD]
    assert server.hits == hits(discovery=2, jwks=1, alb=1)
