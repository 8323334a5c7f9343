"""What a federated sign-in keeps between its steps, and the identities linked to
accounts: the port the flow works through (adapters/federation_store.py on DynamoDB).

Every secret of a flow (its state, the browser's binding, a handoff, a link) is stored
only as a digest; the PKCE verifier is never stored at all (derived from the browser's
binding and the state, so only the browser that started a flow can finish it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from session_service.domain.models import AccountEvent, Credential, Millis, UserProfile

# A browser has this long at the provider (a person typing a password, maybe a code).
FLOW_SECONDS = 600
# The contract's: the frontend exchanges a handoff within 60 s; a link URL is good as long.
HANDOFF_SECONDS = 60
LINK_SECONDS = 60


@dataclass(frozen=True, slots=True)
class FederationFlow:
    """A sign-in started at a provider, found by its state's digest."""

    digest: str
    provider_id: str
    # The digest of the browser's binding cookie: the callback must present it.
    binding_digest: str
    nonce: str
    return_to: str
    created_at: Millis
    expires_at: Millis
    # Linking: the signed-in owner the identity will be linked to.
    link_user_id: str | None = None
    # The hosted sign-in page's: the app's authorization request, continued with a central
    # session.
    sign_in_request: str | None = None


@dataclass(frozen=True, slots=True)
class Handoff:
    """Body mode's one-time secret: the session the frontend collects within 60 s."""

    digest: str
    user_id: str
    username_key: str
    provider_id: str
    created_at: Millis
    expires_at: Millis
    # The identity it came through: still linked when the handoff is exchanged.
    subject: str = ""


@dataclass(frozen=True, slots=True)
class LinkIntent:
    """A signed-in owner's request to link an identity, opened in a browser once."""

    digest: str
    provider_id: str
    user_id: str
    return_to: str
    expires_at: Millis


@dataclass(frozen=True, slots=True)
class LinkedIdentity:
    """An identity at a provider, `(provider_id, subject)`, and the account it signs in."""

    identity_id: str
    user_id: str
    username_key: str
    provider_id: str
    subject: str
    linked_at: Millis
    email: str | None = None
    # The provider's issuer when it was linked: a provider registered again under its id
    # with another issuer signs none of its identities in.
    issuer: str = ""


class FederationStore(Protocol):
    def put_flow(self, flow: FederationFlow) -> None: ...

    def find_flow(self, digest: str) -> FederationFlow | None: ...

    def spend_flow(self, digest: str, spender: str) -> bool:
        """Mark the flow spent by `spender` (a random id of this callback): True when it
        is, also when an earlier try of this very write landed and its answer was lost;
        False when it is gone or another callback spent it."""
        ...

    def put_handoff(self, handoff: Handoff) -> None: ...

    def find_handoff(self, digest: str) -> Handoff | None: ...

    def spend_handoff(self, digest: str) -> bool:
        """Delete it (a sign-in that goes on to a second factor): False when gone."""
        ...

    def put_link_intent(self, intent: LinkIntent) -> None: ...

    def find_link_intent(self, digest: str) -> LinkIntent | None: ...

    def take_link_intent(self, digest: str) -> LinkIntent | None:
        """The intent, deleted (single use); None when there is none."""
        ...

    def find_identity(self, provider_id: str, subject: str) -> LinkedIdentity | None: ...

    def create_account(
        self,
        credential: Credential,
        profile: UserProfile,
        identity: LinkedIdentity,
        event: AccountEvent,
    ) -> None:
        """A new account signed in by this identity, in one transaction with its
        IdentityLinked record. AlreadyExists when the identity is linked meanwhile."""
        ...

    def link_identity(
        self, credential: Credential, identity: LinkedIdentity, event: AccountEvent
    ) -> None:
        """Link it to the credential's account (its count of identities goes up).
        AlreadyExists when the identity is linked; StaleWrite when the credential is
        gone or changed."""
        ...

    def list_identities(self, user_id: str) -> list[LinkedIdentity]: ...

    def reissue(self, identity: LinkedIdentity, issuer: str) -> None:
        """The identity now of this issuer (its owner proved it there), if it is still
        as read; StaleWrite when it changed meanwhile."""
        ...

    def unlink_identity(
        self, credential: Credential, identity: LinkedIdentity, event: AccountEvent
    ) -> None:
        """Remove it, on the credential as read (its identities and passkeys: the last way
        to sign in was judged from them). StaleWrite when either changed meanwhile."""
        ...
