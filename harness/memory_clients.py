"""Single sign-on's clients in memory (ClientStore), with the DynamoDB store's conditions
and errors one for one (adapters/client_store.py), each write applied atomically under
one lock; and a client store over any backend of the store suites, with the client events
it holds (what its stream would carry)."""

from __future__ import annotations

import threading

from harness.fakes import InMemoryStore
from harness.key_limits import check_keys
from session_service.adapters.client_items import (
    client_event_from_item,
    client_event_key,
    client_key,
)
from session_service.adapters.client_store import DynamoClientStore
from session_service.adapters.store import DynamoSessionStore
from session_service.domain.models import ClientEvent, Millis
from session_service.domain.ports import AlreadyExists, SessionStore, StaleWrite
from session_service.domain.sso.clients import ClientStore, OAuthClient


class InMemoryClientStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.clients: dict[str, OAuthClient] = {}
        # Registrations and deletions, oldest first: what the stream carries.
        self.events: list[ClientEvent] = []
        self.calls: list[str] = []

    def _record(self, event: ClientEvent) -> None:
        check_keys(client_event_key(event.record_id))
        if any(known.record_id == event.record_id for known in self.events):
            raise StaleWrite()  # its record's condition (attribute_not_exists) fails
        self.events.append(event)

    def put_client(self, client: OAuthClient, event: ClientEvent) -> None:
        with self._lock:
            self.calls.append("put_client")
            check_keys(client_key(client.client_id))
            if client.client_id in self.clients:
                raise AlreadyExists()
            self._record(event)
            self.clients[client.client_id] = client

    def find_client(self, client_id: str) -> OAuthClient | None:
        with self._lock:
            self.calls.append("find_client")
            check_keys(client_key(client_id))
            return self.clients.get(client_id)

    def list_clients(self) -> list[OAuthClient]:
        with self._lock:
            self.calls.append("list_clients")
            # A Query returns the partition in sort-key order: by client id.
            return [self.clients[client_id] for client_id in sorted(self.clients)]

    def replace_client(self, client: OAuthClient, expected_updated_at: Millis) -> None:
        with self._lock:
            self.calls.append("replace_client")
            check_keys(client_key(client.client_id))
            stored = self.clients.get(client.client_id)
            if stored == client:
                return  # the same write again (its answer lost): it has landed
            if stored is None or stored.updated_at != expected_updated_at:
                raise StaleWrite()
            self.clients[client.client_id] = client

    def delete_client(self, client_id: str, event: ClientEvent) -> None:
        with self._lock:
            self.calls.append("delete_client")
            check_keys(client_key(client_id))
            if client_id not in self.clients:
                raise StaleWrite()
            self._record(event)
            del self.clients[client_id]


def client_store_over(store: SessionStore) -> ClientStore:
    """The client store of the backend `store` is on (the store suites' fixtures)."""
    if isinstance(store, InMemoryStore):
        return InMemoryClientStore()
    assert isinstance(store, DynamoSessionStore)
    return DynamoClientStore(store._db, store._table)


def client_events(clients: ClientStore) -> list[ClientEvent]:
    """The client events a backend holds (what its stream would carry), oldest first."""
    if isinstance(clients, InMemoryClientStore):
        return list(clients.events)
    assert isinstance(clients, DynamoClientStore)
    items = clients._db.scan(
        TableName=clients._table,
        FilterExpression="kind = :kind",
        ExpressionAttributeValues={":kind": {"S": "client_event"}},
        ConsistentRead=True,
    )["Items"]
    events = (client_event_from_item(item) for item in items)
    return sorted(events, key=lambda event: (event.at, event.event_type != "ClientRegistered"))
