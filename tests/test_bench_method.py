"""The in-process benchmark's arithmetic (bench/micro.py): its figures are only printed, but how
they are computed is tested like any other code."""

from __future__ import annotations

import pytest

from bench.micro import Contender, interleave
from bench.report import FLOOR, PLAIN, PROTECTED, SERVER_FLOOR, TWO_WORKERS, Result


def test_a_baseline_is_subtracted_batch_by_batch() -> None:
    bare = Contender("bare", "harness", [], print, samples=[1.0, 9.0, 1.0])
    row = Contender("row", "production", [], print, samples=[5.0, 14.0, 6.0], baseline=bare)
    # Paired differences 4, 5, 5: a slow spell (the second batch) hits both and cancels out.
    assert row.us == 5.0
    assert bare.us == 1.0


def test_interleave_gives_every_contender_one_sample_per_batch_each_item_once() -> None:
    seen: list[tuple[str, int]] = []
    first = Contender("a", "x", list(range(20)), lambda item: seen.append(("a", item)))
    second = Contender("b", "x", list(range(100, 120)), lambda item: seen.append(("b", item)))
    interleave([first, second], batch=5, rounds=2)
    assert len(first.samples) == len(second.samples) == 4
    assert sorted(item for name, item in seen if name == "a") == list(range(20))
    # The order turns at every batch: each contender follows the other as often.
    assert [name for name, _ in seen] == (["a"] * 5 + ["b"] * 5 + ["b"] * 5 + ["a"] * 5) * 2


def _loads(**rps: float) -> dict[str, dict[str, float]]:
    return {name: {"rps": value, "p50_ms": 1.0, "p99_ms": 2.0} for name, value in rps.items()}


def test_the_load_test_compares_the_middleware_with_the_floor_measured_in_the_server() -> None:
    result = Result(command="bench")
    result.add(FLOOR, 50.0, group="floor")
    # 1/8000 - 1/20000 s = 75 us added by the middleware, 1.5x the in-process floor; the raw
    # verification alone adds 1/12500 - 1/20000 s = 30 us in the same server: 2.5 times that.
    result.http = _loads(**{PLAIN: 20000, SERVER_FLOOR: 12500, PROTECTED: 8000, TWO_WORKERS: 15000})
    assert result.added_us() == pytest.approx(75.0)
    assert result.floor_in_server_us() == pytest.approx(30.0)
    mark = result.marks()["uvicorn: added per request"]
    assert mark.startswith("2.50x floor in the server")
    assert "MISSED" in mark
    assert "1.50x the in-process floor" in result.table()
    # Without the server's own floor, the in-process floor is what there is.
    del result.http[SERVER_FLOOR]
    assert result.marks()["uvicorn: added per request"].startswith("1.50x floor ")
