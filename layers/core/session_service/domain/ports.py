"""The interfaces the domain needs from storage, the records it hands them, and what their
failures mean. Nothing here knows DynamoDB; the stores in store.py and throttle_store.py
implement these (and tests/fakes.py in memory)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from session_service.domain.models import (
    AccountEvent,
    Credential,
    EndedSessions,
    LoginAttempt,
    Millis,
    Passkey,
    PendingTotp,
    Session,
    StepUpProof,
    ThrottleScope,
    TotpFactor,
    UserProfile,
    UserSessions,
)


class StoreError(Exception):
    """A condition failed: the domain decides what that means."""


class StaleWrite(StoreError):
    """Someone changed what we read before our write landed; read again and retry."""


class WriteConflict(StaleWrite):
    """DynamoDB cancelled the transaction because another write to one of its items was
    in flight (TransactionConflict): nothing is known about the items' state; retry."""


class AlreadyExists(StoreError):
    pass


class CredentialChanged(StoreError):
    """The password changed between verifying it and using it."""


class SecondFactorSpent(StoreError):
    """The mfa_token, the code's time step or the recovery code was used meanwhile (or
    the password changed): the proof cannot be used again."""


class PasskeyCountRefused(StoreError):
    """Adding would exceed the cap, or removing would leave fewer passkeys than asked."""


class RotationRefused(StoreError):
    """The refresh token is not exchangeable; `current` is the session as it stands."""

    def __init__(self, current: Session | None) -> None:
        super().__init__("refresh refused")
        self.current = current


@dataclass(frozen=True, slots=True)
class PasskeyUse:
    """A passkey's verified assertion: its ceremony is spent and its sign count moves on,
    from the count that was read (of two uses racing, one lands)."""

    user_id: str
    passkey_id: str
    ceremony_digest: str
    seen_sign_count: int
    new_sign_count: int
    used_at: Millis


@dataclass(frozen=True, slots=True)
class SecondFactorUse:
    """What a proof of the second factor spends, in the same write as what it buys: the
    login's mfa_token, and the TOTP step (at most once per user) or one recovery code, or
    a passkey's ceremony."""

    challenge_digest: str | None = None
    totp_step: int | None = None
    recovery_digest: str | None = None
    # A recovery code's use is recorded for the RecoveryCodeUsed event.
    event: AccountEvent | None = None
    passkey: PasskeyUse | None = None


@dataclass(frozen=True, slots=True)
class RegistrationCeremony:
    """A passkey registration a user asked options for: its challenge, single use and
    short-lived. One per user; asking again replaces it."""

    user_id: str
    challenge: bytes
    expires_at: Millis


@dataclass(frozen=True, slots=True)
class SignInCeremony:
    """A passkey sign-in's options: its challenge, found by the digest of its
    ceremony_id, single use and short-lived; the user it was asked for, if a username was
    given (an unknown username's ceremony names a user no passkey belongs to)."""

    digest: str
    challenge: bytes
    expires_at: Millis
    user_id: str | None = None


@dataclass(frozen=True, slots=True)
class PasskeyAddition:
    """A verified registration: the passkey, the ceremony it spends, the record of it."""

    passkey: Passkey
    challenge: bytes
    event: AccountEvent
    max_passkeys: int
    # The caller proved no factor: the account must still have none (no TOTP, no other
    # passkey added meanwhile) when this lands.
    first_factor: bool = False


@dataclass(frozen=True, slots=True)
class MfaChallenge:
    """A login whose password was right, waiting for the second factor (the mfa_token,
    stored as its digest, single use, short-lived)."""

    digest: str
    user_id: str
    username_key: str
    # A password change meanwhile voids it.
    password_version: int
    # The device the password step recognised (the throttle's known device), if any.
    device_id: str | None
    created_at: Millis
    expires_at: Millis
    # How the first step proved the user (a password, an e-mailed code, a provider's).
    first_amr: tuple[str, ...] = ("pwd",)
    provider: str | None = None


@dataclass(frozen=True, slots=True)
class SecretSpend:
    """A single-use secret spent by the session it buys: a reset token (the credential
    must still name its digest), an e-mailed code (its login, which must still hold the
    code's digest) or a federated sign-in's handoff (of concurrent exchanges, one lands)."""

    reset_digest: str | None = None
    login_digest: str | None = None
    code_digest: str | None = None
    handoff_digest: str | None = None


