"""The activity store's limit on what anyone can make a user's activity hold, in memory, on
moto and on DynamoDB Local alike: of a burst of attempt entries in one window, exactly the
limit's worth get a place, an entry admitted again (a retried write, a replayed batch) keeps
its own and takes no other; another user, or the next window, has room of its own."""

from __future__ import annotations

from collections import Counter

import pytest

from harness.memory_activity import InMemoryActivityStore
from harness.stack import Stack
from session_service.adapters.activity_store import DynamoActivityStore
from session_service.adapters.dynamo import dynamodb_client
from session_service.domain.activity.activity_log import ActivityStore
from tests.helpers import burst
from tests.integration.backends import BACKENDS

pytestmark = pytest.mark.parametrize("backend", ["memory", *BACKENDS], indirect=True)

WINDOW, WINDOW_ENDS_AT = 7, 8_000_000


@pytest.fixture
def activity(request: pytest.FixtureRequest, backend: str) -> ActivityStore:
    if backend == "memory":
        return InMemoryActivityStore()
    stack: Stack = request.getfixturevalue("stack")
    request.getfixturevalue("stores")  # (moto in process takes bursts one call at a time)
    return DynamoActivityStore(dynamodb_client(), stack.table)


def test_a_burst_of_attempt_entries_gets_exactly_the_limits_places(
    activity: ActivityStore,
) -> None:
    outcomes = burst(30, lambda i: activity.admit("ada", WINDOW, 20, WINDOW_ENDS_AT, f"e{i}"))
    assert outcomes == Counter({True: 20, False: 10})
    # Another user, and the next window, have room of their own
    assert activity.admit("bob", WINDOW, 20, WINDOW_ENDS_AT, "e0") is True
    assert activity.admit("ada", WINDOW + 1, 20, WINDOW_ENDS_AT + 900_000, "e0") is True


def test_an_entry_admitted_again_keeps_its_place_and_takes_no_other(
    activity: ActivityStore,
) -> None:
    # A retried write, or a replayed batch: the same entry again
    assert [activity.admit("ada", WINDOW, 2, WINDOW_ENDS_AT, "a") for _ in range(2)] == [True] * 2
    assert [activity.admit("ada", WINDOW, 2, WINDOW_ENDS_AT, "b") for _ in range(2)] == [True] * 2
    # The window's two places are a's and b's: c has none, b still has its own
    assert activity.admit("ada", WINDOW, 2, WINDOW_ENDS_AT, "c") is False
    assert activity.admit("ada", WINDOW, 2, WINDOW_ENDS_AT, "b") is True
