"""The throttle's attempt counters in memory, with the DynamoDB store's conditions
(adapters/throttle_store.py): the in-memory store's part that implements ThrottleStore."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from harness.key_limits import check_keys
from session_service.adapters.store_items import throttle_key
from session_service.domain.models import Millis, ThrottleScope
from session_service.domain.ports import Place, PlacesTaken


class InMemoryCounters:
    _lock: threading.Lock
    calls: list[str]
    # Places held, by (scope key, window), and the attempts holding them.
    attempts: dict[tuple[str, int], int]
    holders: dict[tuple[str, int], set[str]]
    # The items of each transaction the store would send (DynamoDB's store sends one).
    transaction_sizes: list[int]

    def reserve(
        self, scope: ThrottleScope, window: int, window_ends_at: Millis, attempt: str
    ) -> int | None:
        del window_ends_at  # TTL does not apply in memory
        with self._lock:
            self.calls.append("reserve")
            check_keys(throttle_key(scope.key, window))
            key = (scope.key, window)
            holders = self.holders.setdefault(key, set())
            if attempt in holders:
                return self.attempts[key]
            if self.attempts.get(key, 0) >= scope.limit:
                return None
            holders.add(attempt)
            self._add(scope, window, 1)
            return self.attempts[key]

    def reserve_together(self, places: Sequence[Place], attempt: str) -> PlacesTaken:
        if len(places) == 1:  # one write, as DynamoDB's store makes it
            scope, window, ends_at = places[0]
            count = self.reserve(scope, window, ends_at, attempt)
            if count is None:
                return PlacesTaken(full=0)
            return PlacesTaken(reached=frozenset({scope.key} if count == scope.mark else ()))
        with self._lock:
            self.calls.append("reserve_together")
            self.transaction_sizes.append(len(places))
            for index, (scope, window, _) in enumerate(places):
                check_keys(throttle_key(scope.key, window))
                key = (scope.key, window)
                held = attempt in self.holders.get(key, set())
                if not held and self.attempts.get(key, 0) >= scope.limit:
                    return PlacesTaken(full=index)
            reached = set()
            for scope, window, _ in places:
                holders = self.holders.setdefault((scope.key, window), set())
                if attempt not in holders:
                    holders.add(attempt)
                    self._add(scope, window, 1)
                    if self.attempts[(scope.key, window)] == scope.mark:
                        reached.add(scope.key)
            return PlacesTaken(reached=frozenset(reached))

    def release(
        self, scope: ThrottleScope, window: int, window_ends_at: Millis, attempt: str
    ) -> None:
        del window_ends_at
        with self._lock:
            self.calls.append("release")
            check_keys(throttle_key(scope.key, window))
            holders = self.holders.get((scope.key, window), set())
            if attempt in holders:
                holders.discard(attempt)
                self._add(scope, window, -1)

    def reset(self, scope: ThrottleScope, window: int, window_ends_at: Millis) -> None:
        del window_ends_at
        with self._lock:
            self.calls.append("reset")
            if self.attempts.get((scope.key, window), 0) > 0:
                self.attempts[(scope.key, window)] = 0
                self.holders.pop((scope.key, window), None)

    def keep(self, scope: ThrottleScope, window: int, attempt: str) -> None:
        with self._lock:
            self.calls.append("keep")
            self.holders.get((scope.key, window), set()).discard(attempt)

    def _add(self, scope: ThrottleScope, window: int, count: int) -> None:
        key = (scope.key, window)
        self.attempts[key] = self.attempts.get(key, 0) + count

    def held(self, scope_key: str) -> int:
        """Places held in a scope, over every window."""
        return sum(count for (key, _), count in self.attempts.items() if key == scope_key)
