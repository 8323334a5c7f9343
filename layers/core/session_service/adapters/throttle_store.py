"""Attempt counters in DynamoDB: one item per scope and fixed window, changed only by
conditional ADDs, so that a reservation is one write that either takes a place or finds
the window full, however many attempts race.

Every write to a counter sets both of its attributes (`attempts` by ADD, `ttl` if it is
missing): whatever order reservations and releases land in, and whatever TTL has deleted
meanwhile, an item always reads as a count (a reset only touches a counter that exists)."""

from __future__ import annotations

from typing import Any

from session_service.adapters.dynamo import update_if
from session_service.adapters.store_items import Item, int_of, n, throttle_key, ttl_seconds
from session_service.domain.models import ThrottleScope


class DynamoThrottleStore:
    def __init__(self, client: Any, table_name: str) -> None:
        self._db = client
        self._table = table_name

    def reserve(self, scope: ThrottleScope, window: int, window_ends_at: int) -> int | None:
        """Take a place in the scope's window: the count with it; None when it is full."""
        # A window's counter lives until the window ends; a run of failures (counted until
        # a success resets it) as long after its last failure as its span says.
        ttl = ":ttl" if scope.resets else "if_not_exists(#ttl, :ttl)"
        taken = update_if(
            self._db,
            self._table,
            "reserve_attempt",
            Key=throttle_key(scope.key, window),
            UpdateExpression=f"ADD attempts :one SET #ttl = {ttl}",
            # A place exists only below the limit: of N racing attempts, exactly the free
            # places' worth succeed.
            ConditionExpression="attribute_not_exists(attempts) OR attempts < :limit",
            ExpressionAttributeNames={"#ttl": "ttl"},
            ExpressionAttributeValues={
                ":one": n(1),
                ":limit": n(scope.limit),
                ":ttl": n(ttl_seconds(window_ends_at)),
            },
            ReturnValues="UPDATED_NEW",
        )
        return None if taken is None else int_of(taken, "attempts")

    def release(self, scope: ThrottleScope, window: int, window_ends_at: int) -> None:
        """Give a place back (a successful attempt, or one not judged after all). A plain
        update, never part of a transaction: a transaction in flight on a counter every login
        from one address shares would make those logins' reservations fail."""
        request = release_request(scope, window, window_ends_at)
        update_if(self._db, self._table, "release_attempt", **request)

    def reset(self, scope: ThrottleScope, window: int, window_ends_at: int) -> None:
        del window_ends_at  # a counter at zero needs no TTL of its own
        update_if(
            self._db,
            self._table,
            "reset_attempts",
            Key=throttle_key(scope.key, window),
            UpdateExpression="SET attempts = :zero",
            # Only a counter that counts: no item is made for an account without failures.
            ConditionExpression="attempts > :zero",
            ExpressionAttributeValues={":zero": n(0)},
        )


def release_request(scope: ThrottleScope, window: int, window_ends_at: int) -> Item:
    # Unconditional: a release must never fail the write it belongs to. Should TTL have
    # removed the window already, the item it recreates counts below zero for a window
    # that is over, and is removed again.
    return {
        "Key": throttle_key(scope.key, window),
        "UpdateExpression": "ADD attempts :minus_one SET #ttl = if_not_exists(#ttl, :ttl)",
        "ExpressionAttributeNames": {"#ttl": "ttl"},
        "ExpressionAttributeValues": {
            ":minus_one": n(-1),
            ":ttl": n(ttl_seconds(window_ends_at)),
        },
    }
