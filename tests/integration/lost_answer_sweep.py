"""The lost-answer sweep the route suites share: a route called as it goes when all is well,
then again for a fresh user with each of its writes in turn applied and its answer lost
("post"; botocore sends it again, as on AWS: harness/lost_answers.py), with every throttle
place's write lost at once, and with every call refused once before it is applied ("pre":
throttled, then retried). Each
faulted call must answer as the clean one did and leave the same state: the same sessions
live, the same items, the same events on the bus (at least once, and never a second copy
under another event_id), no throttle place left counted."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from harness.lost_answers import (
    DynamoFaults,
    injected,
    nth_write,
    other_writes,
    throttle_writes,
)
from harness.stack import HttpAnswer, Stack
from session_service.adapters.stream_records import decode_stream_record
from session_service.domain.activity.events import events_for
from tests.helpers import bearer, login, register, stream_records


@dataclass
class Subject:
    """A user made ready for the route: their id, two sessions (the caller's "own" and an
    "other"), and whatever else the route needs (a code, a passkey, an authenticator)."""

    user_id: str
    own: dict[str, Any]
    other: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Route:
    """`prepare` runs without faults; `call` is the request under them; `state` is what the
    route leaves beyond sessions and events (a factor, a count), compared with the clean
    run's; `live` is which of the two sessions the clean run leaves live."""

    prepare: Callable[[Stack, str], Subject]
    call: Callable[[Stack, Subject], HttpAnswer]
    live: frozenset[str]
    state: Callable[[Stack, Subject], object] = lambda _stack, _subject: None
    # The throttle scopes (their kind: "mail-to") where the route keeps one place a call
    # (a message asked for is counted, sent or not); every other place is given back.
    kept: frozenset[str] = frozenset()


def signed_in_twice(stack: Stack, username: str) -> Subject:
    """The usual subject: a new user signed in twice, nothing else."""
    user_id = register(stack, username)
    other, own = login(stack, username), login(stack, username)
    return Subject(user_id, own, other, {"username": username})


def live_sessions(stack: Stack, subject: Subject) -> set[str]:
    return {
        name
        for name, tokens in (("own", subject.own), ("other", subject.other))
        if stack.http("GET", "/auth/session", headers=bearer(tokens["access_token"])).status == 200
    }


def places(stack: Stack) -> dict[str, int]:
    """The throttle's counters, zeros included (registrations keep their places)."""
    counters = _scan(stack, "begins_with(pk, :throttle)", {":throttle": {"S": "THROTTLE#"}})
    return {
        item["pk"]["S"]: int(item["attempts"]["N"])
        for item in counters
        if "#register#" not in item["pk"]["S"]
    }


def _scan(stack: Stack, condition: str, values: dict[str, Any]) -> list[dict[str, Any]]:
    """The items matching `condition`, filtered by DynamoDB (a sweep's table grows)."""
    client, found = stack.clients("dynamodb"), []
    request: dict[str, Any] = {"TableName": stack.table, "FilterExpression": condition}
    request |= {"ExpressionAttributeValues": values, "ConsistentRead": True}
    while True:
        page = client.scan(**request)
        found += page["Items"]
        if "LastEvaluatedKey" not in page:
            return found
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _sessions(stack: Stack, user_id: str) -> int:
    found = stack.clients("dynamodb").query(
        TableName=stack.table,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :session)",
        ExpressionAttributeValues={":pk": {"S": f"USER#{user_id}"}, ":session": {"S": "SESSION#"}},
        Select="COUNT",
        ConsistentRead=True,
    )
    return int(found["Count"])


@dataclass(frozen=True)
class Published:
    event_id: str
    user_id: str
    what: str  # its type, and its reason if it has one


