"""Brute-force throttling: an attempt to prove a credential is judged only after it has
reserved a place in every scope it counts toward.

Scopes and their limits per window (contract v2):
  the username from this client IP     LOGIN_FAILURES_PER_USERNAME          (5)
  the username from every address      LOGIN_FAILURES_PER_USERNAME_ALL_IPS  (100)
  the client IP, across usernames      LOGIN_FAILURES_PER_IP                (50)
A device that has signed in to the account before (its device token) counts toward its own
scope only, with the first limit: failures from elsewhere never hold the owner (OWASP's
device cookies), and a stolen device token buys no more guesses than an address does.

Windows are fixed (LOGIN_FAILURE_WINDOW_SECONDS, aligned to the epoch). A reservation is
one conditional write per scope, made before any password work, so however many attempts
arrive at once at most `limit` are judged in a scope's window. A failed attempt keeps its
place (a judged failure, until the window ends); a successful one gives it back. An
attempt that finds a scope full gets 429 with Retry-After (the window's end), unjudged
and counted nowhere. A right password is judged by the same rule: arriving while a burst
of wrong ones holds every place, it is refused like them, and lets the owner in from a
known device or after the window."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from session_service.errors import RateLimited
from session_service.models import Millis, Reservation, ThrottleScope
from session_service.observability import logger
from session_service.ports import ThrottleStore


@dataclass(frozen=True, slots=True)
class ThrottlePolicy:
    failures_per_username_and_ip: int
    failures_per_username: int
    failures_per_ip: int
    window_seconds: int


def username_and_ip_scope(username_key: str, ip: str) -> str:
    return f"user-ip#{username_key}#{ip}"


def username_scope(username_key: str) -> str:
    return f"user#{username_key}"


def ip_scope(ip: str) -> str:
    return f"ip#{ip}"


def device_scope(device_id: str) -> str:
    return f"device#{device_id}"


class LoginThrottle:
    def __init__(
        self, store: ThrottleStore, policy: ThrottlePolicy, now: Callable[[], Millis]
    ) -> None:
        self._store = store
        self._policy = policy
        self._now = now

    def scopes(
        self, username_key: str, ip: str, device_id: str | None
    ) -> tuple[ThrottleScope, ...]:
        policy = self._policy
        if device_id is not None:
            return (ThrottleScope(device_scope(device_id), policy.failures_per_username_and_ip),)
        # Narrowest first: a burst at one username from one address is refused at its
        # first write and touches nothing wider.
        return (
            ThrottleScope(
                username_and_ip_scope(username_key, ip), policy.failures_per_username_and_ip
            ),
            ThrottleScope(username_scope(username_key), policy.failures_per_username),
            ThrottleScope(ip_scope(ip), policy.failures_per_ip),
        )

    def reserve(self, username_key: str, ip: str, device_id: str | None = None) -> Reservation:
        """Places for one attempt in every scope, or RateLimited (and nothing held)."""
        now = self._now()
        window_ms = self._policy.window_seconds * 1000
        window = now // window_ms
        reservation = Reservation(
            scopes=self.scopes(username_key, ip, device_id),
            window=window,
            window_ends_at=(window + 1) * window_ms,
        )
        held: list[ThrottleScope] = []
        try:
            for scope in reservation.scopes:
                if not self._store.reserve(scope, window, reservation.window_ends_at):
                    logger.warning(
                        "login attempt refused: its throttle window is full",
                        scope=scope.key.split("#", 1)[0],
                        limit=scope.limit,
                    )
                    retry_after = -(-(reservation.window_ends_at - now) // 1000)
                    raise RateLimited(retry_after=retry_after)
                held.append(scope)
        except Exception:
            # Give back what this attempt took in narrower scopes: it is not judged.
            for taken in held:
                self._store.release(taken, window, reservation.window_ends_at)
            raise
        return reservation

    def release(self, reservation: Reservation) -> None:
        """Give the places back: the attempt succeeded, or was not judged after all."""
        for scope in reservation.scopes:
            self._store.release(scope, reservation.window, reservation.window_ends_at)
