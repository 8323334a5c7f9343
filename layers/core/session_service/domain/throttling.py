"""Brute-force throttling: an attempt to prove a credential is judged only after it has
reserved a place in every scope it counts toward.

Scopes and their limits per window (contract v2):
  the username from this client IP     LOGIN_FAILURES_PER_USERNAME          (5)
  the username from every address      LOGIN_FAILURES_PER_USERNAME_ALL_IPS  (100)
  the client IP, across usernames      LOGIN_FAILURES_PER_IP                (50)
A known device (one that presents a device token of the account, or holds a live session
of it: a password change) is not held by the username's ceiling across all addresses, so
failures from other addresses never lock the owner out (OWASP's device cookies); it still
counts toward its address's scopes.

Windows are fixed (LOGIN_FAILURE_WINDOW_SECONDS, aligned to the epoch). A reservation is
one conditional write per scope, made before any password work, so however many attempts
arrive at once at most `limit` are judged in a scope's window. A failed attempt keeps its
place (a judged failure, until the window ends); any other outcome gives it back. An
attempt that finds a scope full gets 429 with Retry-After (the window's end), unjudged
and counted nowhere. A right password is judged by the same rule: arriving while a burst
of wrong ones holds every place, it is refused like them, and lets the owner in from a
known device or after the window."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from session_service.domain.errors import RateLimited
from session_service.domain.models import Millis, Reservation, ThrottleScope
from session_service.domain.ports import ThrottleStore
from session_service.observability import logger


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


class LoginThrottle:
    def __init__(
        self, store: ThrottleStore, policy: ThrottlePolicy, now: Callable[[], Millis]
    ) -> None:
        self._store = store
        self._policy = policy
        self._now = now

    def scopes(self, username_key: str, ip: str, known_device: bool) -> tuple[ThrottleScope, ...]:
        policy = self._policy
        # Narrowest first: a burst at one username from one address is refused at its
        # first write and touches nothing wider.
        scopes = [
            ThrottleScope(
                username_and_ip_scope(username_key, ip), policy.failures_per_username_and_ip
            )
        ]
        if not known_device:
            scopes.append(ThrottleScope(username_scope(username_key), policy.failures_per_username))
        scopes.append(ThrottleScope(ip_scope(ip), policy.failures_per_ip))
        return tuple(scopes)

    def reserve(self, username_key: str, ip: str, known_device: bool = False) -> Reservation:
        """Places for one attempt in every scope, or RateLimited (and nothing held)."""
        now = self._now()
        window_ms = self._policy.window_seconds * 1000
        window = now // window_ms
        reservation = Reservation(
            scopes=self.scopes(username_key, ip, known_device),
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
            self._release(reservation.scopes[: len(held)], reservation)
            raise
        return reservation

    def release(self, reservation: Reservation) -> None:
        """Give the places back: the attempt succeeded, or was not judged after all. Best
        effort: a place that cannot be given back now counts as a failure until its window
        ends (the safe side), and never fails the request."""
        self._release(reservation.scopes, reservation)

    def _release(self, scopes: tuple[ThrottleScope, ...], reservation: Reservation) -> None:
        for scope in scopes:
            try:
                self._store.release(scope, reservation.window, reservation.window_ends_at)
            except Exception as error:  # whatever DynamoDB did, go on
                logger.warning(
                    "a throttle place could not be given back; it counts until its window ends",
                    scope=scope.key.split("#", 1)[0],
                    error=type(error).__name__,
                )
