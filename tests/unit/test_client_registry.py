"""The OAuth client registry (domain/sso/clients.py) over the in-memory store: a secret made
once and kept only as a digest, PATCH semantics, a type that never changes, a new secret
that voids the old, each invalid field a 400 naming it, and the events of registrations and
deletions, which never carry a secret."""

from __future__ import annotations

import dataclasses

import pytest

from harness.clock import FixedClock
from harness.memory_clients import InMemoryClientStore
from session_service.domain.errors import Conflict, InvalidRequest, NotFound
from session_service.domain.models import ClientEvent, is_issued_id
from session_service.domain.ports import StaleWrite
from session_service.domain.sso.clients import (
    MAX_URIS,
    ClientRegistry,
    OAuthClient,
    secret_digest,
)

CALLBACK = "https://billing.example.test/callback"
HOME = "https://billing.example.test/"
BACKCHANNEL = "https://billing.example.test/backchannel-logout"
START = 1_800_000_000.0


@pytest.fixture
def store() -> InMemoryClientStore:
    return InMemoryClientStore()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def registry(store: InMemoryClientStore, clock: FixedClock) -> ClientRegistry:
    return ClientRegistry(store, clock)


def _web_app(registry: ClientRegistry) -> tuple[OAuthClient, str]:
    client, secret = registry.register("Billing", [CALLBACK], [HOME], BACKCHANNEL, "confidential")
    assert secret is not None
    return client, secret


def test_a_confidential_client_gets_a_secret_kept_only_as_its_digest(
    registry: ClientRegistry, store: InMemoryClientStore
) -> None:
    client, secret = _web_app(registry)
    # 256 random bits, base64url; the id is one of the service's UUIDs
    assert len(secret) == 43
    assert is_issued_id(client.client_id)
    assert client == OAuthClient(
        client_id=client.client_id,
        name="Billing",
        client_type="confidential",
        redirect_uris=(CALLBACK,),
        post_logout_redirect_uris=(HOME,),
        backchannel_logout_uri=BACKCHANNEL,
        secret_digest=secret_digest(secret),
        created_at=int(START * 1000),
        updated_at=int(START * 1000),
    )
    assert store.clients == {client.client_id: client}
    assert secret not in repr(store.clients)
    assert client.is_confidential
    assert client.verify_secret(secret)
    assert not client.verify_secret(secret[:-1] + ("A" if secret[-1] != "A" else "B"))
    assert not client.verify_secret("")
    assert not client.verify_secret("\ud800")
    assert registry.get(client.client_id) == client


def test_a_public_client_has_no_secret_and_none_verifies(registry: ClientRegistry) -> None:
    client, secret = registry.register(
        "Desktop", ["http://127.0.0.1:8400/cb"], client_type="public"
    )
    assert secret is None
    assert client.secret_digest is None
    assert not client.is_confidential
    assert not client.verify_secret("")
    assert (client.post_logout_redirect_uris, client.backchannel_logout_uri) == ((), None)
    with pytest.raises(Conflict, match=r"^A public client has no secret\.$"):
        registry.new_secret(client.client_id)


def test_redirects_match_exactly(registry: ClientRegistry) -> None:
    client, _ = _web_app(registry)
    assert client.allows_redirect(CALLBACK)
    for near in (
        CALLBACK + "/",
        CALLBACK.upper(),
        CALLBACK + "?x=1",
        "https://billing.example.test",
    ):
        assert not client.allows_redirect(near), near
    assert client.allows_post_logout_redirect(HOME)
    assert not client.allows_post_logout_redirect(CALLBACK)


def test_a_new_secret_voids_the_old_one_at_once(
    registry: ClientRegistry, clock: FixedClock
) -> None:
    client, old = _web_app(registry)
    clock.advance(1)
    new = registry.new_secret(client.client_id)
    current = registry.get(client.client_id)
    assert new != old
    assert current.verify_secret(new)
    assert not current.verify_secret(old)
    assert current == dataclasses.replace(
        client, secret_digest=secret_digest(new), updated_at=client.updated_at + 1000
    )


