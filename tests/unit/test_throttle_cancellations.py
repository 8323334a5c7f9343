"""What the throttle's store makes of a cancelled reservation (DynamoDB's cancellation
reasons, as a fake client answers them): a full scope refuses whatever else was in flight,
a transaction in flight alone is sent again, its own earlier transaction is success, any
other reason is a 503; and the place that would reach a scope's mark is sent again on its
exact count, so that the attempt knows it reached it."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from session_service.adapters.throttle_store import DynamoThrottleStore
from session_service.domain.errors import Unavailable
from session_service.domain.models import ThrottleScope
from session_service.domain.ports import Place, PlacesTaken, WriteConflict

ATTEMPT = "attempt-1"
USER_IP = ThrottleScope("user-ip#ada#198.51.100.1", 5)
CEILING = ThrottleScope("user#ada", 100, remembered=True)
SESSION = ThrottleScope("step-up#s1", 5, span=(0, 9_000_000), mark=5)


def place(scope: ThrottleScope) -> Place:
    return (scope, 7, 8_000_000)


def reason(code: str, attempts: int | None = None, holders: tuple[str, ...] = ()) -> Any:
    found: dict[str, Any] = {"Code": code}
    if attempts is not None:
        found["Item"] = {"attempts": {"N": str(attempts)}}
        if holders:
            found["Item"]["holders"] = {"SS": list(holders)}
    return found


class FakeDynamoDB:
    """Answers each TransactWriteItems with the next cancellation (None: success)."""

    def __init__(self, *answers: list[Any] | None) -> None:
        self.answers = list(answers)
        self.sent: list[list[dict[str, Any]]] = []

    def transact_write_items(self, TransactItems: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803
        self.sent.append(TransactItems)
        reasons = self.answers.pop(0)
        if reasons is None:
            return {}
        error = {"Code": "TransactionCanceledException", "Message": "cancelled"}
        raise ClientError({"Error": error, "CancellationReasons": reasons}, "TransactWriteItems")


def reserve(client: FakeDynamoDB, *scopes: ThrottleScope) -> PlacesTaken:
    store = DynamoThrottleStore(client, "table")
    return store.reserve_together([place(scope) for scope in scopes], ATTEMPT)


def test_a_full_scope_refuses_even_beside_a_transaction_in_flight() -> None:
    client = FakeDynamoDB([reason("TransactionConflict"), reason("ConditionalCheckFailed", 100)])
    assert reserve(client, USER_IP, CEILING) == PlacesTaken(full=1)


def test_a_transaction_in_flight_alone_is_sent_again() -> None:
    client = FakeDynamoDB([reason("None"), reason("TransactionConflict")])
    with pytest.raises(WriteConflict):
        reserve(client, USER_IP, CEILING)


def test_its_own_transaction_applied_before_its_answer_was_lost_is_success() -> None:
    own = reason("ConditionalCheckFailed", 3, holders=(ATTEMPT,))
    client = FakeDynamoDB([own, reason("ConditionalCheckFailed", 40, holders=(ATTEMPT,))])
    assert reserve(client, USER_IP, CEILING) == PlacesTaken()


def test_throttling_is_a_503_and_a_failed_condition_without_a_count_refuses() -> None:
    throttled = FakeDynamoDB([reason("None"), {"Code": "ThrottlingError"}])
    with pytest.raises(Unavailable):
        reserve(throttled, USER_IP, CEILING)
    uncounted = FakeDynamoDB([reason("None"), reason("ConditionalCheckFailed")])
    assert reserve(uncounted, USER_IP, CEILING) == PlacesTaken(full=1)


def test_the_place_that_reaches_a_mark_is_sent_again_on_its_exact_count() -> None:
    # Given a session's scope one below its mark: the first send, conditioned on not
    # taking the mark's place, is refused with the count it found
    client = FakeDynamoDB([reason("ConditionalCheckFailed", 4), reason("None")], None)
    taken = reserve(client, SESSION, USER_IP)
    # Then the second is conditioned on that very count, and the attempt knows it filled it
    first, second = (sent[0]["Update"] for sent in client.sent)
    assert first["ExpressionAttributeValues"][":below"] == {"N": "4"}
    assert second["ConditionExpression"].startswith("#count = :count")
    assert second["ExpressionAttributeValues"][":count"] == {"N": "4"}
    assert taken == PlacesTaken(reached=frozenset({SESSION.key}))


def test_a_place_far_from_its_mark_reaches_nothing() -> None:
    client = FakeDynamoDB(None)
    assert reserve(client, SESSION, USER_IP) == PlacesTaken()
