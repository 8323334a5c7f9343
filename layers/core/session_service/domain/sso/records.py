"""Single sign-on's records (docs/sso.md): authorization codes and the grants they start,
and what the provider needs from storage (GrantStore)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from session_service.domain.models import AccountEvent, Millis
from session_service.domain.ports import StoreError

# RFC 6749 §4.1.2 recommends at most 10 minutes; the contract says 60 s.
CODE_TTL_MS = 60_000
# How soon after a rotation the token it replaced is a race rather than a replay (the
# sessions' REFRESH_REUSE_GRACE_SECONDS default, for the same reason).
RACE_WINDOW_MS = 10_000


@dataclass(frozen=True, slots=True)
class AuthorizationCode:
    """A code issued to a client at its redirect URI, by its digest. The grant its exchange
    creates is named here already, so that a second exchange knows which grant to end."""

    digest: str
    client_id: str
    redirect_uri: str
    # PKCE (RFC 7636): S256 only
    code_challenge: str
    scope: str
    nonce: str | None
    user_id: str
    # The central session that signed the user in, and when and how it proved who it is
    session_id: str
    auth_time: Millis
    amr: tuple[str, ...]
    grant_id: str
    issued_at: Millis
    expires_at: Millis
    # Exchanged once already: a second exchange ends `grant_id`
    spent: bool = False

    def is_live(self, now: Millis) -> bool:
        return now < self.expires_at


@dataclass(frozen=True, slots=True)
class Grant:
    """One app's hold on a central session: its refresh token (rotating, by digest) and
    what it was granted. It lives no longer than the session it hangs on."""

    user_id: str
    grant_id: str
    client_id: str
    session_id: str
    scope: str
    nonce: str | None
    auth_time: Millis
    amr: tuple[str, ...]
    created_at: Millis
    expires_at: Millis
    refresh_digest: str
    generation: int = 0
    # The token the last rotation replaced, and when: presented again soon after, it is
    # one client's racing request, refused without ending the grant (RACE_WINDOW_MS).
    previous_digest: str | None = None
    rotated_at: Millis | None = None

    @property
    def scopes(self) -> frozenset[str]:
        return frozenset(self.scope.split())

    def racing(self, digest: str, now: Millis) -> bool:
        """Whether `digest` is the token the last rotation replaced, moments ago: a
        concurrent request of the same client that lost, not a replay."""
        return (
            self.previous_digest == digest
            and self.rotated_at is not None
            and now - self.rotated_at < RACE_WINDOW_MS
        )

    @property
    def access_claims(self) -> dict[str, str]:
        """What its app's access tokens say of it: RFC 9068's `client_id` and `scope`, and
        `grant_id`, by which the authorizer refuses them once the grant has ended."""
        return {"client_id": self.client_id, "scope": self.scope, "grant_id": self.grant_id}


@dataclass(frozen=True, slots=True)
class GrantSlots:
    """A central session's grants as an exchange reads them: the version of the set (0:
    none yet), the ids of the oldest (as many as the cap), oldest first, and each one's
    client (`client_ids[i]` is `grant_ids[i]`'s)."""

    version: int
    grant_ids: tuple[str, ...]
    client_ids: tuple[str, ...]


class GrantsChanged(StoreError):
    """Another exchange (or an ending) changed the session's grants since they were read."""


class CodeSpent(StoreError):
    """The code was exchanged already (or never issued): the exchange is refused."""


class CentralSessionEnded(StoreError):
    """The central session a code or grant hangs on is gone."""


class GrantStore(Protocol):
    """Storage of codes and grants, with DynamoDB's conditions."""

    def put_code(self, code: AuthorizationCode) -> None: ...

    def find_code(self, digest: str) -> AuthorizationCode | None:
        """The code by its digest, spent or not (consistent read)."""
        ...

    def grant_slots(self, user_id: str, session_id: str, cap: int) -> GrantSlots:
        """The session's grants' version and its `cap` oldest grants (one bounded read)."""
        ...

    def exchange_code(
        self,
        code: AuthorizationCode,
        grant: Grant,
        event: AccountEvent,
        version: int = 0,
        evict: str | None = None,
    ) -> None:
        """Spend the code and create its grant at once, with the record of its event
        (SsoSignIn), if the code is unspent (else CodeSpent) and its central session still
        exists (else CentralSessionEnded); the session's grants move from `version` to the
        next, and `evict`'s grant (the session's) is deleted, if they are as read (else
        GrantsChanged)."""
        ...

    def find_grant(self, user_id: str, session_id: str, grant_id: str) -> Grant | None: ...

    def rotate_grant(self, grant: Grant, refresh_digest: str, now: Millis) -> None:
        """The grant's next refresh token (the current one becoming its previous, at
        `now`), if its current one is still `grant`'s (else ports.StaleWrite: another
        exchange of the same token won)."""
        ...

    def end_grant(self, user_id: str, session_id: str, grant_id: str) -> None:
        """Delete the grant (nothing happens if it is gone)."""
        ...

    def end_grants(self, user_id: str, session_id: str, grants: Sequence[Grant]) -> None:
        """Delete these grants of an ended session, and what the cap kept of the session
        (its grants' version), 25 to a write; those gone already are no matter. Raises if
        some could not be deleted (throttled throughout)."""
        ...

    def keep_alive(
        self, user_id: str, session_id: str, idle_expires_at: Millis, now: Millis
    ) -> None:
        """Push a central session's idle timeout back to `idle_expires_at` (used at `now`),
        if it still exists and idles out sooner; nothing otherwise (never shortened, never
        revived)."""
        ...

    def session_grants(self, user_id: str, session_id: str) -> list[Grant]:
        """The grants that hang on one central session (bounded by that session's own)."""
        ...
