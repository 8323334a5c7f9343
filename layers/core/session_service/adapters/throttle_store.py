"""Attempt counters in DynamoDB: one item per scope and fixed window, changed only by
conditional ADDs, so that a reservation is one write that either takes a place or finds
the window full, however many attempts race.

A reservation sets both of a counter's attributes (`attempts` by ADD, `ttl` if it is
missing) and adds its attempt's id to `holders`; a release gives back only a place its
attempt holds: whatever order reservations and releases land in, however often botocore
sends one again, and whatever TTL has deleted meanwhile, `attempts` counts exactly the
places held (a reset only touches a counter that exists)."""

from __future__ import annotations

from typing import Any

from session_service.adapters.dynamo import take_place, update_if
from session_service.adapters.store_items import n, s, throttle_key, ttl_seconds
from session_service.domain.models import ThrottleScope


class DynamoThrottleStore:
    def __init__(self, client: Any, table_name: str) -> None:
        self._db = client
        self._table = table_name

    def reserve(
        self, scope: ThrottleScope, window: int, window_ends_at: int, attempt: str
    ) -> int | None:
        """Take a place in the scope's window: the count with it; None when it is full. The
        attempt's id joins the window's holders with it, so a retry of this write (its
        answer lost, botocore sends it again) finds the place taken and takes no other."""
        # A window's counter lives until the window ends; a run of failures (counted until
        # a success resets it) as long after its last failure as its span says.
        ttl = ":ttl" if scope.resets else "if_not_exists(#ttl, :ttl)"
        return take_place(
            self._db,
            self._table,
            "reserve_attempt",
            key=throttle_key(scope.key, window),
            count="attempts",
            holders="holders",
            holder=attempt,
            limit=scope.limit,
            ttl=ttl_seconds(window_ends_at),
            ttl_expression=ttl,
        )

    def release(self, scope: ThrottleScope, window: int, window_ends_at: int, attempt: str) -> None:
        """Give a place back (a successful attempt, or one not judged after all): only one
        this attempt holds, so a retry gives nothing back twice, and a window TTL removed
        is not made again. A plain update, never part of a transaction: a transaction in
        flight on a counter every login from one address shares would make those logins'
        reservations fail."""
        del window_ends_at  # the place given back is in a counter that exists
        update_if(
            self._db,
            self._table,
            "release_attempt",
            Key=throttle_key(scope.key, window),
            UpdateExpression="ADD attempts :minus_one DELETE holders :holder",
            ConditionExpression="contains(holders, :attempt)",
            ExpressionAttributeValues={
                ":minus_one": n(-1),
                ":holder": {"SS": [attempt]},
                ":attempt": s(attempt),
            },
        )

    def reset(self, scope: ThrottleScope, window: int, window_ends_at: int) -> None:
        del window_ends_at  # a counter at zero needs no TTL of its own
        update_if(
            self._db,
            self._table,
            "reset_attempts",
            Key=throttle_key(scope.key, window),
            UpdateExpression="SET attempts = :zero REMOVE holders",
            # Only a counter that counts: no item is made for an account without failures.
            ConditionExpression="attempts > :zero",
            ExpressionAttributeValues={":zero": n(0)},
        )
