"""Single sign-on's client store (ClientStore) over each backend (in memory, moto, DynamoDB
Local): a client is written once under its id, read back as written, replaced only over
the version read (of racing changes one lands), deleted once; registrations and deletions
leave the records their events come from."""

from __future__ import annotations

import dataclasses
import uuid

import pytest

from harness.memory_clients import client_events, client_store_over
from session_service.domain.models import ClientEvent
from session_service.domain.ports import AlreadyExists, SessionStore, StaleWrite
from session_service.domain.sso.clients import (
    ClientStore,
    OAuthClient,
    client_event,
    secret_digest,
)
from tests.helpers import burst
from tests.integration.backends import BACKENDS

pytestmark = pytest.mark.parametrize("backend", ["memory", *BACKENDS], indirect=True)

NOW = 1_800_000_000_000


@pytest.fixture
def clients(store: SessionStore) -> ClientStore:
    return client_store_over(store)


def _client(name: str = "Billing", **changes: object) -> OAuthClient:
    client = OAuthClient(
        client_id=str(uuid.uuid4()),
        name=name,
        client_type="confidential",
        redirect_uris=("https://billing.example.test/b", "https://billing.example.test/a"),
        post_logout_redirect_uris=(),
        backchannel_logout_uri="https://billing.example.test/logout",
        secret_digest=secret_digest("s3cret"),
        created_at=NOW,
        updated_at=NOW,
    )
    return dataclasses.replace(client, **changes)  # type: ignore[arg-type]


def _registered(clients: ClientStore, client: OAuthClient) -> ClientEvent:
    event = client_event(client, "ClientRegistered", client.created_at)
    clients.put_client(client, event)
    return event


def test_a_client_is_read_back_as_written_and_its_id_is_its_own(clients: ClientStore) -> None:
    confidential = _client()
    public = _client(
        "Desktop",
        client_type="public",
        secret_digest=None,
        backchannel_logout_uri=None,
        post_logout_redirect_uris=("http://127.0.0.1:8400/",),
    )
    registered = _registered(clients, confidential)
    _registered(clients, public)
    assert clients.find_client(confidential.client_id) == confidential
    assert clients.find_client(public.client_id) == public
    assert clients.find_client(str(uuid.uuid4())) is None
    # Another client under a taken id writes nothing, its event neither
    taken = _client("Impostor", client_id=confidential.client_id)
    with pytest.raises(AlreadyExists):
        clients.put_client(taken, client_event(taken, "ClientRegistered", NOW))
    assert clients.find_client(confidential.client_id) == confidential
    assert sorted(event.client_id for event in client_events(clients)) == sorted(
        [registered.client_id, public.client_id]
    )
    assert sorted(clients.list_clients(), key=lambda c: c.name) == [confidential, public]


def test_a_replacement_lands_only_on_the_version_read(clients: ClientStore) -> None:
    client = _client()
    _registered(clients, client)
    renamed = dataclasses.replace(client, name="Billing v2", updated_at=NOW + 1)
    clients.replace_client(renamed, expected_updated_at=NOW)
    assert clients.find_client(client.client_id) == renamed
    # The same write sent again (its answer lost) finds itself there: no error
    clients.replace_client(renamed, expected_updated_at=NOW)
    # A change made on the version before is refused, and changes nothing
    stale = dataclasses.replace(client, name="Stale", updated_at=NOW + 2)
    with pytest.raises(StaleWrite):
        clients.replace_client(stale, expected_updated_at=NOW)
    assert clients.find_client(client.client_id) == renamed
    # A client that is not there is not written
    ghost = _client()
    with pytest.raises(StaleWrite):
        clients.replace_client(ghost, expected_updated_at=NOW)
    assert clients.find_client(ghost.client_id) is None


def test_of_racing_changes_of_one_version_exactly_one_lands(clients: ClientStore) -> None:
    client = _client()
    _registered(clients, client)

    def change(index: int) -> str:
        changed = dataclasses.replace(client, name=f"Billing {index}", updated_at=NOW + 1)
        try:
            clients.replace_client(changed, expected_updated_at=NOW)
        except StaleWrite:
            return "stale"
        return f"landed {index}"

    outcomes = burst(6, change)
    assert outcomes["stale"] == 5
    (landed,) = [outcome for outcome in outcomes if outcome != "stale"]
    stored = clients.find_client(client.client_id)
    assert stored is not None
    assert stored.name == f"Billing {landed.removeprefix('landed ')}"


def test_a_deletion_happens_once_with_its_record(clients: ClientStore) -> None:
    client, other = _client(), _client("Other")
    registered = _registered(clients, client)
    _registered(clients, other)
    deleted = client_event(client, "ClientDeleted", NOW + 5)
    clients.delete_client(client.client_id, deleted)
    assert clients.find_client(client.client_id) is None
    assert clients.list_clients() == [other]
    # Gone: a second deletion is refused and records nothing
    with pytest.raises(StaleWrite):
        clients.delete_client(client.client_id, client_event(client, "ClientDeleted", NOW + 6))
    events = [event for event in client_events(clients) if event.client_id == client.client_id]
    assert events == [registered, deleted]


def test_many_clients_are_listed_whole(clients: ClientStore) -> None:
    # About 60 KB each: more than one page of a DynamoDB Query (1 MB)
    long_uris = tuple(f"https://app{i}.example.test/{'p' * 1400}" for i in range(20))
    written = [
        _client(f"App {index}", redirect_uris=long_uris, post_logout_redirect_uris=long_uris)
        for index in range(20)
    ]
    for client in written:
        _registered(clients, client)
    listed = clients.list_clients()
    assert sorted(listed, key=lambda c: c.client_id) == sorted(written, key=lambda c: c.client_id)