def test_a_change_sets_what_is_given_and_keeps_the_rest_and_the_secret(
    registry: ClientRegistry, clock: FixedClock
) -> None:
    client, secret = _web_app(registry)
    clock.advance(2)
    other = "https://billing.example.test/other"
    changed = registry.update(client.client_id, name="Billing v2", redirect_uris=[other, CALLBACK])
    assert changed == dataclasses.replace(
        client,
        name="Billing v2",
        redirect_uris=(other, CALLBACK),
        updated_at=client.updated_at + 2000,
    )
    assert registry.get(client.client_id) == changed
    assert changed.verify_secret(secret)
    # None removes the back-channel URI; an empty list, the post-logout URIs
    cleared = registry.update(
        client.client_id, backchannel_logout_uri=None, post_logout_redirect_uris=[]
    )
    assert (cleared.backchannel_logout_uri, cleared.post_logout_redirect_uris) == (None, ())
    # The same type may be sent; nothing changing writes nothing
    assert registry.update(client.client_id, client_type="confidential") == cleared


def test_two_changes_in_one_millisecond_are_two_versions(
    registry: ClientRegistry, store: InMemoryClientStore
) -> None:
    client, _ = _web_app(registry)
    first = registry.update(client.client_id, name="One")
    second = registry.update(client.client_id, name="Two")
    assert (first.updated_at, second.updated_at) == (client.updated_at + 1, client.updated_at + 2)
    # A write on a version read before another landed is refused by the store
    with pytest.raises(StaleWrite):
        store.replace_client(dataclasses.replace(first, name="Three"), first.updated_at)


def test_a_clients_type_cannot_change(registry: ClientRegistry) -> None:
    client, _ = _web_app(registry)
    with pytest.raises(InvalidRequest, match=r"^type: a client's type cannot change"):
        registry.update(client.client_id, client_type="public")
    with pytest.raises(InvalidRequest, match=r"^secret_digest: cannot be changed\.$"):
        registry.update(client.client_id, secret_digest="x")
    assert registry.get(client.client_id) == client


def test_an_unknown_client_is_not_found(registry: ClientRegistry) -> None:
    client, _ = _web_app(registry)
    registry.delete(client.client_id)
    for client_id in (client.client_id, "not-a-client-id", "0" * 10_000):
        assert registry.find(client_id) is None
        with pytest.raises(NotFound, match=r"^No such client\.$"):
            registry.get(client_id)
        with pytest.raises(NotFound):
            registry.update(client_id, name="x")
        with pytest.raises(NotFound):
            registry.new_secret(client_id)
        with pytest.raises(NotFound):
            registry.delete(client_id)


INVALID = [
    ({"name": ""}, "name: must be 1 to 100 characters."),
    ({"name": "   "}, "name: must be 1 to 100 characters."),
    ({"name": "x" * 101}, "name: must be 1 to 100 characters."),
    ({"name": "Bill\x00ing"}, "name: must be printable text."),
    ({"name": "Bill\u202eing"}, "name: must be printable text."),
    ({"name": 7}, "name: must be a string."),
    ({"redirect_uris": []}, "redirect_uris: must name at least one URI."),
    ({"redirect_uris": CALLBACK}, "redirect_uris: must be a list of URIs."),
    ({"redirect_uris": [CALLBACK] * (MAX_URIS + 1)}, f"redirect_uris: at most {MAX_URIS} URIs."),
    (
        {"redirect_uris": [CALLBACK, "javascript:alert(1)"]},
        "redirect_uris[1]: has the scheme javascript: only https is allowed (http on loopback "
        "only).",
    ),
    ({"redirect_uris": [None]}, "redirect_uris[0]: must be a string."),
    (
        {"post_logout_redirect_uris": [f"{HOME}#top"]},
        "post_logout_redirect_uris[0]: has a fragment (#), which the URI must not have.",
    ),
    (
        {"backchannel_logout_uri": "http://billing.example.test/logout"},
        "backchannel_logout_uri: uses http on a host that is not loopback: use https (http is "
        "allowed only on 127.0.0.1, [::1] and localhost).",
    ),
]