@dataclass(frozen=True, slots=True)
class NewSession:
    """What starting a session writes, in one transaction."""

    session: Session
    # The user's version as read: a concurrent change of their sessions cancels this one.
    expected_version: int
    # Sessions this start ends (evicted by the limit, or every one by a password change).
    ended: EndedSessions | None = None
    # Expired items removed on the way (no event: a timeout is not a revocation).
    pruned: tuple[Session, ...] = ()
    # The password that was proved must still be the password; with a new hash, it is
    # replaced (a password change), and not_before rises to the new session's creation.
    credential: Credential | None = None
    new_password_hash: str | None = None
    # A login completed with a second factor: what it spends (needs `credential`).
    second_factor: SecondFactorUse | None = None
    spends: SecretSpend | None = None


@dataclass(frozen=True, slots=True)
class Reauthentication:
    """A fresh proof of the credential for a live session: a new auth_time and amr, and a
    new refresh token beside the session's current ones (another tab's stays good)."""

    credential: Credential
    session_id: str
    new_digest: str
    # The generation the new token belongs to: a refresh meanwhile refuses the write.
    generation: int
    now: Millis
    # The step-up, kept with the session (the new token names it; its start's stay).
    step_up: StepUpProof
    # The session's first step-up (none yet, or an older item's): its map written whole.
    replaced_step_ups: bool
    # The oldest step-ups, beyond what a session keeps.
    dropped_step_ups: tuple[str, ...]
    idle_expires_at: Millis
    absolute_expires_at: Millis
    not_before: Millis | None
    max_digests: int
    second_factor: SecondFactorUse | None = None
    # A central session's renewal: its tokens, written if as read; its cookie's; a record.
    # Joining one instead (no `digests`): its cookie's, replaced since `race_start`.
    digests: frozenset[str] | None = None
    replaced_digest: str | None = None
    race_start: Millis | None = None
    event: AccountEvent | None = None


@dataclass(frozen=True, slots=True)
class TotpEnrollment:
    """Turning TOTP on: the pending secret that the code was checked against becomes the
    factor, with its recovery codes, while the confirming session is live (it does not
    count the factor: a step-up with a code gives it to the client that makes it)."""

    credential: Credential
    session_id: str
    factor: TotpFactor
    event: AccountEvent
    # The caller proved no factor: the account must still have none (no passkey added
    # meanwhile) when this lands.
    first_factor: bool = False


@dataclass(frozen=True, slots=True)
class NotBeforeRaise:
    """A password change from elsewhere: not_before rises and, in the same transaction,
    every session created before it ends, so none survives to mint another token."""

    user_id: str
    not_before: Millis
    expected_version: int
    ended: EndedSessions | None = None


@dataclass(frozen=True, slots=True)
class Rotation:
    """A refresh: the presented token's digest is exchanged for a new one."""

    user_id: str
    session_id: str
    presented_digest: str
    new_digest: str
    now: Millis
    idle_expires_at: Millis
    absolute_expires_at: Millis
    # A normal rotation moves to the next generation; one inside the grace window adds a
    # sibling to the current generation (None), if the session has fewer than max_siblings.
    new_generation: int | None = None
    window_start: Millis = 0
    max_siblings: int = 0
    required_ip: str | None = None
    max_generation: int | None = None
    # The user's not_before as read just before: a session created before it mints nothing.
    not_before: Millis | None = None


class SessionStore(Protocol):
    """What the domain needs from storage."""

    def create_user(self, credential: Credential, profile: UserProfile) -> None: ...

    def find_credential(self, username_key: str) -> Credential | None: ...

    def find_profile(self, user_id: str) -> UserProfile | None: ...

    def replace_password_hash(self, credential: Credential, new_hash: str) -> None: ...

    def load_user(self, user_id: str) -> UserSessions | None: ...

    def start_session(self, start: NewSession) -> None: ...

    def rotate(self, rotation: Rotation) -> Session: ...

    def end_sessions(self, ended: EndedSessions, now: Millis) -> bool: ...

    def raise_not_before(self, change: NotBeforeRaise) -> None: ...

    def authorization_lookup(
        self, user_id: str, session_id: str, consistent: bool = True, grant_id: str | None = None
    ) -> tuple[Session | None, UserProfile | None]:
        """The session and its user's profile in one read (`consistent=False`: maybe as they
        were about a second ago, at half the cost); with `grant_id` (an app's token), its
        grant too, and the session is None unless that grant exists and hangs on it."""
        ...

    def reauthenticate(self, change: Reauthentication) -> None: ...

    def record_login_attempt(self, attempt: LoginAttempt) -> bool:
        """Write the record once: False (nothing written) when its id was written before."""
        ...

    def record_account_event_once(self, event: AccountEvent) -> bool:
        """Write the record once: False (nothing written) when its id was written before."""
        ...


