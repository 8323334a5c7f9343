"""Federation's identity providers in memory (ProviderStore), with the DynamoDB store's
conditions and errors one for one (adapters/provider_store.py), each write applied
atomically under one lock; a provider store over any backend of the store suites; and a
sealer that really seals (AES-GCM, the context as associated data), as KMS does on AWS."""

from __future__ import annotations

import os
import threading

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from harness.fakes import InMemoryStore
from harness.key_limits import check_keys
from session_service.adapters.provider_items import provider_key
from session_service.adapters.provider_store import DynamoProviderStore
from session_service.adapters.store import DynamoSessionStore
from session_service.domain.errors import Unavailable
from session_service.domain.federation.records import (
    MAX_PROVIDERS,
    IdentityProvider,
    ProvidersFull,
    ProviderStore,
)
from session_service.domain.ports import AlreadyExists, SessionStore

NONCE_BYTES = 12


class InMemoryProviderStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.providers: dict[str, IdentityProvider] = {}
        self.calls: list[str] = []

    def put_provider(self, provider: IdentityProvider, limit: int = MAX_PROVIDERS) -> None:
        with self._lock:
            self.calls.append("put_provider")
            check_keys(provider_key(provider.provider_id))
            # The transaction's first failed condition decides: the id's, then the count's
            if provider.provider_id in self.providers:
                raise AlreadyExists()
            if len(self.providers) >= limit:
                raise ProvidersFull()
            self.providers[provider.provider_id] = provider

    def find_provider(self, provider_id: str) -> IdentityProvider | None:
        with self._lock:
            self.calls.append("find_provider")
            check_keys(provider_key(provider_id))
            return self.providers.get(provider_id)

    def list_providers(self) -> list[IdentityProvider]:
        with self._lock:
            self.calls.append("list_providers")
            # A Query returns the partition in sort-key order: by provider id.
            return [self.providers[key] for key in sorted(self.providers)]

    def delete_provider(self, provider_id: str) -> bool:
        with self._lock:
            self.calls.append("delete_provider")
            check_keys(provider_key(provider_id))
            return self.providers.pop(provider_id, None) is not None


class InMemorySealer:
    """SecretSealer: AES-256-GCM under a key of its own, the context as associated data,
    so the sealed bytes are not the secret and open only for the context they were sealed
    for (anything else is Unavailable, as KMS's refusal is through KmsSealer)."""

    def __init__(self, key: bytes | None = None) -> None:
        self._aead = AESGCM(key or AESGCM.generate_key(bit_length=256))

    def seal(self, plaintext: str, context: str) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, plaintext.encode(), context.encode())

    def unseal(self, sealed: bytes, context: str) -> str:
        nonce, ciphertext = sealed[:NONCE_BYTES], sealed[NONCE_BYTES:]
        try:
            return self._aead.decrypt(nonce, ciphertext, context.encode()).decode()
        except (InvalidTag, ValueError):
            raise Unavailable(retry_after=2) from None


def provider_store_over(store: SessionStore) -> ProviderStore:
    """The provider store of the backend `store` is on (the store suites' fixtures)."""
    if isinstance(store, InMemoryStore):
        return InMemoryProviderStore()
    assert isinstance(store, DynamoSessionStore)
    return DynamoProviderStore(store._db, store._table)
