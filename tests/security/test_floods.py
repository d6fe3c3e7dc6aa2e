"""Floods of random key ids: the attacker controls the unverified header, not our fetches."""

from __future__ import annotations

import base64
import json
import uuid

import anyio
import pytest

from alb_oidc import ALBAuthenticator, AuthError
from alb_oidc.testing import FakeALB, b64url

from ..conftest import Clock, asgi_headers

FLOOD = 10_000


def _flood(authenticator: ALBAuthenticator, attack: list, legit: list) -> tuple[dict, int]:
    """Send the attack requests with a legitimate one after every 100th; count outcomes."""
    outcomes: dict[str, int] = {}
    accepted_legit = 0

    async def run() -> None:
        nonlocal accepted_legit
        for index, headers in enumerate(attack):
            try:
                await authenticator.authenticate(headers)
                outcomes["accepted"] = outcomes.get("accepted", 0) + 1
            except AuthError as exc:
                outcomes[exc.code] = outcomes.get(exc.code, 0) + 1
            if index % 100 == 0:
                user = await authenticator.authenticate(legit)
                accepted_legit += user is not None

    anyio.run(run)
    return outcomes, accepted_legit


def test_random_alb_kids_with_the_right_signer_cause_bounded_fetches(clock: Clock) -> None:
    alb = FakeALB(clock=clock)
    config = alb.config(cognito=False, max_key_fetches_per_minute=30)
    authenticator = ALBAuthenticator(config, http_client=alb.http_client(), clock=clock)
    legit = asgi_headers({"x-amzn-oidc-data": alb.data_token("legit")})
    assert anyio.run(authenticator.authenticate, legit) is not None
    # Signatures do not matter: the kid is looked up before the signature can be checked.
    template = alb.data_token("attacker")
    header, payload, signature = template.split(".")
    decoded = json.loads(base64.urlsafe_b64decode(header))
    attack = []
    for _ in range(FLOOD):
        head = b64url(json.dumps({**decoded, "kid": str(uuid.uuid4())}).encode())
        attack.append([(b"x-amzn-oidc-data", f"{head}.{payload}.{signature}".encode())])
    outcomes, accepted_legit = _flood(authenticator, attack, legit)
    # Kids seen once may spend the per-minute budget (30) down to its reserved half, the
    # legitimate key's fetch included, whatever the flood's size. A random kid the filter of
    # first sightings takes for one seen before (a false positive: about 2 in 100,000 here) may
    # also spend a reserved token; the budget itself is never exceeded.
    fetched = len(alb.requests)
    assert 30 - 15 <= fetched <= 30
    assert outcomes == {"key_unavailable": FLOOD}
    assert accepted_legit == FLOOD // 100
    # A minute later the budget has refilled: the flood again gets its unreserved half, and the
    # whole run stays within two minutes' budget.
    clock.advance(60)
    outcomes, _ = _flood(authenticator, attack[:1000], legit)
    assert fetched + 15 <= len(alb.requests) <= 60


def test_random_cognito_kids_do_not_refetch_the_jwks(clock: Clock) -> None:
    alb = FakeALB(clock=clock)
    authenticator = ALBAuthenticator(alb.config(), http_client=alb.http_client(), clock=clock)
    legit = asgi_headers(alb.headers("legit"))
    assert anyio.run(authenticator.authenticate, legit) is not None
    assert authenticator.jwks is not None
    fetched = authenticator.jwks.fetch_count
    data = alb.data_token("attacker")
    real = alb.access_token("attacker").split(".")
    attack = []
    for _ in range(FLOOD):
        head = b64url(json.dumps({"alg": "RS256", "kid": str(uuid.uuid4())}).encode(), padded=False)
        token = f"{head}.{real[1]}.{real[2]}"
        attack.append(
            [(b"x-amzn-oidc-data", data.encode()), (b"x-amzn-oidc-accesstoken", token.encode())]
        )
    outcomes, accepted_legit = _flood(authenticator, attack, legit)
    assert authenticator.jwks.fetch_count == fetched  # within refresh_cooldown: none
    assert outcomes == {"bad_access_token": FLOOD}
    assert accepted_legit == FLOOD // 100
    clock.advance(31)  # past refresh_cooldown: at most one refetch, however many kids
    _flood(authenticator, attack[:1000], legit)
    assert authenticator.jwks.fetch_count == fetched + 1


def _forged(alb: FakeALB, kid: str) -> list[tuple[bytes, bytes]]:
    """A token with the right signer, client and issuer but a kid of the attacker's choosing."""
    return asgi_headers({"x-amzn-oidc-data": alb.data_token("attacker", header={"kid": kid})})


@pytest.mark.parametrize(
    ("per_second", "repeats", "pumped"),
    [
        pytest.param(1, 1, 0, id="30-at-once-then-1-per-second"),
        pytest.param(5, 1, 0, id="5-random-kids-per-second"),
        pytest.param(3, 2, 0, id="each-random-kid-sent-twice"),
        pytest.param(1000, 1, 0, id="1000-random-kids-per-second"),
        pytest.param(5, 1, 1000, id="one-kid-pumped-1000-times-then-silent"),
    ],
)
def test_a_kid_flood_does_not_starve_the_key_real_traffic_needs(
    clock: Clock, per_second: int, repeats: int, pumped: int
) -> None:
    """Cold start (the ALB's key is not held yet) under a flood of random kids, for ten
    simulated minutes, with a real user every five seconds: the real key is fetched within a
    minute, and outbound fetches stay within the per-minute budget."""
    alb = FakeALB(clock=clock)
    config = alb.config(cognito=False, max_key_fetches_per_minute=30)
    authenticator = ALBAuthenticator(config, http_client=alb.http_client(), clock=clock)
    outcomes: list[str] = []

    async def send(headers: list[tuple[bytes, bytes]]) -> str:
        try:
            return "200" if await authenticator.authenticate(headers) else "anonymous"
        except AuthError as exc:
            return exc.code

    async def run() -> None:
        for _ in range(30):
            await send(_forged(alb, str(uuid.uuid4())))
        if pumped:
            for _ in range(40):  # empty the budget with kids sent twice each
                pair = _forged(alb, str(uuid.uuid4()))
                await send(pair)
                await send(pair)
            decoy = _forged(alb, str(uuid.uuid4()))
            for _ in range(pumped):  # more than the real kid will ever be asked for; then silence
                await send(decoy)
        for second in range(600 if per_second < 100 else 120):
            for _ in range(per_second):
                forged = _forged(alb, str(uuid.uuid4()))
                for _ in range(repeats):
                    await send(forged)
            if second % 5 == 0:
                outcomes.append(await send(asgi_headers({"x-amzn-oidc-data": alb.data_token()})))
            clock.advance(1)

    anyio.run(run)
    minutes = len(outcomes) // 12
    first_ok = outcomes.index("200") if "200" in outcomes else len(outcomes)
    assert first_ok * 5 < 60, outcomes[:15]
    assert outcomes[first_ok:] == ["200"] * (len(outcomes) - first_ok)
    assert len(alb.requests) <= 30 + 30 * minutes  # the whole budget, no more
