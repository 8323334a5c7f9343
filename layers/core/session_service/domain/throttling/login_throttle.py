"""Brute-force throttling: an attempt to prove a credential is judged only after it has
reserved a place in every scope it counts toward.

Scopes and their limits per window (contract v2 and v3):
  the client address, across usernames  LOGIN_FAILURES_PER_IP                (50)
  the username from this address        LOGIN_FAILURES_PER_USERNAME          (5)
  the username from every address       LOGIN_FAILURES_PER_USERNAME_ALL_IPS  (100)
A known device (one that presents a device token of the account, or holds a live session
of it: a password change) is not held by the username's ceiling across all addresses, so
failures from other addresses never lock the owner out of their password (OWASP's device
cookies); it still counts toward its address's scopes. Second factors and step-ups add
scopes of their own (factor_throttling), which nothing exempts. An IPv6 client counts by
its /64: a host picks any address in its network, so one address is no limit.

Windows are fixed (LOGIN_FAILURE_WINDOW_SECONDS, aligned to the epoch); a scope may
instead count over a span of its own (an mfa_token's life, a session's, a run of
consecutive failures). A reservation is one conditional write per scope, made before any
password work, so however many attempts arrive at once at most `limit` are judged in a
scope's window. A failed attempt keeps its place (a judged failure, until the window
ends); a success gives it back (or, for a run of consecutive failures, starts the run
afresh); any other outcome gives it back. An attempt that finds a scope full gets 429 with
Retry-After (the window's end), unjudged and counted nowhere. A right password is judged
by the same rule: arriving while a burst of wrong ones holds every place, it is refused
like them, and lets the owner in from a known device or after the window."""

from __future__ import annotations

import ipaddress
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import NoReturn

from session_service.domain.errors import InvalidGrant, RateLimited, ServiceError
from session_service.domain.models import Credential, Millis, Reservation, ThrottleScope
from session_service.domain.ports import ThrottleStore
from session_service.observability import logger

# Scopes remembered as full in one container; beyond this many, it forgets them all.
MAX_REMEMBERED_FULL = 4096


@dataclass(frozen=True, slots=True)
class ThrottlePolicy:
    failures_per_username_and_ip: int
    failures_per_username: int
    failures_per_ip: int
    window_seconds: int
    # Contract v3: an account's wrong second-factor proofs per window, and in a row (the
    # TOTP lock); a session's wrong step-ups over its life; registrations per address.
    second_factor_failures_per_window: int = 10
    second_factor_failures_max: int = 100
    step_up_failures_per_session: int = 5
    registrations_per_ip: int = 20