@pytest.mark.parametrize(("fields", "description"), INVALID, ids=lambda value: str(value)[:40])
def test_an_invalid_field_is_a_400_naming_it_and_nothing_is_written(
    registry: ClientRegistry,
    store: InMemoryClientStore,
    fields: dict[str, object],
    description: str,
) -> None:
    client, _ = _web_app(registry)
    with pytest.raises(InvalidRequest) as raised:
        registry.update(client.client_id, **fields)
    assert raised.value.description == description
    registration = {
        "name": "Other",
        "redirect_uris": [CALLBACK],
        "post_logout_redirect_uris": [],
        "backchannel_logout_uri": None,
        **fields,
    }
    with pytest.raises(InvalidRequest) as refused:
        registry.register(**registration, client_type="public")  # type: ignore[arg-type]
    assert refused.value.description == description
    assert store.clients == {client.client_id: client}


def test_an_unknown_type_is_refused(registry: ClientRegistry) -> None:
    with pytest.raises(InvalidRequest, match=r"^type: must be confidential or public\.$"):
        registry.register("Billing", [CALLBACK], client_type="trusted")


def test_a_uri_given_twice_is_kept_once_in_its_order(registry: ClientRegistry) -> None:
    other = "https://billing.example.test/other"
    client, _ = registry.register("Billing", [other, CALLBACK, other], client_type="public")
    assert client.redirect_uris == (other, CALLBACK)


def test_clients_are_listed_oldest_first(registry: ClientRegistry, clock: FixedClock) -> None:
    names = ["first", "second", "third"]
    for name in names:
        registry.register(name, [CALLBACK], client_type="public")
        clock.advance(1)
    assert [client.name for client in registry.list()] == names


def test_registration_and_deletion_are_events_without_a_secret(
    registry: ClientRegistry, store: InMemoryClientStore, clock: FixedClock
) -> None:
    client, secret = _web_app(registry)
    registry.update(client.client_id, name="Billing v2")
    registry.new_secret(client.client_id)
    clock.advance(5)
    registry.delete(client.client_id)
    registered, deleted = store.events
    assert registered == ClientEvent(
        registered.record_id,
        "ClientRegistered",
        client.client_id,
        "Billing",
        "confidential",
        client.created_at,
    )
    assert deleted == ClientEvent(
        deleted.record_id,
        "ClientDeleted",
        client.client_id,
        "Billing v2",
        "confidential",
        client.created_at + 5000,
    )
    assert registered.record_id != deleted.record_id
    assert secret not in repr(store.events)
    assert secret_digest(secret) not in repr(store.events)
    assert store.clients == {}


class _RacedOnce(InMemoryClientStore):
    """A store where another administrator's rename lands just before our first write."""

    def __init__(self) -> None:
        super().__init__()
        self.raced = False

    def replace_client(self, client: OAuthClient, expected_updated_at: int) -> None:
        if not self.raced:
            self.raced = True
            stored = self.clients[client.client_id]
            renamed = dataclasses.replace(stored, name="Renamed", updated_at=stored.updated_at + 1)
            super().replace_client(renamed, stored.updated_at)
        super().replace_client(client, expected_updated_at)


def test_a_change_racing_another_reads_again_and_keeps_both(clock: FixedClock) -> None:
    store = _RacedOnce()
    registry = ClientRegistry(store, clock)
    client, _ = _web_app(registry)
    other = "https://billing.example.test/other"
    changed = registry.update(client.client_id, redirect_uris=[other])
    assert (changed.name, changed.redirect_uris) == ("Renamed", (other,))
    assert registry.get(client.client_id) == changed
    assert store.calls.count("replace_client") == 3  # the rival's, ours refused, ours again
