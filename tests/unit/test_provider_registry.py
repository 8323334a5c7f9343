"""The registry of identity providers over the in-memory store and sealer: the secret is
sealed for its provider's id before it is stored, unsealed for it only; writes the store
cancels for a transaction in flight (WriteConflict) are tried again, then 503; an issuer
on loopback http only where the flag allows it."""

from __future__ import annotations

import dataclasses

import pytest

from harness.memory_federation import InMemoryProviderStore, InMemorySealer
from session_service.domain.errors import InvalidRequest, NotFound, Unavailable
from session_service.domain.federation.providers import ProviderRegistry, is_provider_id
from session_service.domain.federation.records import IdentityProvider
from session_service.domain.ports import WriteConflict

SECRET = "a-client-secret"


def _register(registry: ProviderRegistry, issuer: str = "https://idp.example.test") -> object:
    return registry.register("idp", issuer, "client", SECRET, None, "IdP")


def test_the_secret_is_stored_sealed_for_its_provider_only() -> None:
    store, sealer = InMemoryProviderStore(), InMemorySealer()
    registry = ProviderRegistry(store, sealer, clock=lambda: 1_800_000_000.5)
    provider = registry.register(
        "idp", "https://idp.example.test/tenant/v2.0", "client", SECRET, ["openid"], " IdP "
    )
    assert (provider.name, provider.scopes, provider.created_at) == (
        "IdP",
        ("openid",),
        1_800_000_000_500,
    )
    assert store.providers["idp"] == provider
    assert SECRET.encode() not in provider.sealed_secret
    assert registry.client_secret(provider) == SECRET
    assert registry.find("idp") == provider
    with pytest.raises(Unavailable):
        sealer.unseal(provider.sealed_secret, "other")
    moved = dataclasses.replace(provider, provider_id="other")
    with pytest.raises(Unavailable):
        registry.client_secret(moved)


class _Contended(InMemoryProviderStore):
    """A store whose first `conflicts` writes meet another transaction in flight."""

    def __init__(self, conflicts: int) -> None:
        super().__init__()
        self.conflicts = conflicts

    def put_provider(self, provider: IdentityProvider, limit: int = 20) -> None:
        if self.conflicts:
            self.conflicts -= 1
            raise WriteConflict()
        super().put_provider(provider, limit)

    def delete_provider(self, provider_id: str) -> bool:
        if self.conflicts:
            self.conflicts -= 1
            raise WriteConflict()
        return super().delete_provider(provider_id)


def test_a_write_that_met_another_in_flight_is_tried_again_then_503() -> None:
    pauses: list[float] = []
    registry = ProviderRegistry(_Contended(3), InMemorySealer(), sleep=pauses.append)
    _register(registry)
    assert len(pauses) == 3
    registry._store.conflicts = 3  # type: ignore[attr-defined]
    registry.delete("idp")
    with pytest.raises(NotFound):
        registry.delete("idp")
    stuck = ProviderRegistry(_Contended(100), InMemorySealer(), sleep=pauses.append)
    with pytest.raises(Unavailable):
        _register(stuck)


def test_a_loopback_issuer_only_where_allowed() -> None:
    with pytest.raises(InvalidRequest, match="must be an absolute https URL"):
        _register(ProviderRegistry(InMemoryProviderStore(), InMemorySealer()), "http://127.0.0.1:9")
    local = ProviderRegistry(InMemoryProviderStore(), InMemorySealer(), allow_loopback_http=True)
    _register(local, "http://127.0.0.1:9000")
    with pytest.raises(InvalidRequest, match="needs its port"):
        _register(local, "http://localhost")


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("google", True),
        ("a", True),
        ("0-entra_id", True),
        ("a" * 32, True),
        ("a" * 33, False),
        ("", False),
        ("_x", False),
        ("Google", False),
        ("goo gle", False),
        ("google\n", False),
        ("..", False),
    ],
)
def test_a_provider_id_is_short_and_url_safe(value: str, valid: bool) -> None:
    assert is_provider_id(value) is valid
