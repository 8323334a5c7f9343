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
consecutive failures). A reservation is made before any password work, in two round
trips at most: a conditional write for the client address's place (sent alongside the
read of the credential, which the other scopes' names depend on), then one transaction
for every other scope, all or none (attempt_places). However many attempts arrive at
once, at most `limit` are judged in a scope's window. A failed attempt keeps its place (a
judged failure, until the window ends); a success gives it back (or, for a run of
consecutive failures, starts the run afresh), alongside the session's write; any other
outcome gives it back. An attempt that finds a scope full gets 429 with Retry-After (the
window's end), unjudged and counted nowhere. A right password is judged
by the same rule: arriving while a burst of wrong ones holds every place, it is refused
like them, and lets the owner in from a known device or after the window."""

from __future__ import annotations

import ipaddress
import secrets
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace

from session_service.domain.concurrency import SEQUENTIAL, ParallelCalls, Pending
from session_service.domain.errors import InvalidGrant, RateLimited, ServiceError
from session_service.domain.models import Credential, Millis, Reservation, ThrottleScope
from session_service.domain.ports import ThrottleStore
from session_service.domain.throttling.attempt_places import AttemptPlaces


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
        self,
        store: ThrottleStore,
        policy: ThrottlePolicy,
        now: Callable[[], Millis],
        parallel: ParallelCalls = SEQUENTIAL,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._policy = policy
        self._now = now
        self._parallel = parallel
        self._places = AttemptPlaces(store, parallel, sleep)

    @property
    def policy(self) -> ThrottlePolicy:
        return self._policy

    @property
    def parallel(self) -> ParallelCalls:
        """The container's pool, for the calls a flow sends alongside its reservation."""
        return self._parallel

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
        # username's ceiling last (its place is taken with the others', all or none).
        scopes = [
            ThrottleScope(ip_scope(ip), policy.failures_per_ip, address=True),
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

    @contextmanager
    def opening(self, ip: str, username_key: str) -> Iterator[Opening]:
        """The client address's place, taken while the block reads what the other scopes
        depend on (the credential: the throttle's name for the username), so that both
        take one round trip; `Opening.reserve` takes the others. Unless this container
        remembers the username's ceiling as full in this window: then nothing is written
        before the credential is known (a locked username costs no write)."""
        now = self._now()
        window = now // (self._policy.window_seconds * 1000)
        address = ThrottleScope(ip_scope(ip), self._policy.failures_per_ip, address=True)
        reservation = self._skeleton((address,), now)
        remembered = self._places.remembers_name(username_scope(username_key), window)
        opening = Opening(self, reservation, now)
        if not remembered:
            opening.start_address()
        try:
            yield opening
        except BaseException:
            opening.fail()
            raise
        opening.abandon()  # (when `reserve` was never reached)

    def reserve_registration(self, ip: str) -> Reservation:
        """A place for one registration from this address (REGISTRATIONS_PER_IP), taken
        before any argon2 work; registrations never give it back."""
        scope = ThrottleScope(
            registration_scope(ip), self._policy.registrations_per_ip, address=True
        )
        return self.reserve_scopes((scope,))

    def reserve_scopes(self, scopes: Sequence[ThrottleScope]) -> Reservation:
        now = self._now()
        reservation = self._skeleton(scopes, now)
        self._places.refuse_remembered(reservation, now)
        self._places.take_address(reservation, now)
        return self._take_others(reservation, now)

    def _skeleton(self, scopes: Sequence[ThrottleScope], now: Millis) -> Reservation:
        window_ms = self._policy.window_seconds * 1000
        window = now // window_ms
        attempt = secrets.token_urlsafe(9)
        return Reservation(tuple(scopes), window, (window + 1) * window_ms, attempt=attempt)

    def _take_others(self, reservation: Reservation, now: Millis) -> Reservation:
        """The places of the scopes other than the address's: the address's given back
        when one is full (its attempt is not judged) or when the write fails."""
        try:
            return self._places.take_together(reservation, now)
        except BaseException:
            self._places.give_back(reservation, [s for s in reservation.scopes if s.address])
            raise

    def judge[T](self, reservation: Reservation, attempt: Callable[[], T]) -> T:
        """Run an attempt that holds places: as judge_then, its whole work the proof."""
        return self.judge_then(reservation, attempt, lambda proof: proof)

    def judge_then[P, T](
        self, reservation: Reservation, prove: Callable[[], P], then: Callable[[P], T]
    ) -> T:
        """Run an attempt that holds places. A wrong credential (InvalidGrant from
        `prove`) keeps them (a judged failure); any other failure of the service's (an
        AWS failure) gives them back, and an unexpected one keeps them (the safe side);
        once proven, they go back (a run of consecutive failures starts afresh) while
        `then` runs with the proof, whatever it answers: the session's write and the
        places given back take one round trip."""
        try:
            proof = prove()
        except InvalidGrant:
            self._places.keep_runs(reservation)
            raise
        except ServiceError:
            self.release(reservation)
            raise
        giving_back = self._places.start_giving_back(
            reservation, reservation.scopes, succeeded=True
        )
        try:
            return then(proof)
        except InvalidGrant as refused:
            refused.after_proof = True
            raise
        finally:
            for pending in giving_back:
                pending.settle()

    def succeeded(self, reservation: Reservation) -> None:
        """The attempt proved its credential: its places go back, and a run of consecutive
        failures starts afresh. Best effort, as release."""
        for pending in self._places.start_giving_back(
            reservation, reservation.scopes, succeeded=True
        ):
            pending.settle()

    def release(self, reservation: Reservation) -> None:
        """Give the places back: the attempt was not judged after all. Best effort: a
        place that cannot be given back now counts as a failure until its window ends
        (the safe side), and never fails the request."""
        self._places.give_back(reservation, reservation.scopes)

    def reset(self, scope: ThrottleScope) -> None:
        """Start a scope's count afresh without holding a place in it (a passkey used:
        the TOTP lock lifts). Best effort."""
        reservation = Reservation((scope,), 0, 0)
        for pending in self._places.start_giving_back(reservation, (scope,), succeeded=True):
            pending.settle()


class Opening:
    """A reservation whose address place is under way (LoginThrottle.opening)."""

    def __init__(self, throttle: LoginThrottle, address: Reservation, now: Millis) -> None:
        self._throttle = throttle
        self._address = address
        self._now = now
        self._pending: Pending[None] | None = None
        self._done = False
        self._reserved: Reservation | None = None

    def start_address(self) -> None:
        places = self._throttle._places
        address, now = self._address, self._now
        self._pending = self._throttle.parallel.start(lambda: places.take_address(address, now))

    def reserve(
        self,
        username_key: str,
        known_device: bool = False,
        before: Sequence[ThrottleScope] = (),
        account: Sequence[ThrottleScope] = (),
    ) -> Reservation:
        """The reservation's other places (LoginThrottle.reserve's scopes), in one
        transaction once the address's place is held; RateLimited, and nothing held, when
        a scope is full."""
        return self.reserve_with(None, username_key, known_device, before, account)[0]

    def reserve_with[T](
        self,
        read: Callable[[], T] | None,
        username_key: str,
        known_device: bool = False,
        before: Sequence[ThrottleScope] = (),
        account: Sequence[ThrottleScope] = (),
    ) -> tuple[Reservation, Pending[T] | None]:
        """As reserve, with `read` sent alongside the transaction once the address's place
        is held (what the attempt will need if it is judged right: the user's sessions).
        Whatever the user, it is sent at the same moment, so a refusal's timing tells
        nothing of the account; when the attempt is refused, it is waited for first. The
        caller waits for the read it is given (Pending.result or settle)."""
        throttle, places = self._throttle, self._throttle._places
        address = self._address.scopes[0]
        ip = address.key.split("#", 1)[1]
        scopes = throttle.scopes(username_key, ip, known_device, account)
        reservation = replace(self._address, scopes=(address, *before, *scopes[1:]))
        self._done = True
        try:
            places.refuse_remembered(reservation, self._now)
        except RateLimited:
            self._settle_address()
            raise
        if self._pending is None:
            places.take_address(reservation, self._now)
        else:
            pending, self._pending = self._pending, None
            pending.result()
        alongside = None
        try:
            alongside = throttle.parallel.start(read) if read is not None else None
            self._reserved = throttle._take_others(reservation, self._now)
        except BaseException:
            if alongside is not None:
                alongside.settle()
            raise
        return self._reserved, alongside

    def abandon(self) -> None:
        """The block ended without reserving: the address's place (if taken) goes back."""
        if not self._done:
            self._done = True
            self._settle_address()

    def fail(self) -> None:
        """The block failed: whatever it holds goes back (it was not judged)."""
        if self._reserved is not None:
            reserved, self._reserved = self._reserved, None
            self._throttle.release(reserved)
        self.abandon()

    def _settle_address(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            try:
                pending.result()
            except Exception:  # (refused, or failed: nothing of it is held)
                return
            self._throttle._places.give_back(self._address, self._address.scopes)
