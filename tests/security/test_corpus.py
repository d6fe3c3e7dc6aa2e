"""Every attack of the corpus gets 401 from the middleware, and causes no outbound fetch.

The ALB attacks go to an app that verifies Cognito access tokens; the token attacks (another
IdP's access tokens, machine clients' bearer tokens) to the app of their setting, next to
controls that app must accept.
"""

from __future__ import annotations

import json
from typing import Any

import anyio
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from alb_oidc import ALBAuthMiddleware
from alb_oidc.testing import FakeALB

from ..conftest import asgi_get, asgi_headers
from .attacks import (
    ATTACKS,
    CONTROLS,
    EXPECTED_DETAIL,
    EXPECTED_ERROR,
    KNOWN_BUGS,
    LEEWAY,
    SETTINGS,
    TOKEN_ATTACKS,
    Attack,
    Control,
    Headers,
    Scene,
    TokenAttack,
)


async def me(request: Request) -> JSONResponse:
    return JSONResponse({"sub": request.user.sub})


def protected(alb: FakeALB) -> ALBAuthMiddleware:
    app = Starlette(routes=[Route("/me", me)])
    return ALBAuthMiddleware(
        app, alb.config(leeway=LEEWAY), http_client=alb.http_client(), clock=alb.clock
    )


async def call(app: ALBAuthMiddleware, headers: Headers) -> tuple[int, dict[str, Any]]:
    """One GET /me through the ASGI app with exactly these header bytes."""
    status, body = await asgi_get(app, "/me", headers)
    return status, json.loads(body)


def cases(attacks: list[Any]) -> list[Any]:
    """`attacks` as pytest parameters named after them; a known bug's case is xfail(strict)."""
    return [
        pytest.param(
            attack,
            id=attack.name,
            marks=[
                pytest.mark.xfail(
                    strict=True,
                    reason=KNOWN_BUGS[attack.name].reason,
                    raises=KNOWN_BUGS[attack.name].raises,
                )
            ]
            if attack.name in KNOWN_BUGS
            else [],
        )
        for attack in attacks
    ]


def test_the_corpus_is_large_and_every_case_is_distinct() -> None:
    everything: list[Attack | TokenAttack | Control] = [*ATTACKS, *TOKEN_ATTACKS, *CONTROLS]
    names = {case.name for case in everything}
    assert len(ATTACKS) >= 40
    assert len(TOKEN_ATTACKS) >= 100
    assert len(names) == len(everything)
    assert all(case.reason for case in everything)
    token_cases: list[TokenAttack | Control] = [*TOKEN_ATTACKS, *CONTROLS]
    assert set(EXPECTED_ERROR) == {attack.name for attack in ATTACKS} | {
        attack.name for attack in TOKEN_ATTACKS
    }
    assert set(EXPECTED_DETAIL) == {attack.name for attack in TOKEN_ATTACKS}
    assert all(EXPECTED_DETAIL.values())  # an empty detail would match any answer
    assert set(KNOWN_BUGS) <= names
    assert {case.setting for case in token_cases} <= set(SETTINGS)


def test_the_victims_own_request_is_accepted(alb: FakeALB) -> None:
    app = protected(alb)
    headers = asgi_headers(alb.headers("victim"))
    assert anyio.run(call, app, headers) == (200, {"sub": "victim"})


@pytest.mark.parametrize("attack", cases(ATTACKS))
def test_attack_is_refused_with_401_and_no_fetch(alb: FakeALB, attack: Attack) -> None:
    app = protected(alb)

    async def scenario() -> tuple[int, dict[str, Any], int]:
        # The victim logs in first, so the ALB key and the JWKS are cached.
        valid = asgi_headers(alb.headers("victim"))
        assert (await call(app, valid))[0] == 200
        fetched = len(alb.requests)
        status, body = await call(app, attack.build(alb))
        return status, body, len(alb.requests) - fetched

    status, body, new_fetches = anyio.run(scenario)
    assert status == 401, f"{attack.reason}: got {status} {body}"
    assert body["error"] == EXPECTED_ERROR[attack.name], attack.reason
    assert "sub" not in body
    assert new_fetches == 0, f"{attack.reason}: caused {new_fetches} fetch(es)"


@pytest.mark.parametrize("attack", [pytest.param(attack, id=attack.name) for attack in ATTACKS])
def test_attack_gets_the_same_answer_from_a_fresh_app(alb: FakeALB, attack: Attack) -> None:
    """The test above refuses each attack after the victim's request, so an attack that keeps
    the victim's header bytes meets a header the app has verified before. A fresh app has seen
    no header: both must give the same answer."""

    async def answer(warm: bool) -> tuple[int, str]:
        app = protected(alb)
        if warm:
            assert (await call(app, asgi_headers(alb.headers("victim"))))[0] == 200
        status, body = await call(app, attack.build(alb))
        return status, body.get("error", "")

    async def both() -> tuple[tuple[int, str], tuple[int, str]]:
        return await answer(warm=True), await answer(warm=False)

    warm, fresh = anyio.run(both)
    assert warm == fresh, attack.reason


def token_app(scene: Scene) -> ALBAuthMiddleware:
    app = Starlette(routes=[Route("/me", me)])
    client = scene.alb.http_client(scene.idp)
    return ALBAuthMiddleware(app, scene.config, http_client=client, clock=scene.alb.clock)


def fetches(scene: Scene) -> int:
    return len(scene.alb.requests) + len(scene.idp.requests)


async def warmed_up(scene: Scene, app: ALBAuthMiddleware, primes: list[Headers]) -> None:
    """The setting's valid requests, then `primes`: each accepted (so every key is held)."""
    for headers in [*scene.warm_up(), *primes]:
        status, body = await call(app, headers)
        assert status == 200, body


@pytest.mark.parametrize("attack", cases(TOKEN_ATTACKS))
def test_token_attack_is_refused_with_401_and_no_fetch(alb: FakeALB, attack: TokenAttack) -> None:
    scene = SETTINGS[attack.setting](alb)
    app = token_app(scene)

    async def scenario() -> tuple[int, dict[str, Any], int]:
        await warmed_up(scene, app, attack.prime(scene) if attack.prime else [])
        fetched = fetches(scene)
        status, body = await call(app, attack.build(scene))
        return status, body, fetches(scene) - fetched

    status, body, new_fetches = anyio.run(scenario)
    assert status == 401, f"{attack.reason}: got {status} {body}"
    assert body["error"] == EXPECTED_ERROR[attack.name], f"{attack.reason}: {body}"
    assert EXPECTED_DETAIL[attack.name] in body["detail"], f"{attack.reason}: {body}"
    assert "sub" not in body
    assert new_fetches == 0, f"{attack.reason}: caused {new_fetches} fetch(es)"


@pytest.mark.parametrize("control", cases(CONTROLS))
def test_control_is_accepted(alb: FakeALB, control: Control) -> None:
    scene = SETTINGS[control.setting](alb)
    app = token_app(scene)

    async def scenario() -> tuple[int, dict[str, Any]]:
        await warmed_up(scene, app, [])
        return await call(app, control.build(scene))

    assert anyio.run(scenario) == (200, {"sub": control.sub}), control.reason
