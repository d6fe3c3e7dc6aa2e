"""The soak (bench/soak.py) in the suite: its counts are asserted, its speed is only printed."""

from __future__ import annotations

import pytest

from bench.soak import run

pytestmark = pytest.mark.integration


def test_soak_accepts_no_forgery_and_never_answers_5xx() -> None:
    result = run(20_000)
    print(result)  # the rate and RSS, for the log
    assert result["requests"] == 20_000
    assert result["forged"] == 2_000
    assert result["forged_accepted"] == 0
    assert result["5xx"] == 0
    assert result["legit_refused"] == 0
    assert result["statuses"] == {"200": 18_000, "401": 2_000}
    # RSS flat: the caches are bounded (4,096 results, 64 keys); allow allocator noise.
    assert result["server_rss_growth_mb"] < 20
