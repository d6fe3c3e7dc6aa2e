"""The in-process benchmark's arithmetic (bench/micro.py): its figures are only printed, but how
they are computed is tested like any other code."""

from __future__ import annotations

from bench.micro import Contender, interleave


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
    assert [name for name, _ in seen] == (["a"] * 5 + ["b"] * 5) * 4
