"""The backends the store suites run on, and the throttle room their bursts need."""

from __future__ import annotations

import dataclasses

from harness.domain import THROTTLE
from harness.fakes import InMemoryStore
from session_service.adapters.store import DynamoSessionStore
from session_service.adapters.stream_records import account_event_from_item
from session_service.domain.models import AccountEvent
from session_service.domain.ports import SessionStore

# The DynamoDB implementations behind the stores: moto's, and AWS's own DynamoDB Local.
BACKENDS = ("moto", "dynamodb-local")
# The sweeps that fail or lose each call of a route in turn (faults at botocore's edge, the
# same on any backend) run on AWS's own implementation only: what they prove is what
# DynamoDB's conditions and transactions leave behind, which DynamoDB Local has and moto
# approximates (leniently: it can hide a half-written state, never show one DynamoDB
# would not). On both they were a sixth of the suite's time; the bursts and every store
# contract still run on both.
SWEEP_BACKENDS = ("dynamodb-local",)

# Every right password holds a throttle place while it is checked: a burst of one user's
# logins from one address needs as many places as it has logins (and a burst of one
# session's step-ups as many of the session's).
ROOM_FOR_BURSTS = dataclasses.replace(
    THROTTLE, failures_per_username_and_ip=12, step_up_failures_per_session=12
)


def account_events(store: SessionStore) -> list[AccountEvent]:
    """The account events a backend holds (what its stream would carry), oldest first."""
    if isinstance(store, InMemoryStore):
        return list(store.account_events)
    assert isinstance(store, DynamoSessionStore)
    client, table = store._db, store._table
    items = client.scan(
        TableName=table,
        FilterExpression="kind = :kind",
        ExpressionAttributeValues={":kind": {"S": "account_event"}},
        ConsistentRead=True,
    )["Items"]
    return sorted((account_event_from_item(item) for item in items), key=lambda e: e.at)