class SecondFactorStore(Protocol):
    """What the second factor needs from storage: the pending secret, the factor, and
    the challenges of logins waiting for it."""

    def begin_totp(self, credential: Credential, pending: PendingTotp) -> None: ...

    def enable_totp(self, enrollment: TotpEnrollment) -> None: ...

    def disable_totp(self, credential: Credential, event: AccountEvent) -> None: ...

    def put_challenge(self, challenge: MfaChallenge) -> None: ...

    def find_challenge(self, digest: str) -> MfaChallenge | None: ...


class PasskeyStore(Protocol):
    """A user's passkeys and the ceremonies that register them or sign in with them. What
    a sign-in spends is written with the session it buys (SecondFactorUse.passkey)."""

    def put_registration(self, ceremony: RegistrationCeremony) -> None: ...

    def find_registration(self, user_id: str) -> RegistrationCeremony | None: ...

    def add_passkey(self, addition: PasskeyAddition) -> None:
        """Raises StaleWrite when the ceremony was spent or replaced meanwhile,
        AlreadyExists when the credential is registered already, and PasskeyCountRefused
        when the user holds `max_passkeys` already."""
        ...

    def passkeys(self, user_id: str) -> list[Passkey]: ...

    def find_passkey(self, user_id: str, passkey_id: str) -> Passkey | None: ...

    def rename_passkey(self, passkey: Passkey, name: str) -> None:
        """Raises StaleWrite when it is gone."""
        ...

    def remove_passkey(self, passkey: Passkey, event: AccountEvent, keep: int) -> None:
        """Raises StaleWrite when it is gone already, and PasskeyCountRefused when the
        user would be left with fewer than `keep` passkeys."""
        ...

    def put_sign_in(self, ceremony: SignInCeremony) -> None: ...

    def find_sign_in(self, digest: str) -> SignInCeremony | None: ...

    def record_account_event(self, event: AccountEvent) -> None: ...


# A place to take in a scope's counter: the scope, its window, and when that window ends.
Place = tuple[ThrottleScope, int, Millis]


@dataclass(frozen=True, slots=True)
class PlacesTaken:
    """What taking an attempt's places together found: the index of the first scope found
    full (None: every place taken), and the scopes whose mark (ThrottleScope.mark) the
    attempt's own place reached."""

    full: int | None = None
    reached: frozenset[str] = frozenset()


class ThrottleStore(Protocol):
    """Attempt counters: a place per judged attempt in each scope's fixed window. A write
    that meets a transaction in flight on its counter raises WriteConflict (nothing was
    written: it may be sent again)."""

    def reserve_together(self, places: Sequence[Place], attempt: str) -> PlacesTaken:
        """Take a place in every one of `places` for the attempt, or in none (then `full`
        names the first one found full). Taking them again for the same attempt takes no
        other place."""
        ...

    def reserve(
        self, scope: ThrottleScope, window: int, window_ends_at: Millis, attempt: str
    ) -> int | None:
        """Take a place for the attempt (its id): the count with it, or None when the
        window is full. Taking it again for the same attempt takes no other place."""
        ...

    def release(
        self, scope: ThrottleScope, window: int, window_ends_at: Millis, attempt: str
    ) -> None:
        """Give back the attempt's place, if it holds one (never twice)."""
        ...

    def reset(self, scope: ThrottleScope, window: int, window_ends_at: Millis) -> None:
        """Count from zero again (a run of consecutive failures ended by a success)."""
        ...

    def keep(self, scope: ThrottleScope, window: int, attempt: str) -> None:
        """The attempt's place stays for good (a judged failure): its id leaves the
        counter's holders, as nothing will give that place back."""
        ...
