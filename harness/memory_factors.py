"""The second factor's store in memory, over the in-memory store's credentials and
challenges, with the DynamoDB store's conditions (adapters/second_factor_store.py)."""

from __future__ import annotations

import dataclasses

from harness.fakes import InMemoryStore
from session_service.domain.models import (
    AccountEvent,
    Credential,
    PendingTotp,
)
from session_service.domain.ports import MfaChallenge, StaleWrite, TotpEnrollment


class InMemorySecondFactorStore:
    def __init__(self, store: InMemoryStore) -> None:
        self._store = store

    def _current(self, credential: Credential) -> Credential:
        stored = self._store.credentials.get(credential.username_key)
        if stored is None or stored.password_version != credential.password_version:
            raise StaleWrite()
        return stored

    def begin_totp(self, credential: Credential, pending: PendingTotp) -> None:
        with self._store._lock:
            self._store.calls.append("begin_totp")
            stored = self._current(credential)
            if stored.totp is not None:
                raise StaleWrite()
            self._store.credentials[stored.username_key] = dataclasses.replace(
                stored, pending_totp=pending
            )

    def enable_totp(self, enrollment: TotpEnrollment) -> None:
        with self._store._lock:
            self._store.calls.append("enable_totp")
            stored = self._current(enrollment.credential)
            factor = enrollment.factor
            pending = stored.pending_totp
            session_key = (stored.user_id, enrollment.session_id)
            session = self._store.sessions.get(session_key)
            if (
                stored.totp is not None
                or pending is None
                or pending.sealed_secret != factor.sealed_secret
                or pending.expires_at <= factor.enabled_at
                or session is None
                # (a first factor: no passkey was added meanwhile)
                or (enrollment.first_factor and stored.passkeys > 0)
            ):
                raise StaleWrite()
            self._store.credentials[stored.username_key] = dataclasses.replace(
                stored, totp=factor, pending_totp=None
            )
            self._store.account_events.append(enrollment.event)

    def disable_totp(self, credential: Credential, event: AccountEvent) -> None:
        with self._store._lock:
            self._store.calls.append("disable_totp")
            stored = self._current(credential)
            if stored.totp is None:
                raise StaleWrite()
            self._store.credentials[stored.username_key] = dataclasses.replace(stored, totp=None)
            self._store.account_events.append(event)

    def put_challenge(self, challenge: MfaChallenge) -> None:
        with self._store._lock:
            self._store.calls.append("put_challenge")
            self._store.challenges[challenge.digest] = challenge

    def find_challenge(self, digest: str) -> MfaChallenge | None:
        with self._store._lock:
            self._store.calls.append("find_challenge")
            return self._store.challenges.get(digest)
