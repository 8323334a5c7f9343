"""Federation's provider store (ProviderStore) over each backend (in memory, moto, DynamoDB
Local), and the registry over it: a provider is written once under its id, read back as
written (its sealed secret as bytes), listed by id, deleted once; racing registrations of
one id land once, and racing registrations at the limit never pass it."""

from __future__ import annotations

import dataclasses

import pytest

from harness.memory_federation import InMemorySealer, provider_store_over
from session_service.domain.errors import ServiceError
from session_service.domain.federation.providers import ProviderRegistry
from session_service.domain.federation.records import (
    MAX_PROVIDERS,
    IdentityProvider,
    ProvidersFull,
    ProviderStore,
)
from session_service.domain.ports import AlreadyExists, SessionStore
from tests.helpers import burst
from tests.integration.backends import BACKENDS

pytestmark = pytest.mark.parametrize("backend", ["memory", *BACKENDS], indirect=True)

NOW = 1_800_000_000_000


@pytest.fixture
def providers(store: SessionStore) -> ProviderStore:
    return provider_store_over(store)


def _provider(provider_id: str = "google", **changes: object) -> IdentityProvider:
    provider = IdentityProvider(
        provider_id=provider_id,
        name="Google",
        issuer="https://accounts.google.com",
        client_id="1234-abc.apps.googleusercontent.com",
        sealed_secret=b"\x00sealed\xff" + provider_id.encode(),
        scopes=("openid", "profile", "email"),
        created_at=NOW,
    )
    return dataclasses.replace(provider, **changes)  # type: ignore[arg-type]


def _registration(registry: ProviderRegistry, provider_id: str) -> str:
    """A registration through the registry: "ok", or the contract error it came to."""
    try:
        registry.register(
            provider_id, "https://idp.example.test", "client", "secret", None, provider_id
        )
    except ServiceError as error:
        return error.code
    return "ok"


def test_a_provider_is_read_back_as_written_and_its_id_is_its_own(
    providers: ProviderStore,
) -> None:
    google = _provider()
    entra = _provider(
        "entra",
        name="Microsoft Entra ID",
        issuer="https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0",
        scopes=("openid",),
    )
    providers.put_provider(google)
    providers.put_provider(entra)
    assert providers.find_provider("google") == google
    assert providers.find_provider("entra") == entra
    assert providers.find_provider("okta") is None
    # Another provider under a taken id writes nothing
    with pytest.raises(AlreadyExists):
        providers.put_provider(_provider(name="Impostor", sealed_secret=b"other"))
    assert providers.find_provider("google") == google
    assert providers.list_providers() == [entra, google]


def test_a_deletion_happens_once_and_frees_its_place(providers: ProviderStore) -> None:
    providers.put_provider(_provider("a"), limit=2)
    providers.put_provider(_provider("b"), limit=2)
    with pytest.raises(ProvidersFull):
        providers.put_provider(_provider("c"), limit=2)
    assert providers.delete_provider("a") is True
    assert providers.delete_provider("a") is False
    assert providers.find_provider("a") is None
    # The place it held is free again, once
    providers.put_provider(_provider("c"), limit=2)
    with pytest.raises(ProvidersFull):
        providers.put_provider(_provider("d"), limit=2)
    assert [provider.provider_id for provider in providers.list_providers()] == ["b", "c"]
    # A taken id is AlreadyExists even at the limit (the id's condition comes first)
    with pytest.raises(AlreadyExists):
        providers.put_provider(_provider("b"), limit=2)


def test_of_racing_registrations_of_one_id_exactly_one_lands(providers: ProviderStore) -> None:
    registry = ProviderRegistry(providers, InMemorySealer())
    outcomes = burst(8, lambda _: _registration(registry, "google"))
    assert outcomes == {"ok": 1, "conflict": 7}
    assert [provider.provider_id for provider in providers.list_providers()] == ["google"]
    # its count is one: the rest of the limit is still free
    for index in range(MAX_PROVIDERS - 1):
        assert _registration(registry, f"p{index}") == "ok"
    assert _registration(registry, "one-too-many") == "conflict"


def test_racing_registrations_at_the_limit_never_pass_it(providers: ProviderStore) -> None:
    registry = ProviderRegistry(providers, InMemorySealer())
    for index in range(MAX_PROVIDERS - 2):
        assert _registration(registry, f"p{index}") == "ok"
    outcomes = burst(8, lambda index: _registration(registry, f"racer{index}"))
    assert outcomes == {"ok": 2, "conflict": 6}
    assert len(providers.list_providers()) == MAX_PROVIDERS
    # A deletion frees one place, which one of the next burst takes
    registry.delete("p0")
    outcomes = burst(4, lambda index: _registration(registry, f"late{index}"))
    assert outcomes == {"ok": 1, "conflict": 3}
    assert len(registry.list()) == MAX_PROVIDERS
