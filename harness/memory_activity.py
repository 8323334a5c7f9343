"""Users' activity and devices in memory, as adapters/activity_store.py keeps them."""

from __future__ import annotations

import base64
from collections.abc import Iterable

from session_service.domain.activity.activity_log import ActivityEntry, ActivityPage
from session_service.domain.models import Millis

_DAY_MS = 86_400_000


class InMemoryActivityStore:
    def __init__(self) -> None:
        self.entries: dict[tuple[str, str], ActivityEntry] = {}
        # (user, device) -> (expires at, the change that last saw it)
        self.devices: dict[tuple[str, str], tuple[Millis, str]] = {}
        # Attempt entries admitted, by (user, window).
        self.admitted: dict[tuple[str, int], set[str]] = {}

    def record(self, entries: Iterable[ActivityEntry], retention_days: int) -> None:
        del retention_days  # TTL does not apply in memory
        for entry in entries:
            self.entries[(entry.user_id, f"{entry.at:013d}#{entry.entry_id}")] = entry

    def page(self, user_id: str, limit: int, cursor: str | None) -> ActivityPage:
        keys = sorted((k for k in self.entries if k[0] == user_id), reverse=True)
        if cursor:
            after = base64.urlsafe_b64decode(cursor.encode()).decode()
            keys = [k for k in keys if k[1] < after]
        chosen = keys[:limit]
        more = len(keys) > limit
        next_cursor = base64.urlsafe_b64encode(chosen[-1][1].encode()).decode() if more else None
        return ActivityPage(tuple(self.entries[k] for k in chosen), next_cursor)

    def admit(
        self, user_id: str, window: int, limit: int, window_ends_at: Millis, entry_id: str
    ) -> bool:
        del window_ends_at  # TTL does not apply in memory
        holders = self.admitted.setdefault((user_id, window), set())
        if entry_id in holders:
            return True
        if len(holders) >= limit:
            return False
        holders.add(entry_id)
        return True

    def seen_device(
        self, user_id: str, device: str, at: Millis, retention_days: int, seen_by: str
    ) -> bool:
        old = self.devices.get((user_id, device))
        expires = at + retention_days * _DAY_MS
        if old is None or old[0] <= at or old[1] == seen_by:
            self.devices[(user_id, device)] = (expires, seen_by)  # new: found by this change
            return False
        self.devices[(user_id, device)] = (max(old[0], expires), old[1])
        return True
