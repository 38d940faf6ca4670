"""A thread-safe least-recently-used cache bounded by entry age, entry count and the total size of its entries."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class SizedCache(Generic[K, V]):
    """Keeps values for `max_age` seconds, at most `max_entries` of them and at most `max_bytes` in all, as
    `sizeof` measures them; the least recently used go first. A value over `max_entry_bytes` is not kept at all:
    one huge answer would otherwise push out every other."""

    def __init__(
        self,
        *,
        sizeof: Callable[[V], int],
        max_bytes: int,
        max_entries: int,
        max_age: float,
        max_entry_bytes: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sizeof = sizeof
        self.max_bytes = max_bytes
        self.max_entries = max_entries
        self.max_age = max_age
        self.max_entry_bytes = max_bytes // 4 if max_entry_bytes is None else max_entry_bytes
        self._clock = clock
        self._entries: OrderedDict[K, tuple[float, int, V]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    @property
    def total_bytes(self) -> int:
        """What the kept values measure, added up (never more than `max_bytes`)."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: K) -> V | None:
        """The value kept under `key`, or None when there is none or it is older than `max_age`."""
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                return None
            if self._clock() - found[0] >= self.max_age:
                self._drop(key)
                return None
            self._entries.move_to_end(key)
            return found[2]

    def put(self, key: K, value: V) -> bool:
        """Keep `value` under `key`; False when it is too big to keep."""
        size = self._sizeof(value)
        with self._lock:
            if key in self._entries:
                self._drop(key)
            if size > self.max_entry_bytes:
                return False
            self._entries[key] = (self._clock(), size, value)
            self._bytes += size
            while len(self._entries) > self.max_entries or self._bytes > self.max_bytes:
                self._drop(next(iter(self._entries)))
            return True

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    def _drop(self, key: K) -> None:
        _, size, _ = self._entries.pop(key)
        self._bytes -= size
