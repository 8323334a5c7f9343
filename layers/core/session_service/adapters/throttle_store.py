"""Attempt counters in DynamoDB: one item per scope and fixed window, changed only by
conditional ADDs, so that a reservation is one write that either takes a place or finds
the window full, however many attempts race.

A reservation sets both of a counter's attributes (`attempts` by ADD, `ttl` if it is
missing) and adds its attempt's id to `holders`; a release gives back only a place its
attempt holds: whatever order reservations and releases land in, however often botocore
sends one again, and whatever TTL has deleted meanwhile, `attempts` counts exactly the
places held (a reset only touches a counter that exists).

An attempt's places in an account's scopes are taken together, in one transaction (all
or none): no attempt a full scope refuses holds a place of another for a moment. The
counters of an address, which every login from it shares, are never in a transaction: a
transaction in flight on one makes every other write to it fail (TransactionConflict)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from botocore.exceptions import ClientError

from session_service.adapters.dynamo import (
    aws,
    cancellation_codes,
    take_place,
)
from session_service.adapters.store_items import n, s, throttle_key, ttl_seconds
from session_service.domain.errors import Unavailable
from session_service.domain.models import ThrottleScope
from session_service.domain.ports import Place, PlacesTaken, WriteConflict
from session_service.observability import logger

# What a reservation writes: a place for its attempt unless the counter is full (or holds
# the attempt already: then the condition fails, and the attempt finds its own place).
RESERVE = "ADD #count :one, #holders :holder SET #ttl = {ttl}"
RESERVE_CONDITION = (
    "(attribute_not_exists(#count) OR #count < :limit) AND NOT contains(#holders, :id)"
)
# A place of a scope with a mark: not the mark's own (one below it), unless the count is
# exactly the one found (then the attempt knows its place's count).
MARKED_CONDITION = (
    "(attribute_not_exists(#count) OR (#count <> :below AND #count < :limit))"
    " AND NOT contains(#holders, :id)"
)
EXACT_CONDITION = "#count = :count AND #count < :limit AND NOT contains(#holders, :id)"
EXACT_ZERO_CONDITION = (
    "(attribute_not_exists(#count) OR #count = :count) AND NOT contains(#holders, :id)"
)
# Transactions of one reservation near a mark before it gives way (WriteConflict).
MARK_ATTEMPTS = 4


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
        return self._take(scope, window, window_ends_at, attempt, conflicts=False)

    def _take(
        self, scope: ThrottleScope, window: int, ends_at: int, attempt: str, conflicts: bool
    ) -> int | None:
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
            ttl=ttl_seconds(ends_at),
            ttl_expression=ttl,
            conflicts=conflicts,
        )

    def reserve_together(self, places: Sequence[Place], attempt: str) -> PlacesTaken:
        """One transaction of a place in each scope (one write without a transaction for
        a single scope). A scope with a mark is first taken on the condition that its
        place is not the mark's; when it would be (its old count, in the cancellation's
        reasons, says so), on the condition that its count is still the one found: the
        attempt then knows that its place reached the mark."""
        if len(places) == 1:
            scope, window, ends_at = places[0]
            # (an account's counter: another attempt's transaction may be in flight on it)
            count = self._take(scope, window, ends_at, attempt, conflicts=True)
            if count is None:
                return PlacesTaken(full=0)
            return PlacesTaken(reached=frozenset({scope.key} if count == scope.mark else ()))
        expected: dict[int, int] = {
            index: 0 for index, (scope, _, _) in enumerate(places) if scope.mark == 1
        }
        for _ in range(MARK_ATTEMPTS):
            items = [
                {"Update": self._reservation(place, attempt, expected.get(index))}
                for index, place in enumerate(places)
            ]
            with aws("reserve_attempts"):
                try:
                    self._db.transact_write_items(TransactItems=items)
                except ClientError as error:
                    if error.response["Error"]["Code"] != "TransactionCanceledException":
                        raise
                    found = _cancelled(error, places, attempt, expected)
                    if found is None:
                        continue  # near a mark: again, expecting the count found
                    return found
            reached = {
                places[index][0].key
                for index, count in expected.items()
                if count + 1 == places[index][0].mark
            }
            return PlacesTaken(reached=frozenset(reached))
        raise WriteConflict()  # the counts near their marks kept moving: again, later

    def _reservation(self, place: Place, attempt: str, expected: int | None) -> dict[str, Any]:
        scope, window, ends_at = place
        ttl = ":ttl" if scope.resets else "if_not_exists(#ttl, :ttl)"
        values = {
            ":one": n(1),
            ":limit": n(scope.limit),
            ":ttl": n(ttl_seconds(ends_at)),
            ":holder": {"SS": [attempt]},
            ":id": s(attempt),
        }
        condition = RESERVE_CONDITION
        if expected is not None:
            condition = EXACT_CONDITION if expected else EXACT_ZERO_CONDITION
            values[":count"] = n(expected)
        elif scope.mark is not None:
            condition = MARKED_CONDITION
            values[":below"] = n(scope.mark - 1)
        return {
            "TableName": self._table,
            "Key": throttle_key(scope.key, window),
            "UpdateExpression": RESERVE.format(ttl=ttl),
            "ConditionExpression": condition,
            "ExpressionAttributeNames": {
                "#count": "attempts",
                "#holders": "holders",
                "#ttl": "ttl",
            },
            "ExpressionAttributeValues": values,
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }

    def release(self, scope: ThrottleScope, window: int, window_ends_at: int, attempt: str) -> None:
        """Give a place back (a successful attempt, or one not judged after all): only one
        this attempt holds, so a retry gives nothing back twice, and a window TTL removed
        is not made again. A plain update, never part of a transaction."""
        del window_ends_at  # the place given back is in a counter that exists
        self._update(
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
        self._update(
            "reset_attempts",
            Key=throttle_key(scope.key, window),
            UpdateExpression="SET attempts = :zero REMOVE holders",
            # Only a counter that counts: no item is made for an account without failures.
            ConditionExpression="attempts > :zero",
            ExpressionAttributeValues={":zero": n(0)},
        )

    def keep(self, scope: ThrottleScope, window: int, attempt: str) -> None:
        """A run of failures is kept until a success resets it, a year at most: ids of
        judged failures left in its holders would grow its item by one each, toward
        DynamoDB's 400 KB limit. The count stays; the id goes."""
        self._update(
            "keep_attempt",
            Key=throttle_key(scope.key, window),
            UpdateExpression="DELETE holders :holder",
            ConditionExpression="contains(holders, :attempt)",
            ExpressionAttributeValues={":holder": {"SS": [attempt]}, ":attempt": s(attempt)},
        )

    def _update(self, operation: str, **request: Any) -> None:
        """A conditional update whose failed condition means there is nothing to do; one
        that met another attempt's reservation in flight raises WriteConflict."""
        with aws(operation):
            try:
                self._db.update_item(TableName=self._table, **request)
            except ClientError as error:
                code = error.response.get("Error", {}).get("Code")
                if code == "TransactionConflictException":
                    raise WriteConflict() from None
                if code != "ConditionalCheckFailedException":
                    raise


