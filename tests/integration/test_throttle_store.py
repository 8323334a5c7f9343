"""The throttle's counters at the store, in memory, on moto and on DynamoDB Local alike:
every interleaving of two attempts' writes (and of DynamoDB's TTL deleting the item) leaves
a counter that reads as a count, equal to the places held; no half-written item locks
anyone out; the longest scope the edge admits fits DynamoDB's key limits."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from typing import Any, Protocol

import pytest

from harness.fakes import InMemoryStore
from harness.stack import Stack
from session_service.adapters.dynamo import dynamodb_client
from session_service.adapters.throttle_store import DynamoThrottleStore
from session_service.domain.models import ThrottleScope
from session_service.domain.throttling.login_throttle import (
    ip_scope,
    username_and_ip_scope,
    username_scope,
)
from tests.helpers import PASSWORD, register
from tests.integration.backends import BACKENDS

SCOPE = ThrottleScope("user-ip#ada#198.51.100.1", limit=2)
WINDOW, WINDOW_ENDS_AT = 7, 8_000_000


class Counters(Protocol):
    def reserve(
        self, scope: ThrottleScope, window: int, window_ends_at: int, attempt: str
    ) -> int | None: ...

    def release(
        self, scope: ThrottleScope, window: int, window_ends_at: int, attempt: str
    ) -> None: ...

    def reset(self, scope: ThrottleScope, window: int, window_ends_at: int) -> None: ...

    def keep(self, scope: ThrottleScope, window: int, attempt: str) -> None: ...


class Counter:
    """A throttle store and a view of its one counter."""

    def __init__(self, name: str, stack: Stack | None) -> None:
        self.name = name
        self.memory = InMemoryStore()
        self.store: Counters = self.memory
        if stack is not None:
            self.stack = stack
            self.store = DynamoThrottleStore(dynamodb_client(), stack.table)

    def held(self) -> int | None:
        """The counter as a read finds it: None when there is no item."""
        if self.name == "memory":
            return self.memory.attempts.get((SCOPE.key, WINDOW))
        key = {"pk": {"S": f"THROTTLE#{SCOPE.key}"}, "sk": {"S": f"W#{WINDOW}"}}
        item = self.stack.clients("dynamodb").get_item(TableName=self.stack.table, Key=key)
        if "Item" not in item:
            return None
        # Every item parses: both attributes are numbers, beside the attempts holding places
        assert set(item["Item"]) - {"holders"} == {"pk", "sk", "attempts", "ttl"}
        assert int(item["Item"]["ttl"]["N"]) == WINDOW_ENDS_AT // 1000
        return int(item["Item"]["attempts"]["N"])

    def holders(self) -> set[str]:
        """The attempts the counter says hold a place."""
        if self.name == "memory":
            return set(self.memory.holders.get((SCOPE.key, WINDOW), set()))
        key = {"pk": {"S": f"THROTTLE#{SCOPE.key}"}, "sk": {"S": f"W#{WINDOW}"}}
        item = self.stack.clients("dynamodb").get_item(TableName=self.stack.table, Key=key)
        return set(item.get("Item", {}).get("holders", {}).get("SS", []))

    def expire(self) -> None:
        """DynamoDB's TTL deleting the item, at whatever moment it chooses."""
        if self.name == "memory":
            self.memory.attempts.pop((SCOPE.key, WINDOW), None)
            self.memory.holders.pop((SCOPE.key, WINDOW), None)
            return
        key = {"pk": {"S": f"THROTTLE#{SCOPE.key}"}, "sk": {"S": f"W#{WINDOW}"}}
        self.stack.clients("dynamodb").delete_item(TableName=self.stack.table, Key=key)


@pytest.fixture
def counters(request: pytest.FixtureRequest, backend: str) -> Counter:
    stack = None if backend == "memory" else request.getfixturevalue("stack")
    return Counter(backend, stack)


ON_EVERY_BACKEND = pytest.mark.parametrize("backend", ["memory", *BACKENDS], indirect=True)


