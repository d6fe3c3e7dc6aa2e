"""The in-process benchmark's arithmetic (bench/micro.py): its figures are only printed, but how
they are computed is tested like any other code."""

from __future__ import annotations

from collections import Counter
from itertools import pairwise

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
    assert sorted(item for name, item in seen if name == "b") == list(range(100, 120))
    # Batches stay whole: the calls come in runs of five of one contender.
    assert all(len({name for name, _ in seen[start : start + 5]}) == 1 for start in range(0, 40, 5))


def test_in_interleave_each_contender_follows_each_other_alike() -> None:
    batches: list[str] = []
    names = "abcd"
    contenders = [
        Contender(name, "x", list(range(300)), lambda item, name=name: batches.append(name))
        for name in names
    ]
    interleave(contenders, batch=1, rounds=1)
    follows = Counter(pairwise(batches))
    pairs = [(before, after) for before in names for after in names if before != after]
    # 1,199 successions over 12 ordered pairs of different contenders (and a few repeats across
    # turns): about 90 each. A fixed order, turned by one per batch or not, gives most pairs 0.
    assert min(follows[pair] for pair in pairs) > 50
    assert max(follows[pair] for pair in pairs) < 140


def _loads(**rps: float) -> dict[str, dict[str, float]]:
    return {name: {"rps": value, "p50_ms": 1.0, "p99_ms": 2.0} for name, value in rps.items()}


def test_the_load_test_is_marked_against_the_floor_and_shows_the_servers_own() -> None:
    result = Result(command="bench")
    result.add(FLOOR, 50.0, group="floor")
    # 1/8000 - 1/20000 s = 75 us added by the middleware, 1.5x the in-process floor; the raw
    # verification alone adds 1/12500 - 1/20000 s = 30 us in the same server: 2.5 times that.
    result.http = _loads(**{PLAIN: 20000, SERVER_FLOOR: 12500, PROTECTED: 8000, TWO_WORKERS: 15000})
    assert result.added_us() == pytest.approx(75.0)
    assert result.floor_in_server_us() == pytest.approx(30.0)
    assert result.marks()["uvicorn: added per request"] == "1.50x floor (target <= 1.30x) MISSED"
    assert "2.50x the floor in the server" in result.table()
    del result.http[SERVER_FLOOR]
    assert "in the server" not in result.table()
