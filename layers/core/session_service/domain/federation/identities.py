"""Identities at upstream providers and the accounts they sign in (contract v3,
federation): an unknown identity makes a new account (FEDERATION_SIGNUP), a signed-in
owner links one, lists them and unlinks one unless it is the account's last way to sign
in. An identity is `(provider_id, sub)` and nothing else: never an address."""

from __future__ import annotations

import dataclasses
import secrets
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

from session_service.domain.accounts.usernames import username_key
from session_service.domain.errors import (
    Conflict,
    Forbidden,
    InvalidGrant,
    NotFound,
    Unavailable,
)
from session_service.domain.federation.flow_records import (
    FederationStore,
    LinkedIdentity,
)
from session_service.domain.federation.records import IdentityProvider, UpstreamIdentity
from session_service.domain.models import (
    AccountEvent,
    AccountEventType,
    ClientInfo,
    Credential,
    UserProfile,
)
from session_service.domain.ports import AlreadyExists, SessionStore, StaleWrite

if TYPE_CHECKING:
    from session_service.domain.throttling.login_throttle import LoginThrottle

# An account's identities are listed whole: a handful, bounded.
MAX_IDENTITIES = 10
# Writes read the credential again after a concurrent change before answering 503.
ATTEMPTS = 4
MAX_EMAIL_LENGTH = 254


class Identities:
    def __init__(
        self,
        store: FederationStore,
        sessions_store: SessionStore,
        throttle: Callable[[], LoginThrottle],
        signup: bool,
        now: Callable[[], int],
    ) -> None:
        self._store = store
        self._sessions_store = sessions_store
        self._throttle = throttle
        self._signup = signup
        self._now = now

    def account_of(
        self, provider: IdentityProvider, identity: UpstreamIdentity, client: ClientInfo
    ) -> Credential:
        """The account this identity signs in, or a new one (never one found by the
        identity's address: a matching e-mail makes a new account)."""
        linked = self._store.find_identity(provider.provider_id, identity.subject)
        if linked is None:
            if not self._signup:
                raise Forbidden(
                    "No account is linked to this identity, and signing up through an "
                    "identity provider is off: sign in, then link it."
                )
            linked = self._create_account(provider, identity, client)
        if linked.issuer != provider.issuer:
            raise InvalidGrant(
                "This identity was linked through another issuer registered under this "
                "provider's id: link it again from the signed-in account."
            )
        credential = self._sessions_store.find_credential(linked.username_key)
        if credential is None or credential.user_id != linked.user_id:
            raise InvalidGrant("The account of this identity no longer exists.")
        return credential

    def _create_account(
        self, provider: IdentityProvider, identity: UpstreamIdentity, client: ClientInfo
    ) -> LinkedIdentity:
        # A new account holds a place of its address's, as a registration does (never given
        # back): a provider's accounts cannot be minted without limit.
        throttle = self._throttle()
        place = throttle.reserve_registration(client.ip)
        now = self._now()
        user_id = str(uuid.uuid4())
        # The username is made, not taken from the provider: nothing it says can collide
        # with, or look like, an existing account's name.
        username = f"{provider.provider_id}.{secrets.token_hex(6)}"
        credential = Credential(
            username_key=username_key(username),
            username=username,
            user_id=user_id,
            password_hash="",
            identities=1,
        )
        linked = self._identity(user_id, credential.username_key, provider, identity, now)
        try:
            self._store.create_account(
                credential,
                UserProfile(user_id=user_id, username=username, created_at=now),
                linked,
                self._event("IdentityLinked", linked, client, now),
            )
        except (AlreadyExists, StaleWrite):
            # Another callback of this identity made its account first (or was making it,
            # in a transaction that crossed this one): that one it is.
            existing = self._store.find_identity(provider.provider_id, identity.subject)
            if existing is None:
                raise Unavailable(retry_after=1) from None
            return existing
        except Unavailable:
            throttle.release(place)
            raise
        return linked

    def link(
        self, user_id: str, provider: IdentityProvider, identity: UpstreamIdentity
    ) -> LinkedIdentity:
        """Link the identity to this signed-in owner's account (again: no change)."""
        for _ in range(ATTEMPTS):
            existing = self._store.find_identity(provider.provider_id, identity.subject)
            if existing is not None:
                if existing.user_id != user_id:
                    raise Conflict("This identity signs in another account.")
                if existing.issuer != provider.issuer:
                    # Its owner, signed in, proved it at the provider's new issuer
                    self._store.reissue(existing, provider.issuer)
                    return dataclasses.replace(existing, issuer=provider.issuer)
                return existing
            credential = self._credential_of(user_id)
            if credential.identities >= MAX_IDENTITIES:
                raise Conflict(f"An account has at most {MAX_IDENTITIES} linked identities.")
            now = self._now()
            linked = self._identity(user_id, credential.username_key, provider, identity, now)
            event = self._event("IdentityLinked", linked, None, now)
            try:
                self._store.link_identity(credential, linked, event)
            except (AlreadyExists, StaleWrite):
                continue  # linked meanwhile, or the account changed: read again
            return linked
        raise Unavailable(retry_after=1)

    def list(self, user_id: str) -> list[LinkedIdentity]:
        return sorted(self._store.list_identities(user_id), key=lambda i: i.linked_at)

    def unlink(self, user_id: str, identity_id: str, client: ClientInfo) -> None:
        """Unlink one of the caller's identities: 409 when it is the last way to sign in
        (no password, no passkey, no other identity)."""
        for _ in range(ATTEMPTS):
            found = [i for i in self.list(user_id) if i.identity_id == identity_id]
            if not found:
                raise NotFound("No such identity.")
            credential = self._credential_of(user_id)
            if not (credential.password_hash or credential.passkeys or credential.identities > 1):
                raise Conflict(
                    "This identity is the account's last way to sign in: add a password "
                    "or a passkey, or link another identity, first."
                )
            event = self._event("IdentityUnlinked", found[0], client, self._now())
            try:
                self._store.unlink_identity(credential, found[0], event)
            except StaleWrite:
                continue
            return
        raise Unavailable(retry_after=1)

    def _credential_of(self, user_id: str) -> Credential:
        profile = self._sessions_store.find_profile(user_id)
        credential = (
            self._sessions_store.find_credential(username_key(profile.username))
            if profile
            else None
        )
        if credential is None or credential.user_id != user_id:
            raise InvalidGrant("The account no longer exists.")
        return credential

    @staticmethod
    def _identity(
        user_id: str,
        key: str,
        provider: IdentityProvider,
        identity: UpstreamIdentity,
        now: int,
    ) -> LinkedIdentity:
        email = (
            identity.email if identity.email and len(identity.email) <= MAX_EMAIL_LENGTH else None
        )
        return LinkedIdentity(
            identity_id=str(uuid.uuid4()),
            user_id=user_id,
            username_key=key,
            provider_id=provider.provider_id,
            subject=identity.subject,
            linked_at=now,
            email=email,
            issuer=provider.issuer,
        )

    @staticmethod
    def _event(
        kind: AccountEventType, identity: LinkedIdentity, client: ClientInfo | None, now: int
    ) -> AccountEvent:
        return AccountEvent(
            record_id=str(uuid.uuid4()),
            user_id=identity.user_id,
            event_type=kind,
            at=now,
            ip=client.ip if client else "",
            user_agent=client.user_agent[:512] if client else "",
            provider_id=identity.provider_id,
            identity_id=identity.identity_id,
        )
