"""Passkeys in memory, over the in-memory store's passkeys and sign-in ceremonies, with
the DynamoDB store's conditions (adapters/passkey_store.py)."""

from __future__ import annotations

import dataclasses

from harness.fakes import InMemoryStore
from session_service.domain.models import AccountEvent, Credential, Passkey
from session_service.domain.ports import (
    AlreadyExists,
    PasskeyAddition,
    PasskeyCountRefused,
    RegistrationCeremony,
    SignInCeremony,
    StaleWrite,
)


class InMemoryPasskeyStore:
    def __init__(self, store: InMemoryStore) -> None:
        self._store = store
        self.registrations: dict[str, RegistrationCeremony] = {}

    def put_registration(self, ceremony: RegistrationCeremony) -> None:
        with self._store._lock:
            self._store.calls.append("put_registration")
            self.registrations[ceremony.user_id] = ceremony

    def find_registration(self, user_id: str) -> RegistrationCeremony | None:
        with self._store._lock:
            self._store.calls.append("find_registration")
            return self.registrations.get(user_id)

    def add_passkey(self, addition: PasskeyAddition) -> None:
        passkey = addition.passkey
        with self._store._lock:
            self._store.calls.append("add_passkey")
            pending = self.registrations.get(passkey.user_id)
            if (
                pending is None
                or pending.challenge != addition.challenge
                or pending.expires_at <= passkey.created_at
            ):
                raise StaleWrite()
            key = (passkey.user_id, passkey.passkey_id)
            if key in self._store.passkeys:
                raise AlreadyExists()
            credential = self._store.credentials.get(passkey.username_key)
            if credential is None or credential.user_id != passkey.user_id:
                raise PasskeyCountRefused()
            if credential.passkeys >= addition.max_passkeys:
                raise PasskeyCountRefused()
            if addition.first_factor and (credential.passkeys or credential.totp is not None):
                raise PasskeyCountRefused()  # (a factor was added meanwhile)
            self._count(credential, +1)
            del self.registrations[passkey.user_id]
            self._store.passkeys[key] = passkey
            self._store.account_events.append(addition.event)

    def passkeys(self, user_id: str) -> list[Passkey]:
        with self._store._lock:
            self._store.calls.append("passkeys")
            return [p for (owner, _), p in self._store.passkeys.items() if owner == user_id]

    def find_passkey(self, user_id: str, passkey_id: str) -> Passkey | None:
        with self._store._lock:
            self._store.calls.append("find_passkey")
            return self._store.passkeys.get((user_id, passkey_id))

    def rename_passkey(self, passkey: Passkey, name: str) -> None:
        with self._store._lock:
            self._store.calls.append("rename_passkey")
            key = (passkey.user_id, passkey.passkey_id)
            stored = self._store.passkeys.get(key)
            if stored is None:
                raise StaleWrite()
            self._store.passkeys[key] = dataclasses.replace(stored, name=name)

    def remove_passkey(self, passkey: Passkey, event: AccountEvent, keep: int) -> None:
        with self._store._lock:
            self._store.calls.append("remove_passkey")
            key = (passkey.user_id, passkey.passkey_id)
            if key not in self._store.passkeys:
                raise StaleWrite()
            credential = self._store.credentials.get(passkey.username_key)
            if credential is None or credential.passkeys <= keep:
                raise PasskeyCountRefused()
            self._count(credential, -1)
            del self._store.passkeys[key]
            self._store.account_events.append(event)

    def _count(self, credential: Credential, change: int) -> None:
        self._store.credentials[credential.username_key] = dataclasses.replace(
            credential, passkeys=credential.passkeys + change
        )

    def put_sign_in(self, ceremony: SignInCeremony) -> None:
        with self._store._lock:
            self._store.calls.append("put_sign_in")
            self._store.sign_ins[ceremony.digest] = ceremony

    def find_sign_in(self, digest: str) -> SignInCeremony | None:
        with self._store._lock:
            self._store.calls.append("find_sign_in")
            return self._store.sign_ins.get(digest)

    def record_account_event(self, event: AccountEvent) -> None:
        with self._store._lock:
            self._store.calls.append("record_account_event")
            self._store.account_events.append(event)