def interleavings(first: list[str], second: list[str]) -> Iterator[list[tuple[str, str]]]:
    """Every merge of two sequences that keeps each one's own order."""
    total = len(first) + len(second)
    for positions in itertools.combinations(range(total), len(first)):
        merged, a, b = [], iter(first), iter(second)
        for index in range(total):
            merged.append(("A", next(a)) if index in positions else ("B", next(b)))
        yield merged


# One attempt fails (keeps its place); the other succeeds (gives it back); TTL may strike.
FAILED, SUCCEEDED = ["reserve"], ["reserve", "release"]
CASES = [
    [*merged[:cut], ("TTL", "expire"), *merged[cut:]]
    for merged in interleavings(FAILED + FAILED, SUCCEEDED)
    for cut in range(len(merged) + 1)
] + list(interleavings(FAILED + SUCCEEDED, SUCCEEDED))


@ON_EVERY_BACKEND
@pytest.mark.parametrize("steps", CASES, ids=lambda steps: "-".join(f"{a}.{o}" for a, o in steps))
def test_any_interleaving_leaves_a_counter_equal_to_the_places_held(
    counters: Counter, steps: list[tuple[str, str]]
) -> None:
    # Each reservation is an attempt of its own; a release is its sequence's last one's.
    held: dict[str, str] = {}
    expected = 0
    for number, (sequence, operation) in enumerate(steps):
        if operation == "expire":
            counters.expire()
            held.clear()
            expected = 0
        elif operation == "reserve":
            attempt = f"{sequence}{number}"
            count = counters.store.reserve(SCOPE, WINDOW, WINDOW_ENDS_AT, attempt)
            # A place exists only below the limit, and the count it answers includes it
            assert count == (expected + 1 if expected < SCOPE.limit else None)
            if count is not None:
                held[sequence] = attempt
                expected += 1
        elif sequence in held:
            counters.store.release(SCOPE, WINDOW, WINDOW_ENDS_AT, held.pop(sequence))
            expected -= 1
        # After every step the counter reads, and counts exactly the places held
        assert (counters.held() or 0) == expected


@ON_EVERY_BACKEND
def test_judged_failures_kept_for_good_leave_their_count_and_no_id(counters: Counter) -> None:
    # A run of failures is counted until a success, for up to a year: the ids of its judged
    # failures must not pile up in its item (DynamoDB's 400 KB limit)
    for attempt in ("a", "b"):
        assert counters.store.reserve(SCOPE, WINDOW, WINDOW_ENDS_AT, attempt) is not None
        counters.store.keep(SCOPE, WINDOW, attempt)
    assert (counters.held(), counters.holders()) == (2, set())
    # and a place kept for good is never given back
    counters.store.release(SCOPE, WINDOW, WINDOW_ENDS_AT, "a")
    assert counters.held() == 2


@ON_EVERY_BACKEND
def test_a_release_after_ttl_removed_the_window_makes_no_counter(counters: Counter) -> None:
    assert counters.store.reserve(SCOPE, WINDOW, WINDOW_ENDS_AT, "a") == 1
    counters.expire()
    counters.store.release(SCOPE, WINDOW, WINDOW_ENDS_AT, "a")
    assert counters.held() is None
    # and the window takes its limit's worth, and no more
    assert [counters.store.reserve(SCOPE, WINDOW, WINDOW_ENDS_AT, f"b{i}") for i in range(3)] == [
        1,
        2,
        None,
    ]


@ON_EVERY_BACKEND
def test_a_reservation_or_a_release_sent_again_counts_once(counters: Counter) -> None:
    # What botocore does when a write's answer is lost: the same write, again.
    assert counters.store.reserve(SCOPE, WINDOW, WINDOW_ENDS_AT, "a") == 1
    assert counters.store.reserve(SCOPE, WINDOW, WINDOW_ENDS_AT, "a") == 1
    assert counters.held() == 1
    # The last place, taken and sent again: the retry finds its own place, not a full window
    assert counters.store.reserve(SCOPE, WINDOW, WINDOW_ENDS_AT, "b") == 2
    assert counters.store.reserve(SCOPE, WINDOW, WINDOW_ENDS_AT, "b") == 2
    assert counters.store.reserve(SCOPE, WINDOW, WINDOW_ENDS_AT, "c") is None
    counters.store.release(SCOPE, WINDOW, WINDOW_ENDS_AT, "a")
    counters.store.release(SCOPE, WINDOW, WINDOW_ENDS_AT, "a")
    assert counters.held() == 1
    # A release of a place the attempt never took gives nothing back
    counters.store.release(SCOPE, WINDOW, WINDOW_ENDS_AT, "c")
    assert counters.held() == 1


