"""pytest plugin (registered on install): the `fake_alb` fixture."""

from __future__ import annotations

import pytest

from .testing import FakeALB


@pytest.fixture
def fake_alb() -> FakeALB:
    """A fresh `FakeALB`: its own keys, the default test ARN, client id and user pool."""
    return FakeALB()