def _cancelled(
    error: ClientError, places: Sequence[Place], attempt: str, expected: dict[int, int]
) -> PlacesTaken | None:
    """What a cancelled reservation found: the first scope full (in `places`' order),
    whatever else was in flight; else a transaction in flight on a counter (WriteConflict:
    sent again); else None, with `expected` updated, when a scope with a mark was only near
    it; or every place taken, only when each failed condition was on a counter the attempt
    holds already (its own transaction, applied before its answer was lost). Any other
    reason: a 503."""
    codes = cancellation_codes(error)
    reasons = error.response.get("CancellationReasons", [])
    if len(reasons) != len(places):
        raise Unavailable(retry_after=1)  # (not DynamoDB's answer to this request)
    near = False
    for index, code in enumerate(codes):
        if code != "ConditionalCheckFailed":
            continue
        scope = places[index][0]
        if "Item" not in reasons[index]:
            if index in expected:  # gone since it was counted (TTL): count it again
                del expected[index]
                near = True
                continue
            return PlacesTaken(full=index)  # no count to go by: refused, the safe side
        old = reasons[index]["Item"]
        if attempt in old.get("holders", {}).get("SS", []):
            continue
        count = int(old.get("attempts", {}).get("N", "0"))
        if count >= scope.limit or scope.mark is None:
            return PlacesTaken(full=index)  # (a scope without a mark fails only when full)
        # Its place would be the mark's (or its count moved): again, knowing it.
        if count == scope.mark - 1:
            expected[index] = count
        else:
            expected.pop(index, None)
        near = True
    if "TransactionConflict" in codes:
        raise WriteConflict()
    if any(code not in ("None", "ConditionalCheckFailed") for code in codes):
        logger.warning("throttle reservation cancelled", codes=codes)
        raise Unavailable(retry_after=1)
    if "ConditionalCheckFailed" not in codes:
        raise Unavailable(retry_after=1)
    return None if near else PlacesTaken()
