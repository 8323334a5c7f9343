"""Federation's flows, handoffs, link intents and identities in memory (FederationStore),
with the DynamoDB store's conditions and errors one for one
(adapters/federation_store.py), each write applied atomically under the session store's
lock: the credentials and accounts it makes are that store's."""

from __future__ import annotations

import dataclasses

from harness.fakes import InMemoryStore
from harness.key_limits import check_keys
from session_service.adapters.federation_items import identity_key
from session_service.domain.federation.flow_records import (
    FederationFlow,
    Handoff,
    LinkedIdentity,
    LinkIntent,
)
from session_service.domain.federation.identities import MAX_IDENTITIES
from session_service.domain.models import AccountEvent, Credential, UserProfile
from session_service.domain.ports import AlreadyExists, StaleWrite


class InMemoryFederationStore:
    def __init__(self, store: InMemoryStore) -> None:
        self._store = store
        self._lock = store._lock
        self.flows: dict[str, FederationFlow] = {}
        self.spent_by: dict[str, str] = {}
        self.links: dict[str, LinkIntent] = {}
        self.identities: dict[tuple[str, str], LinkedIdentity] = {}

    def put_flow(self, flow: FederationFlow) -> None:
        with self._lock:
            self.flows[flow.digest] = flow

    def find_flow(self, digest: str) -> FederationFlow | None:
        with self._lock:
            return None if digest in self.spent_by else self.flows.get(digest)

    def spend_flow(self, digest: str, spender: str) -> bool:
        with self._lock:
            if digest not in self.flows:
                return False
            if digest in self.spent_by:
                return self.spent_by[digest] == spender
            self.spent_by[digest] = spender
            return True

    def put_handoff(self, handoff: Handoff) -> None:
        with self._lock:
            self._store.federation_handoffs[handoff.digest] = handoff

    def find_handoff(self, digest: str) -> Handoff | None:
        with self._lock:
            return self._store.federation_handoffs.get(digest)

    def spend_handoff(self, digest: str) -> bool:
        with self._lock:
            return self._store.federation_handoffs.pop(digest, None) is not None

    def put_link_intent(self, intent: LinkIntent) -> None:
        with self._lock:
            self.links[intent.digest] = intent

    def find_link_intent(self, digest: str) -> LinkIntent | None:
        with self._lock:
            return self.links.get(digest)

    def take_link_intent(self, digest: str) -> LinkIntent | None:
        with self._lock:
            return self.links.pop(digest, None)

    def find_identity(self, provider_id: str, subject: str) -> LinkedIdentity | None:
        with self._lock:
            check_keys(identity_key(provider_id, subject))
            return self.identities.get((provider_id, subject))

    def create_account(
        self,
        credential: Credential,
        profile: UserProfile,
        identity: LinkedIdentity,
        event: AccountEvent,
    ) -> None:
        with self._lock:
            store = self._store
            check_keys(identity_key(identity.provider_id, identity.subject))
            taken = (identity.provider_id, identity.subject) in self.identities
            if taken or credential.username_key in store.credentials:
                raise AlreadyExists()
            self.identities[(identity.provider_id, identity.subject)] = identity
            store.credentials[credential.username_key] = credential
            store.profiles[profile.user_id] = profile
            store.account_events.append(event)

    def _stored(self, credential: Credential) -> Credential:
        stored = self._store.credentials.get(credential.username_key)
        if (
            stored is None
            or stored.user_id != credential.user_id
            or stored.password_version != credential.password_version
        ):
            raise StaleWrite()
        return stored

    def link_identity(
        self, credential: Credential, identity: LinkedIdentity, event: AccountEvent
    ) -> None:
        with self._lock:
            if (identity.provider_id, identity.subject) in self.identities:
                raise AlreadyExists()
            stored = self._stored(credential)
            if stored.identities >= MAX_IDENTITIES:
                raise StaleWrite()
            self._store.credentials[stored.username_key] = dataclasses.replace(
                stored, identities=stored.identities + 1
            )
            self.identities[(identity.provider_id, identity.subject)] = identity
            self._store.account_events.append(event)

    def reissue(self, identity: LinkedIdentity, issuer: str) -> None:
        with self._lock:
            found = self.identities.get((identity.provider_id, identity.subject))
            if (
                found is None
                or found.user_id != identity.user_id
                or found.issuer != identity.issuer
            ):
                raise StaleWrite()
            self.identities[(identity.provider_id, identity.subject)] = dataclasses.replace(
                found, issuer=issuer
            )

    def list_identities(self, user_id: str) -> list[LinkedIdentity]:
        with self._lock:
            return [i for i in self.identities.values() if i.user_id == user_id]

    def unlink_identity(
        self, credential: Credential, identity: LinkedIdentity, event: AccountEvent
    ) -> None:
        with self._lock:
            stored = self._stored(credential)
            if stored.identities != credential.identities or stored.passkeys != credential.passkeys:
                raise StaleWrite()
            current = self.identities.get((identity.provider_id, identity.subject))
            if current is None or current.user_id != identity.user_id:
                raise StaleWrite()
            del self.identities[(identity.provider_id, identity.subject)]
            self._store.credentials[stored.username_key] = dataclasses.replace(
                stored, identities=stored.identities - 1
            )
            self._store.account_events.append(event)
