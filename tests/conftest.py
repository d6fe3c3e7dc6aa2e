"""Shared fixtures: a controllable clock and a FakeALB that uses it."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from alb_oidc.testing import FakeALB

START = 1_800_000_000.0


class Clock:
    """A clock tests move by hand: no sleeps, no monkeypatching."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def asgi_headers(headers: Mapping[str, str]) -> list[tuple[bytes, bytes]]:
    """Headers as an ASGI server passes them: (name, value) byte pairs, new objects each call."""
    return [(name.encode(), value.encode("utf-8")) for name, value in headers.items()]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def alb(clock: Clock) -> FakeALB:
    return FakeALB(clock=clock)
