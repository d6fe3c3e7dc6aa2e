"""Timing: medians of per-call means over many small batches, with the garbage collector off."""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, TypeVar

T = TypeVar("T")


def run_now(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never suspends (every key already cached) without an event loop.

    This measures the CPU cost of the async code itself. If the coroutine does suspend, the
    benchmark is wrong (it would be timing a fetch), so that is an error.
    """
    try:
        coroutine.send(None)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
    coroutine.close()
    raise RuntimeError("the measured call suspended: a key was not cached")


def per_call_us(
    call: Callable[[Any], object], items: Sequence[Any], *, batch: int, rounds: int
) -> float:
    """Median over batches of the mean time per `call(item)`, in microseconds."""
    return statistics.median(per_call_samples(call, items, batch=batch, rounds=rounds))


def per_call_samples(
    call: Callable[[Any], object], items: Sequence[Any], *, batch: int, rounds: int
) -> list[float]:
    """The mean time per `call(item)` of each batch, in microseconds.

    `items` are consumed `batch` at a time; every round goes through all of them once.
    """
    samples: list[float] = []
    enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(rounds):
            for start in range(0, len(items) - batch + 1, batch):
                chunk = items[start : start + batch]
                began = time.perf_counter_ns()
                for item in chunk:
                    call(item)
                samples.append((time.perf_counter_ns() - began) / len(chunk) / 1000)
    finally:
        if enabled:
            gc.enable()
    return samples
