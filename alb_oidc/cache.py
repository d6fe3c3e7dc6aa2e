"""Bounded in-memory caches: an LRU for keys, and the verified-result cache for access tokens.

Behind a real ALB every request brings a data token never seen before (the ALB signs a new one
for each request, `exp` = request time + 120 s), but the same access token for the whole session
(Cognito: one hour). So the data token is verified on every request, and what is remembered is
the access token's verification, keyed by its exact bytes (`ResultCache`):

- a hit needs the very same bytes (dict lookup: hash, then a full byte comparison), so bytes that
  were never verified can never get a result, however they hash;
- an entry is trusted only until the token's `exp` (plus the configured leeway, exactly like a
  fresh verification), and never longer than `ttl` seconds after it was verified;
- it holds at most `maxsize` entries, least recently used out first, so memory is bounded
  whatever the traffic.

Only successes are stored: a refused token is verified again (and refused again) every time.
The caller binds each hit to the request's own verified `sub`.
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

    `maxsize` or `ttl` 0 turns the cache off. `get` returns a value only while
    `now <= expires_at`, where `put` computed `expires_at` as the earlier of `valid_until` and
    `now + ttl`.
    """

    __slots__ = ("_entries", "_maxsize", "hits", "misses", "ttl")

    def __init__(self, maxsize: int, ttl: float) -> None:
        # The LRU order is kept here rather than by an `LRUCache`: one call fewer per request.
        self._entries: OrderedDict[K, tuple[V, float]] | None = (
            OrderedDict() if maxsize > 0 and ttl > 0 else None
        )
        self._maxsize = maxsize
        self.ttl = ttl
        self.hits = 0
        self.misses = 0

    def get(self, key: K, now: float) -> V | None:
        """The result stored for exactly `key`, if it is still valid at `now`."""
        entries = self._entries
        if entries is None:
            return None
        entry = entries.get(key)
        if entry is None:
            self.misses += 1
            return None
        if now > entry[1]:
            del entries[key]
            self.misses += 1
            return None
        entries.move_to_end(key)
        self.hits += 1
        return entry[0]

    def put(self, key: K, value: V, *, now: float, valid_until: float) -> None:
        """Store a result verified at `now` and valid (by its token) until `valid_until`."""
        entries = self._entries
        if entries is not None and now <= valid_until:
            entries[key] = (value, min(valid_until, now + self.ttl))
            entries.move_to_end(key)  # the same bytes may be verified twice at once
            if len(entries) > self._maxsize:
                entries.popitem(last=False)

    def __len__(self) -> int:
        return 0 if self._entries is None else len(self._entries)

    def clear(self) -> None:
        """Forget every result (the next request of each session is verified in full)."""
        if self._entries is not None:
            self._entries.clear()
