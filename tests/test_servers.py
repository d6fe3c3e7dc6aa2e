"""The test helpers' own contract: a missing component skips locally and fails under CI=true."""

from __future__ import annotations

import pytest

from .servers import require


def test_a_missing_component_skips_locally(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="widget is not installed"):
        require(False, "widget")


def test_a_missing_component_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="widget is required under CI=true"):
        require(False, "widget")


def test_a_present_component_neither_skips_nor_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    require(True, "widget")
