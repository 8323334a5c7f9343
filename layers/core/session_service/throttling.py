"""Brute-force throttling of logins: failures counted per username and per client IP.

As in Cognito: once a scope reaches its limit of failures inside the window, it is locked
for a time that doubles with every further failure (30 s, 60 s, 120 s, ...), never longer
than the window itself. Attempts while locked get 429 without a password check and do not
count, so an attacker can lock a real user out for at most one window per failure. A
successful login clears the username's count (not the IP's: one known password must not
buy an address more guesses)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from session_service.errors import RateLimited
from session_service.models import FailureWindow, LoginLookup, Millis
from session_service.observability import logger

FIRST_LOCK_MS = 30_000


class FailureStore(Protocol):
    def record_login_failure(self, scope: str, now: Millis, window_ms: int) -> FailureWindow: ...

    def lock_login_scope(self, scope: str, until: Millis, keep_until: Millis) -> None: ...


@dataclass(frozen=True, slots=True)
class ThrottlePolicy:
    failures_per_username: int
    failures_per_ip: int
    window_seconds: int


def username_scope(username_key: str) -> str:
    return f"user#{username_key}"


def ip_scope(ip: str) -> str:
    return f"ip#{ip}"


def lock_duration_ms(failures: int, limit: int, window_ms: int) -> int:
    """0 below the limit; then 30 s doubling per further failure, capped at the window."""
    if failures < limit:
        return 0
    doublings = min(failures - limit, 20)
    return min(window_ms, FIRST_LOCK_MS << doublings)


class LoginThrottle:
    def __init__(
        self, store: FailureStore, policy: ThrottlePolicy, now: Callable[[], Millis]
    ) -> None:
        self._store = store
        self._policy = policy
        self._now = now

    def check(self, lookup: LoginLookup) -> None:
        """Refuse the attempt when either scope is locked (before any password work)."""
        now = self._now()
        locked_until = max(
            _locked_until(lookup.username_failures), _locked_until(lookup.ip_failures)
        )
        if locked_until > now:
            raise RateLimited(retry_after=-(-(locked_until - now) // 1000))

    def record_failure(self, username_key: str, ip: str) -> None:
        now = self._now()
        window_ms = self._policy.window_seconds * 1000
        for scope, limit in (
            (username_scope(username_key), self._policy.failures_per_username),
            (ip_scope(ip), self._policy.failures_per_ip),
        ):
            window = self._store.record_login_failure(scope, now, window_ms)
            lock = lock_duration_ms(window.failures, limit, window_ms)
            if lock:
                window_end = window.window_started_at + window_ms
                self._store.lock_login_scope(scope, now + lock, keep_until=window_end)
                logger.warning(
                    "login scope locked after repeated failures",
                    scope=scope.split("#", 1)[0],
                    failures=window.failures,
                    lock_seconds=lock // 1000,
                )


def _locked_until(window: FailureWindow | None) -> Millis:
    if window is None or window.blocked_until is None:
        return 0
    return window.blocked_until