@ON_EVERY_BACKEND
def test_a_reset_counts_from_zero_and_makes_no_counter_where_there_is_none(
    counters: Counter,
) -> None:
    # Given no counter, a reset makes none
    counters.store.reset(SCOPE, WINDOW, WINDOW_ENDS_AT)
    assert counters.held() is None
    # Given a full counter, a reset empties it and the window takes its limit again
    assert counters.store.reserve(SCOPE, WINDOW, WINDOW_ENDS_AT, "a") == 1
    assert counters.store.reserve(SCOPE, WINDOW, WINDOW_ENDS_AT, "b") == 2
    counters.store.reset(SCOPE, WINDOW, WINDOW_ENDS_AT)
    assert counters.held() == 0
    assert counters.store.reserve(SCOPE, WINDOW, WINDOW_ENDS_AT, "c") == 1


@ON_EVERY_BACKEND
def test_the_longest_scopes_the_edge_admits_count(counters: Counter) -> None:
    # The longest username (64 characters) from the longest address text (IPv6)
    username, ip = "a" * 64, "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255"
    for scope_key in (username_and_ip_scope(username, ip), username_scope(username), ip_scope(ip)):
        scope = ThrottleScope(scope_key, limit=1)
        assert counters.store.reserve(scope, WINDOW, WINDOW_ENDS_AT, "a") == 1
        assert counters.store.reserve(scope, WINDOW, WINDOW_ENDS_AT, "b") is None
        counters.store.release(scope, WINDOW, WINDOW_ENDS_AT, "a")
        assert counters.store.reserve(scope, WINDOW, WINDOW_ENDS_AT, "c") == 1


@pytest.mark.parametrize(
    "leftover",
    [
        # What the throttle of earlier versions could leave behind: a lock without a count
        {"pk": {"S": "FAILURES#user#ada"}, "sk": {"S": "FAILURES"}, "blocked_until": {"N": "1"}},
        # A counter with its count missing, however that came about
        {"pk": {"S": "THROTTLE#user#ada"}, "sk": {"S": "W#0"}},
    ],
    ids=["lock-without-count", "counter-without-count"],
)
def test_a_counter_without_its_count_never_locks_the_owner_out(
    stack: Stack, leftover: dict[str, Any]
) -> None:
    register(stack)
    window = int(time.time()) // 900
    if leftover["pk"]["S"].startswith("THROTTLE#"):
        leftover = {**leftover, "sk": {"S": f"W#{window}"}}
    item = {**leftover, "ttl": {"N": str(2_000_000_000)}}
    stack.clients("dynamodb").put_item(TableName=stack.table, Item=item)
    answer = stack.http("POST", "/auth/login", {"username": "ada", "password": PASSWORD})
    assert answer.status == 200, answer.json()


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
def test_a_run_of_failures_lives_as_long_after_its_last_failure_a_window_after_its_first(
    stack: Stack,
) -> None:
    store = DynamoThrottleStore(dynamodb_client(), stack.table)
    run = ThrottleScope("factor-run#u", limit=100, resets=True)
    window = ThrottleScope("factor#u", limit=10)
    for ends_at in (5_000_000, 9_000_000):
        store.reserve(run, 0, ends_at, f"run{ends_at}")
        store.reserve(window, WINDOW, ends_at, f"window{ends_at}")

    def ttl(scope: ThrottleScope, number: int) -> int:
        key = {"pk": {"S": f"THROTTLE#{scope.key}"}, "sk": {"S": f"W#{number}"}}
        item = stack.clients("dynamodb").get_item(TableName=stack.table, Key=key)["Item"]
        return int(item["ttl"]["N"])

    assert (ttl(run, 0), ttl(window, WINDOW)) == (9_000, 5_000)
