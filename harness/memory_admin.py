"""An administrator's writes in memory, over the in-memory store, with the DynamoDB
store's conditions (adapters/administration_store.py)."""

from __future__ import annotations

import dataclasses

from harness.fakes import InMemoryStore
from session_service.domain.administration.records import AccountStatusChange, FactorsResetChange
from session_service.domain.models import Credential
from session_service.domain.ports import StaleWrite


class InMemoryAdministrationStore:
    def __init__(self, store: InMemoryStore) -> None:
        self._store = store

    def set_disabled(self, change: AccountStatusChange) -> None:
        store = self._store
        with store._lock:
            store.calls.append("set_disabled")
            credential = change.credential
            profile = store.profiles.get(credential.user_id)
            stored = store.credentials.get(credential.username_key)
            if profile is None or profile.session_version != change.expected_version:
                raise StaleWrite()
            if stored is None:
                raise StaleWrite()
            if change.ended is not None:
                store._check_live(change.ended, change.event.at)
            store.profiles[credential.user_id] = dataclasses.replace(
                profile, disabled=change.disabled, session_version=change.expected_version + 1
            )
            store.credentials[credential.username_key] = dataclasses.replace(
                stored, disabled=change.disabled
            )
            if change.ended is not None:
                store._end(change.ended)
            store.account_events.append(change.event)

    def reset_factors(self, change: FactorsResetChange) -> None:
        store = self._store
        with store._lock:
            store.calls.append("reset_factors")
            credential = change.credential
            profile = store.profiles.get(credential.user_id)
            stored = store.credentials.get(credential.username_key)
            if profile is None or profile.session_version != change.expected_version:
                raise StaleWrite()
            if stored is None or stored.passkeys not in (0, len(change.passkey_ids)):
                raise StaleWrite()
            if change.ended is not None:
                store._check_live(change.ended, change.event.at)
            store.profiles[credential.user_id] = dataclasses.replace(
                profile, session_version=change.expected_version + 1
            )
            store.credentials[credential.username_key] = dataclasses.replace(
                stored,
                totp=None,
                pending_totp=None,
                passkeys=0,
                throttle_generation=credential.throttle_generation + 1,
            )
            for passkey_id in change.passkey_ids:
                store.passkeys.pop((credential.user_id, passkey_id), None)
            if change.ended is not None:
                store._end(change.ended)
            store.account_events.append(change.event)

    def lift_login_lock(self, credential: Credential) -> None:
        store = self._store
        with store._lock:
            store.calls.append("lift_login_lock")
            stored = store.credentials.get(credential.username_key)
            if stored is None:
                raise StaleWrite()
            # The generation after the one read (DynamoAdministrationStore)
            lifted = max(stored.throttle_generation, credential.throttle_generation + 1)
            store.credentials[credential.username_key] = dataclasses.replace(
                stored, throttle_generation=lifted
            )
