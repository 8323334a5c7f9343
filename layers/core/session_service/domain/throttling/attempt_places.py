"""An attempt's places in the throttle's counters: taken in two round trips at most,
given back in one.

The client address's places go first, each a plain conditional write: every attempt
from the address shares that counter, and a transaction in flight on it would refuse
every other write to it. Every other scope's place is taken in one transaction, all or
none: an attempt that a full scope refuses never holds a place of another for a moment,
so a count is only ever of attempts that are judged (a full username ceiling is full of
judged attempts, and may be remembered as such). A transaction DynamoDB cancels because
another was in flight on one of its counters (TransactionConflict) wrote nothing: it is
sent again after a short, jittered pause, and so is a give-back that met one. The places
of an attempt are given back all at once (a round trip for them all), and always waited
for: a place given back late is a failure counted until its window ends."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import NoReturn

from session_service.domain.concurrency import ParallelCalls, Pending
from session_service.domain.errors import RateLimited, Unavailable
from session_service.domain.models import Millis, Reservation, ThrottleScope
from session_service.domain.ports import ThrottleStore, WriteConflict
from session_service.observability import logger, write_single_metric

# Scopes remembered as full in one container; beyond this many, it forgets them all.
MAX_REMEMBERED_FULL = 4096
# Sends of a write that met a transaction in flight on its counter, and the pause before
# the next (times the attempt's number, with up to as much again at random).
WRITE_ATTEMPTS = 8
BACKOFF_SECONDS = 0.005
# The metric of places that could not be given back (by the scope's kind: ip, user, ...).
NOT_GIVEN_BACK = "ThrottlePlacesNotGivenBack"


class AttemptPlaces:
    def __init__(
        self,
        store: ThrottleStore,
        parallel: ParallelCalls,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._store = store
        self._parallel = parallel
        self._sleep = sleep
        # Scopes found full, by key: the window they were full in; and by their key
        # without the generation an administrator's lift moves on (throttled_name).
        self._full: dict[str, int] = {}
        self._full_names: dict[str, int] = {}

    def remembers_name(self, key: str, window: int) -> bool:
        """Whether a scope of this key, in any generation, was found full in `window`."""
        return self._full_names.get(key) == window

    def refuse_remembered(self, reservation: Reservation, now: Millis) -> None:
        """A scope this container found full in this window refuses before any write."""
        for scope in reservation.scopes:
            scope_window = reservation.window_of(scope)[0]
            if self._full.get(scope.key) == scope_window:
                self.refuse(scope, scope_window, reservation.window_ends_at - now)

    def take_address(self, reservation: Reservation, now: Millis) -> None:
        """The places of the reservation's address scopes (one write each, sent at once);
        RateLimited, and none of them held, when one is full."""
        scopes = [scope for scope in reservation.scopes if scope.address]
        taken: list[int | None] = [None] * len(scopes)

        def take(index: int) -> Callable[[], None]:
            def call() -> None:
                scope = scopes[index]
                window, ends_at = reservation.window_of(scope)
                taken[index] = self._store.reserve(scope, window, ends_at, reservation.attempt)
                if taken[index] is None:
                    raise _Full(index)

            return call

        try:
            self._parallel.all([take(index) for index in range(len(scopes))])
        except _Full as full:
            self.give_back(reservation, [s for s, t in zip(scopes, taken, strict=True) if t])
            scope = scopes[full.index]
            self.refuse(scope, reservation.window_of(scope)[0], reservation.window_ends_at - now)
        except Exception:
            # A write whose answer was lost may have been applied: a give-back finds and
            # gives back only a place this attempt holds.
            self.give_back(reservation, scopes)
            raise

    def take_together(self, reservation: Reservation, now: Millis) -> Reservation:
        """The places of every other scope, in one transaction: the reservation with the
        marks its places reached; RateLimited naming the first full one (in the
        reservation's order), and none of them held."""
        scopes = [scope for scope in reservation.scopes if not scope.address]
        if not scopes:
            return reservation
        places = [(scope, *reservation.window_of(scope)) for scope in scopes]
        for attempt in range(WRITE_ATTEMPTS):
            try:
                taken = self._store.reserve_together(places, reservation.attempt)
            except WriteConflict:
                self._pause(attempt)
                continue
            except Exception:
                self.give_back(reservation, scopes)
                raise
            if taken.full is None:
                return replace(reservation, reached=taken.reached)
            scope = scopes[taken.full]
            self.refuse(scope, reservation.window_of(scope)[0], reservation.window_ends_at - now)
        logger.warning("gave up reserving throttle places under contention")
        raise Unavailable(retry_after=1)

    def refuse(self, scope: ThrottleScope, window: int, remaining_ms: Millis) -> NoReturn:
        logger.warning(
            "attempt refused: its throttle window is full",
            scope=scope.key.split("#", 1)[0],
            limit=scope.limit,
        )
        if scope.remembered:
            if len(self._full) >= MAX_REMEMBERED_FULL:
                self._full.clear()
                self._full_names.clear()
            self._full[scope.key] = window
            self._full_names[scope.key.split("~", 1)[0]] = window
        raise RateLimited(retry_after=-(-remaining_ms // 1000), scope=scope.key)

    def start_giving_back(
        self, reservation: Reservation, scopes: Sequence[ThrottleScope], succeeded: bool
    ) -> list[Pending[None]]:
        """Start giving back the places of `scopes`, all at once (a success starts a run
        of consecutive failures afresh instead): the caller waits for them."""
        return [
            self._parallel.start(
                self._give_back_one(reservation, scope, succeeded and scope.resets)
            )
            for scope in scopes
        ]

    def give_back(self, reservation: Reservation, scopes: Sequence[ThrottleScope]) -> None:
        """Give the places back, all at once, and wait. Best effort: a place that cannot
        be given back now counts as a failure until its window ends (the safe side), and
        never fails the request."""
        for pending in self.start_giving_back(reservation, scopes, succeeded=False):
            pending.settle()

    def keep_runs(self, reservation: Reservation) -> None:
        """A judged failure's places stay; in a run of failures (counted until a success,
        for as long as a year) its id is dropped from the counter's holders, so that the
        item never grows with the run. Best effort: an id left behind costs bytes only."""
        for scope in reservation.scopes:
            if not scope.resets:
                continue
            window = reservation.window_of(scope)[0]
            try:
                self._store.keep(scope, window, reservation.attempt)
            except Exception as error:  # whatever DynamoDB did, go on
                logger.warning(
                    "a judged failure's id stays in its run's counter",
                    error=type(error).__name__,
                )

    def _give_back_one(
        self, reservation: Reservation, scope: ThrottleScope, reset: bool
    ) -> Callable[[], None]:
        def call() -> None:
            window, ends_at = reservation.window_of(scope)
            for attempt in range(WRITE_ATTEMPTS):
                try:
                    if reset:
                        self._store.reset(scope, window, ends_at)
                    else:
                        self._store.release(scope, window, ends_at, reservation.attempt)
                except WriteConflict:
                    self._pause(attempt)
                    continue
                except Exception as error:  # whatever DynamoDB did, go on
                    _not_given_back(scope, type(error).__name__)
                return
            _not_given_back(scope, "WriteConflict")

        return call

    def _pause(self, attempt: int) -> None:
        self._sleep(BACKOFF_SECONDS * (attempt + 1) * (1 + random.random()))  # noqa: S311


def _not_given_back(scope: ThrottleScope, error: str) -> None:
    kind = scope.key.split("#", 1)[0]
    logger.warning(
        "a throttle place could not be given back; it counts until its window ends",
        scope=kind,
        error=error,
    )
    write_single_metric(NOT_GIVEN_BACK, 1, {"scope": kind})


class _Full(Exception):
    def __init__(self, index: int) -> None:
        super().__init__(index)
        self.index = index
