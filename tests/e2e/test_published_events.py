"""Every change of a burst reaches the bus, and later changes still do (the local run's
stream pump against the table's stream, on moto and on DynamoDB Local)."""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.e2e.conftest import BURSTS, DEPLOYED_URL, PASSWORD, Service

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.xdist_group("e2e"),
    pytest.mark.skipif(bool(DEPLOYED_URL), reason="reads the local emulator's bus"),
]


class BusListener:
    """A rule on the service's bus that copies one user's events to a queue."""

    def __init__(self, service: Service, user_ids: list[str]) -> None:
        self.sqs = service.aws("sqs")
        self.events = service.aws("events")
        (self.bus,) = [
            bus["Name"]
            for bus in self.events.list_event_buses()["EventBuses"]
            if bus["Name"] != "default"
        ]
        self.rule = f"listener-{uuid.uuid4().hex[:8]}"
        self.queue = self.sqs.create_queue(QueueName=self.rule)["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=self.queue, AttributeNames=["QueueArn"])
        self.events.put_rule(
            Name=self.rule,
            EventBusName=self.bus,
            EventPattern=json.dumps({"detail": {"user_id": user_ids}}),
        )
        self.events.put_targets(
            Rule=self.rule,
            EventBusName=self.bus,
            Targets=[{"Id": "queue", "Arn": arn["Attributes"]["QueueArn"]}],
        )
        self.received: list[dict[str, Any]] = []

    def until(self, enough: Counter[tuple[str, str]], timeout: float = 30) -> Counter[Any]:
        """Poll until the (detail-type, reason) counts reach `enough` or time runs out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not enough <= self.counts():
            answer = self.sqs.receive_message(QueueUrl=self.queue, MaxNumberOfMessages=10)
            for message in answer.get("Messages", []):
                self.received.append(json.loads(message["Body"]))
                self.sqs.delete_message(QueueUrl=self.queue, ReceiptHandle=message["ReceiptHandle"])
            if not answer.get("Messages"):
                time.sleep(0.2)  # short polls: a long poll would hold the emulator's lock
        return self.counts()

    def counts(self) -> Counter[tuple[str, str]]:
        return Counter(
            (event["detail-type"], event["detail"].get("reason", "")) for event in self.received
        )

    def close(self) -> None:
        self.events.remove_targets(Rule=self.rule, EventBusName=self.bus, Ids=["queue"])
        self.events.delete_rule(Name=self.rule, EventBusName=self.bus)
        self.sqs.delete_queue(QueueUrl=self.queue)


@pytest.fixture
def service(on_each_backend: Callable[..., Service]) -> Service:
    return on_each_backend(**BURSTS)


@pytest.fixture
def users(service: Service) -> Iterator[tuple[str, str, BusListener]]:
    """Two new users (no session yet) and a listener to their events."""
    names = [f"e2e-{uuid.uuid4().hex[:16]}" for _ in range(2)]
    ids = []
    for name in names:
        answer = service.post("/auth/register", {"username": name, "password": PASSWORD})
        assert answer.status_code == 201
        ids.append(str(answer.json()["user_id"]))
    listener = BusListener(service, ids)
    yield names[0], names[1], listener
    listener.close()


def test_every_change_of_a_burst_reaches_the_bus_and_later_changes_still_do(
    service: Service, users: tuple[str, str, BusListener]
) -> None:
    first, second, listener = users
    # When 12 logins of the first user race (limit 3: each one past it evicts the oldest)
    body = {"username": first, "password": PASSWORD}
    with ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(lambda _: service.post("/auth/login", body), range(12)))
    assert [answer.status_code for answer in answers] == [200] * 12
    # Then 12 starts and 9 evictions reach the bus
    expected = Counter({("SessionStarted", ""): 12, ("SessionRevoked", "evicted"): 9})
    assert listener.until(expected) == expected
    # And a later change, of the other user, still does
    listener.received.clear()
    service.login(second)
    later = Counter({("SessionStarted", ""): 1})
    assert listener.until(later) == later
