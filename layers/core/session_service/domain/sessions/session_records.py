"""The records of the session lifecycle: the policy it follows, what a start or a
re-authentication asks for, and what it answers."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from session_service.domain.concurrency import Pending
from session_service.domain.models import (
    PASSWORD_AMR,
    ClientInfo,
    Credential,
    EndedSessions,
    Millis,
    RevocationReason,
    Session,
    UserProfile,
    UserSessions,
)
from session_service.domain.ports import SecondFactorUse, SecretSpend
from session_service.domain.sessions.devices import DeviceToken
from session_service.domain.sessions.tokens import AccessTokenClaims


@dataclass(frozen=True, slots=True)
class SessionPolicy:
    access_token_ttl_seconds: int
    idle_timeout_seconds: int
    absolute_timeout_seconds: int
    max_sessions_per_user: int
    limit_policy: str
    reuse_grace_seconds: int
    max_refreshes: int | None
    bind_to_ip: bool
    # A central session's own (single sign-on, SSO_SESSION_*); None: the session's.
    central_idle_timeout_seconds: int | None = None
    central_absolute_timeout_seconds: int | None = None

    # The policy's durations in the store's unit, written once.
    def idle_expiry(self, now: Millis, central: bool = False) -> Millis:
        """When a session (a central one) used at `now` idles out."""
        seconds = self.central_idle_timeout_seconds if central else None
        return now + (seconds or self.idle_timeout_seconds) * 1000

    def absolute_expiry(self, started_at: Millis, central: bool = False) -> Millis:
        """When a session (a central one) started at `started_at` ends whatever its use."""
        seconds = self.central_absolute_timeout_seconds if central else None
        return started_at + (seconds or self.absolute_timeout_seconds) * 1000

    @property
    def grace_ms(self) -> Millis:
        return self.reuse_grace_seconds * 1000


@dataclass(frozen=True, slots=True)
class IssuedTokens:
    access_token: str
    expires_in: int
    refresh_token: str
    refresh_expires_in: int
    session: Session
    # After a proof of the password: the device's token for the throttle (devices).
    device: DeviceToken | None = None


@dataclass(frozen=True, slots=True)
class AuthorizedSession:
    claims: AccessTokenClaims
    session: Session
    username: str

    @property
    def auth_time(self) -> int:
        """When the token's client last proved a credential (epoch seconds), as the stored
        session says, never as the token says: a token minted with a stolen signing key
        cannot claim a recent or stronger sign-in than the session holds."""
        return self.session.proven(self.claims.proof_id)[0] // 1000

    @property
    def amr(self) -> tuple[str, ...]:
        """How it proved it (RFC 8176), as the stored session says."""
        return self.session.proven(self.claims.proof_id)[1]


@dataclass(frozen=True, slots=True)
class StartRequest:
    """A new session for a user who just proved who they are."""

    user_id: str
    client: ClientInfo
    # The password that was proved; it must still be the password when the session lands.
    credential: Credential | None = None
    # A password change: the new hash, stored in the same transaction.
    new_password_hash: str | None = None
    # How the user proved who they are (RFC 8176), and what a second factor spends.
    amr: tuple[str, ...] = PASSWORD_AMR
    second_factor: SecondFactorUse | None = None
    # A secret from an e-mail this start spends (a reset token, a sign-in code).
    spends: SecretSpend | None = None
    # Why the sessions a password change ends are over (a reset says so).
    reason: RevocationReason = "password_changed"
    # A central session (the hosted sign-in's): its own timeouts, its cookie's token.
    central: bool = False
    # A federated sign-in's provider (its activity says which).
    provider: str | None = None
    # The user's sessions, read alongside the sign-in's throttle places (SessionService.
    # prefetch): the start's first try uses them instead of reading them again.
    loaded: Pending[UserSessions | None] | None = None


@dataclass(frozen=True, slots=True)
class ReauthRequest:
    """A fresh proof of the credential for the caller's own session."""

    credential: Credential
    session_id: str
    amr: tuple[str, ...]
    second_factor: SecondFactorUse | None = None
    # A central session's renewal on the hosted page: the browser's cookie (its digest),
    # which the new token replaces (the session must still hold it), and where the sign-in
    # came from (its record's, as a login's).
    central_digest: str | None = None
    client: ClientInfo | None = None
    # The session and profile, read alongside the step-up's throttle places: the first
    # try uses them instead of reading them again.
    looked_up: Pending[tuple[Session | None, UserProfile | None]] | None = None


def ended_record(
    user_id: str, sessions: Sequence[Session | str], reason: RevocationReason, now: Millis
) -> EndedSessions | None:
    """The record of these sessions (or session ids) ending together; None for none."""
    if not sessions:
        return None
    return EndedSessions(
        record_id=str(uuid.uuid4()),
        user_id=user_id,
        session_ids=tuple(s if isinstance(s, str) else s.session_id for s in sessions),
        reason=reason,
        ended_at=now,
    )