def client_address(ip: str) -> str:
    """The address as the throttle counts it: IPv4 as it is (an IPv4-mapped IPv6 address
    too), IPv6 by its /64, the network one subscriber or host is given."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def throttled_name(key: str, credential: Credential | None) -> str:
    """The username as the throttle counts it: with the generation an administrator moved
    on when lifting its login lock, so that its counters start afresh."""
    generation = credential.throttle_generation if credential else 0
    return f"{key}~{generation}" if generation else key


def username_and_ip_scope(username_key: str, ip: str) -> str:
    return f"user-ip#{username_key}#{client_address(ip)}"


def username_scope(username_key: str) -> str:
    return f"user#{username_key}"


def ip_scope(ip: str) -> str:
    return f"ip#{client_address(ip)}"


def registration_scope(ip: str) -> str:
    return f"register#{client_address(ip)}"


def is_address_scope(key: str) -> bool:
    """A scope of a client address (not of an account)."""
    return key.startswith(("ip#", "register#"))


class LoginThrottle:
    def __init__(
        self, store: ThrottleStore, policy: ThrottlePolicy, now: Callable[[], Millis]
    ) -> None:
        self._store = store
        self._policy = policy
        self._now = now
        # Scopes found full, by key: the window they were full in.
        self._full: dict[str, int] = {}

    @property
    def policy(self) -> ThrottlePolicy:
        return self._policy

    def now(self) -> Millis:
        return self._now()

    def scopes(
        self,
        username_key: str,
        ip: str,
        known_device: bool,
        account: Sequence[ThrottleScope] = (),
    ) -> tuple[ThrottleScope, ...]:
        policy = self._policy
        # The address first: many usernames tried from one full address cost one refused
        # write each, and nothing is taken and given back in the username's scopes. The
        # username's ceiling last: no attempt refused after it holds one of its places
        # for a moment, so a full one is full of judged attempts (it is remembered).
        scopes = [
            ThrottleScope(ip_scope(ip), policy.failures_per_ip),
            ThrottleScope(
                username_and_ip_scope(username_key, ip), policy.failures_per_username_and_ip
            ),
            *account,
        ]
        if not known_device:
            scopes.append(
                ThrottleScope(
                    username_scope(username_key), policy.failures_per_username, remembered=True
                )
            )
        return tuple(scopes)

    def reserve(
        self,
        username_key: str,
        ip: str,
        known_device: bool = False,
        before: Sequence[ThrottleScope] = (),
        account: Sequence[ThrottleScope] = (),
    ) -> Reservation:
        """Places for one attempt in the login scopes (with the attempt's own scopes
        before them, and the account's before the username's ceiling), or RateLimited
        (and nothing held)."""
        scopes = (*before, *self.scopes(username_key, ip, known_device, account))
        return self.reserve_scopes(scopes)

    def reserve_registration(self, ip: str) -> Reservation:
        """A place for one registration from this address (REGISTRATIONS_PER_IP), taken
        before any argon2 work; registrations never give it back."""
        scope = ThrottleScope(registration_scope(ip), self._policy.registrations_per_ip)
        return self.reserve_scopes((scope,))

    def reserve_scopes(self, scopes: Sequence[ThrottleScope]) -> Reservation:
        now = self._now()
        window_ms = self._policy.window_seconds * 1000
        window = now // window_ms
        attempt = secrets.token_urlsafe(9)
        reservation = Reservation(tuple(scopes), window, (window + 1) * window_ms, attempt=attempt)
        for scope in reservation.scopes:
            # A scope this container found full in this window refuses before any write.
            scope_window = reservation.window_of(scope)[0]
            if self._full.get(scope.key) == scope_window:
                self._refuse(scope, scope_window, reservation.window_ends_at - now)
        counts: list[int] = []
        try:
            for scope in reservation.scopes:
                scope_window, ends_at = reservation.window_of(scope)
                count = self._store.reserve(scope, scope_window, ends_at, attempt)
                if count is None:
                    self._refuse(scope, scope_window, reservation.window_ends_at - now)
                counts.append(count)
        except RateLimited:
            # Give back what this attempt took in the scopes before: it is not judged.
            self._release(reservation.scopes[: len(counts)], reservation)
            raise
        except Exception:
            # The scope that failed too: its write may have been applied before its answer
            # was lost. A release finds and gives back only a place this attempt holds.
            self._release(reservation.scopes[: len(counts) + 1], reservation)
            raise
        return replace(reservation, counts=tuple(counts))

    def _refuse(self, scope: ThrottleScope, window: int, remaining_ms: Millis) -> NoReturn:
        logger.warning(
            "attempt refused: its throttle window is full",
            scope=scope.key.split("#", 1)[0],
            limit=scope.limit,
        )
        if scope.remembered:
            if len(self._full) >= MAX_REMEMBERED_FULL:
                self._full.clear()
            self._full[scope.key] = window
        raise RateLimited(retry_after=-(-remaining_ms // 1000), scope=scope.key)

    def judge[T](self, reservation: Reservation, attempt: Callable[[], T]) -> T:
        """Run an attempt that holds places. A wrong credential keeps them (a judged
        failure); a success gives them back (a run starts afresh); any other outcome, the
        session limit or an AWS failure, gives them back: only a wrong credential fails."""
        try:
            outcome = attempt()
        except InvalidGrant:
            raise
        except ServiceError:
            self.release(reservation)
            raise
        self.succeeded(reservation)
        return outcome

    def succeeded(self, reservation: Reservation) -> None:
        """The attempt proved its credential: its places go back, and a run of consecutive
        failures starts afresh. Best effort, as release."""
        for scope in reservation.scopes:
            self._give_back(scope, reservation, reset=scope.resets)

    def release(self, reservation: Reservation) -> None:
        """Give the places back: the attempt was not judged after all. Best effort: a
        place that cannot be given back now counts as a failure until its window ends
        (the safe side), and never fails the request."""
        self._release(reservation.scopes, reservation)

    def reset(self, scope: ThrottleScope) -> None:
        """Start a scope's count afresh without holding a place in it (a passkey used:
        the TOTP lock lifts). Best effort."""
        reservation = Reservation((scope,), 0, 0)
        self._give_back(scope, reservation, reset=True)

    def _release(self, scopes: tuple[ThrottleScope, ...], reservation: Reservation) -> None:
        for scope in scopes:
            self._give_back(scope, reservation, reset=False)

    def _give_back(self, scope: ThrottleScope, reservation: Reservation, reset: bool) -> None:
        window, ends_at = reservation.window_of(scope)
        try:
            if reset:
                self._store.reset(scope, window, ends_at)
            else:
                self._store.release(scope, window, ends_at, reservation.attempt)
        except Exception as error:  # whatever DynamoDB did, go on
            logger.warning(
                "a throttle place could not be given back; it counts until its window ends",
                scope=scope.key.split("#", 1)[0],
                error=type(error).__name__,
            )
