"""Single sign-on's provider over a backend's stores, for the tests and the benchmarks."""

from __future__ import annotations

from harness.domain import Services
from harness.fakes import InMemoryStore
from harness.memory_sso import InMemoryGrantStore
from session_service.adapters.grant_store import DynamoGrantStore
from session_service.adapters.store import DynamoSessionStore
from session_service.domain.keys.keyring import MacKeys
from session_service.domain.ports import SessionStore
from session_service.domain.sso.grant_exchange import MAX_GRANTS_PER_SESSION
from session_service.domain.sso.grant_tokens import GrantTokens
from session_service.domain.sso.provider import SingleSignOn
from session_service.domain.sso.records import GrantStore


def grant_store_over(store: SessionStore) -> GrantStore:
    """The grant store beside a backend's session store (sharing its state or table)."""
    if isinstance(store, InMemoryStore):
        return InMemoryGrantStore(store)
    assert isinstance(store, DynamoSessionStore)
    return DynamoGrantStore(store._table, store._db)


def build_single_sign_on(
    services: Services, store: SessionStore, max_grants: int = MAX_GRANTS_PER_SESSION
) -> SingleSignOn:
    return SingleSignOn(
        grant_store_over(store),
        store,
        services.access_tokens,
        services.refresh_tokens,
        GrantTokens(MacKeys(services.keys, services.clock)),
        services.sessions.policy,
        clock=services.clock,
        max_grants=max_grants,
    )