class Bus:
    """What the bus gets from the table's stream, read as it grows."""

    def __init__(self, stack: Stack) -> None:
        self._stack = stack
        self._read: dict[str, str] = {}
        self.events: list[Published] = []
        self.reuse_reported = 0

    def catch_up(self) -> None:
        for record in stream_records(self._stack, self._read):
            self.reuse_reported += "reuse_detected" in str(record["dynamodb"])
            change = decode_stream_record(record)
            for event in events_for(change) if change else []:
                what = f"{event.detail_type}:{event.detail.get('reason', '')}"
                user_id = str(event.detail["user_id"])
                self.events.append(Published(str(event.detail["event_id"]), user_id, what))

    def of(self, user_id: str) -> Counter[str]:
        return Counter(event.what for event in self.events if event.user_id == user_id)


@dataclass(frozen=True)
class Outcome:
    status: int
    live: set[str]
    sessions: int
    events: Counter[str]
    # throttle places the call left counted (before `state`, whose wrong proofs count):
    # each counter that moved, by its scope's kind ("user-ip"), with how far it moved
    places: tuple[tuple[str, int], ...]
    state: object


def _run(stack: Stack, bus: Bus, route: Route, username: str, faults: DynamoFaults) -> Outcome:
    subject = route.prepare(stack, username)
    before = places(stack)
    with injected(faults):
        answer = route.call(stack, subject)
    after = places(stack)
    # every counter that moved, up or down (a place given back twice reads one less), by
    # its kind: a scope named after the user or their address has a name of its own a run
    moved = tuple(
        sorted(
            (key.split("#")[1], after.get(key, 0) - before.get(key, 0))
            for key in before.keys() | after.keys()
            if after.get(key, 0) != before.get(key, 0)
        )
    )
    sessions = _sessions(stack, subject.user_id)
    live = live_sessions(stack, subject)
    bus.catch_up()
    return Outcome(
        answer.status, live, sessions, bus.of(subject.user_id), moved, route.state(stack, subject)
    )


@dataclass(frozen=True)
class Swept:
    outcome: Outcome  # the clean run's, which every faulted run matched
    places_lost: int  # the throttle writes lost at once (0: the route takes no place)


def sweep(stack: Stack, route: Route) -> Swept:
    """Every write of the route lost in turn (a throttle place's all at once: they are one
    write, `dynamo.take_place` and its release, which test_lost_answers.py loses one by
    one), then every call refused once; the clean run's outcome, for the caller to assert
    exactly."""
    bus = Bus(stack)
    clean = DynamoFaults("post", choose=lambda _operation, _number: False, concerns=other_writes)
    expected = _run(stack, bus, route, "clean", clean)
    writes = sum(clean.calls.values())  # those of the route, but the throttle's
    assert writes >= 1
    assert expected.live == route.live
    assert expected.places == tuple(sorted((kind, 1) for kind in route.kept))
    for lost in range(1, writes + 1):
        faults = DynamoFaults("post", choose=nth_write(lost), concerns=other_writes)
        outcome = _run(stack, bus, route, f"user{lost}", faults)
        assert sum(faults.injected.values()) == 1, lost
        assert outcome == expected, (lost, faults.injected)
    places = DynamoFaults("post", rate=1.0, first_attempts_only=True, concerns=throttle_writes)
    outcome = _run(stack, bus, route, "places", places)
    assert outcome == expected, places.injected
    assert places.injected["UpdateItem"] == clean.sent["UpdateItem"] - clean.calls["UpdateItem"]
    refused = DynamoFaults("pre", rate=1.0, first_attempts_only=True)
    outcome = _run(stack, bus, route, "refused", refused)
    assert refused.injected == clean.sent
    assert outcome == expected, refused.injected
    # Every event published once, and no reuse reported, in any run
    bus.catch_up()
    ids = [event.event_id for event in bus.events]
    assert len(ids) == len(set(ids))
    assert bus.reuse_reported == 0
    return Swept(expected, places.injected["UpdateItem"])


def credential_item(stack: Stack, username: str) -> dict[str, Any]:
    """The user's credential item (their password, factors and counts), as stored."""
    key = {"pk": {"S": f"LOGIN#{username}"}, "sk": {"S": "LOGIN"}}
    found = stack.clients("dynamodb").get_item(TableName=stack.table, Key=key, ConsistentRead=True)
    return dict(found["Item"])
