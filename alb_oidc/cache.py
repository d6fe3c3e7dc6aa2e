"""Bounded in-memory caches: an LRU for keys, and the verified-result cache.

`ResultCache` is what makes the steady state cheap. One user's browser sends the same data token
(and access token) on every request until the ALB issues a new one, so the verified outcome is
remembered, keyed by the exact header bytes:

- a hit needs the very same bytes (dict lookup: hash, then a full byte comparison), so bytes that
  were never verified can never get a result, however they hash;
- an entry is trusted only until the earliest `exp` of the tokens it was built from (plus the
  configured leeway, exactly like a fresh verification), and never longer than `ttl` seconds
  after it was verified;
- it holds at most `maxsize` entries, least recently used out first, so memory is bounded
  whatever the traffic.

Only successes are stored: a refused request is verified again (and refused again) every time.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

__all__ = ["LRUCache", "ResultCache"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class LRUCache(Generic[K, V]):
    """A dict with at most `maxsize` entries; the least recently used goes first."""

    __slots__ = ("_data", "maxsize")

    def __init__(self, maxsize: int) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self.maxsize = maxsize
        self._data: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        """The value for `key` (now the most recently used), or None."""
        value = self._data.get(key)
        if value is not None:
            self._data.move_to_end(key)
        return value

    def __setitem__(self, key: K, value: V) -> None:
        data = self._data
        data[key] = value
        data.move_to_end(key)
        if len(data) > self.maxsize:
            data.popitem(last=False)

    def pop(self, key: K) -> V | None:
        """Remove `key`; return its value, or None."""
        return self._data.pop(key, None)

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __len__(self) -> int:
        return len(self._data)

    def clear(self) -> None:
        """Remove every entry."""
        self._data.clear()


class ResultCache(Generic[K, V]):
    """Verified results keyed by the exact bytes they were verified from (see the module doc).

    An entry is found by `key` (hashed) and must also match `extra` (compared, not hashed: the
    access token rides along with the data token, so only the data token is hashed). `maxsize`
    or `ttl` 0 turns the cache off. `get` returns a value only while `now <= expires_at`, where
    `put` computed `expires_at` as the earlier of `valid_until` and `now + ttl`.
    """

    __slots__ = ("_entries", "hits", "misses", "ttl")

    def __init__(self, maxsize: int, ttl: float) -> None:
        self._entries: LRUCache[K, tuple[V, float, object]] | None = (
            LRUCache(maxsize) if maxsize > 0 and ttl > 0 else None
        )
        self.ttl = ttl
        self.hits = 0
        self.misses = 0

    def get(self, key: K, now: float, extra: object = None) -> V | None:
        """The result stored for exactly `key` and `extra`, if it is still valid at `now`."""
        entries = self._entries
        if entries is None:
            return None
        entry = entries.get(key)
        if entry is None or entry[2] != extra:
            self.misses += 1
            return None
        value, expires_at, _ = entry
        if now > expires_at:
            entries.pop(key)
            self.misses += 1
            return None
        self.hits += 1
        return value

    def put(
        self, key: K, value: V, *, now: float, valid_until: float, extra: object = None
    ) -> None:
        """Store a result verified at `now` and valid (by its tokens) until `valid_until`."""
        if self._entries is not None and now <= valid_until:
            self._entries[key] = (value, min(valid_until, now + self.ttl), extra)

    def __len__(self) -> int:
        return 0 if self._entries is None else len(self._entries)

    def clear(self) -> None:
        """Forget every result (the next request of each user is verified in full)."""
        if self._entries is not None:
            self._entries.clear()
