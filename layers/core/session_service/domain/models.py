"""The records the domain reasons about. Times are epoch milliseconds (`Millis`)."""

from __future__ import annotations

import base64
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from session_service.domain.errors import InvalidRequest

# The signature algorithms the service signs access tokens with.
JwtAlgorithm = Literal["RS256", "ES256", "EdDSA"]

Millis = int
# User and session ids are lower-case UUIDs (uuid4) issued by this service.
UUID_PATTERN = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_UUID = re.compile(UUID_PATTERN)
# RFC 8176 authentication method references: a password, a one-time code.
PASSWORD_AMR: tuple[str, ...] = ("pwd",)
PASSWORD_AND_OTP_AMR: tuple[str, ...] = ("pwd", "otp")
# Methods that are a second factor, for MFA_POLICY=required.
SECOND_FACTOR_METHODS = frozenset({"otp", "hwk", "swk"})
RevocationReason = Literal[
    "logout",
    "evicted",
    "reuse_detected",
    "password_changed",
    "ip_changed",
    "admin",
    "refresh_limit",
    "reauth_failed",
    "password_reset",
]


def is_issued_id(value: str) -> bool:
    """Whether a client-supplied id can be one of ours; anything else names nothing (and
    could exceed DynamoDB's key limits)."""
    return _UUID.fullmatch(value) is not None


# A registered thing's name (an OAuth client's, an identity provider's): shown to people.
MAX_NAME_LENGTH = 100


def display_name(value: object) -> str:
    """A name as registered: 1 to MAX_NAME_LENGTH characters once trimmed, and printable
    (no control, format, unassigned or surrogate code point: it is shown to people, on
    the sign-in page's buttons among others)."""
    if not isinstance(value, str):
        raise InvalidRequest("name: must be a string.")
    name = value.strip()
    if not name or len(name) > MAX_NAME_LENGTH:
        raise InvalidRequest(f"name: must be 1 to {MAX_NAME_LENGTH} characters.")
    if any(unicodedata.category(c) in ("Cc", "Cf", "Cn", "Cs") for c in name):
        raise InvalidRequest("name: must be printable text.")
    return name


def rfc3339(millis: Millis, timespec: str = "milliseconds") -> str:
    """RFC 3339 UTC, with millisecond precision by default (as the contract wants times in
    bodies)."""
    moment = datetime.fromtimestamp(millis / 1000, UTC)
    return moment.isoformat(timespec=timespec).replace("+00:00", "Z")


def b64url(data: bytes) -> str:
    """Base64url without padding (RFC 4648 section 5), as JOSE and our tokens use it."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def parse_rfc3339(value: str) -> Millis:
    moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError("a time zone is required")
    return int(moment.timestamp() * 1000)


@dataclass(frozen=True, slots=True)
class ClientInfo:
    ip: str
    user_agent: str


@dataclass(frozen=True, slots=True)
class StepUpProof:
    """A step-up of a session: when and how the user proved a credential again. Only the
    client that stepped up carries its id (in its refresh tokens, and in the access tokens
    minted from them), so a copy of another of the session's tokens never gains it."""

    proof_id: str
    auth_time: Millis
    amr: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Session:
    """A refresh session and the state of its refresh-token family."""

    user_id: str
    session_id: str
    created_at: Millis
    last_used_at: Millis
    idle_expires_at: Millis
    absolute_expires_at: Millis
    ip: str
    user_agent: str
    # Digests of the refresh tokens that may be exchanged now: one, or a few siblings
    # issued inside the reuse-grace window.
    refresh_digests: frozenset[str] = field(default_factory=frozenset)
    generation: int = 0
    previous_digest: str | None = None
    rotated_at: Millis | None = None
    # When the user proved a credential to start this session, and how (RFC 8176).
    auth_time: Millis = 0
    amr: tuple[str, ...] = PASSWORD_AMR
    # Its step-ups, newest last (None: none yet; its first one writes them whole).
    step_ups: tuple[StepUpProof, ...] | None = None
    # A central session (single sign-on's, the hosted sign-in's): only such a session has
    # apps' grants, so only its ending is told to the back-channel (docs/sso.md).
    central: bool = False
    # A central session's last renewal: the cookie's token it replaced, and when (another
    # renewal from that cookie moments later joins the session, docs/sso.md).
    replaced_digest: str | None = None
    replaced_at: Millis | None = None
    # A federated sign-in's: the provider it came through.
    provider: str | None = None

    def proven(self, proof_id: str | None) -> tuple[Millis, tuple[str, ...]]:
        """When and how the holder of a token naming `proof_id` last proved a credential:
        its step-up's, or, for any other token, the session's start."""
        for step_up in self.step_ups or ():
            if step_up.proof_id == proof_id:
                return step_up.auth_time, step_up.amr
        return self.auth_time or self.created_at, self.amr

    @property
    def expires_at(self) -> Millis:
        return min(self.idle_expires_at, self.absolute_expires_at)

    def is_live(self, now: Millis, not_before: Millis | None = None) -> bool:
        """Within both timeouts and created after the user's last password change. (An
        ended session has no item at all.)"""
        return now < self.expires_at and (not_before is None or self.created_at >= not_before)


@dataclass(frozen=True, slots=True)
class UserProfile:
    user_id: str
    username: str
    created_at: Millis
    # Bumped by every write that adds sessions, so that concurrent logins serialise on it.
    session_version: int = 0
    # Sessions created before this instant are over (the last password change).
    not_before: Millis | None = None
    password_changed_at: Millis | None = None
    # An administrator disabled the account: no session, no login, until enabled.
    disabled: bool = False
    # The account's verified e-mail address (unique among verified addresses), if any.
    email: str | None = None
    # How the password last changed: "changed" by its owner, "reset" by a link.
    password_change_reason: str | None = None


@dataclass(frozen=True, slots=True)
class TotpFactor:
    """A confirmed TOTP second factor. The secret is sealed (encrypted with a key kept
    apart from the table); the recovery codes are stored only as keyed digests."""

    sealed_secret: str
    # The last time step whose code was accepted: a code is good once (RFC 6238 §5.2).
    last_step: int
    enabled_at: Millis
    recovery_codes: frozenset[str]


@dataclass(frozen=True, slots=True)
class PendingTotp:
    """A TOTP secret handed out for enrollment, until a code confirms it."""

    sealed_secret: str
    expires_at: Millis


@dataclass(frozen=True, slots=True)
class Credential:
    """What login needs, found by the case-folded username."""

    username_key: str
    username: str
    user_id: str
    password_hash: str
    password_version: int = 0
    totp: TotpFactor | None = None
    pending_totp: PendingTotp | None = None
    # Read by login, which answers a disabled account like a wrong password.
    disabled: bool = False
    # Part of the username's throttle scopes: an administrator lifting the login lock
    # moves it on, and the username's counters start afresh.
    throttle_generation: int = 0
    # How many passkeys the user holds: kept here, so that adding and removing passkeys
    # serialise on this item (the cap, and the last second factor, hold under bursts).
    passkeys: int = 0
    # The digest of the newest password-reset token: a newer one, or any password
    # change (which removes it), voids the others.
    reset_digest: str | None = None
    # Identities at upstream providers that sign this account in (federation); an account
    # made by one has no password (an empty hash).
    identities: int = 0

    @property
    def has_second_factor(self) -> bool:
        """TOTP or a passkey: a right password alone no longer signs in."""
        return self.totp is not None or self.passkeys > 0

    @property
    def factors(self) -> tuple[str, ...]:
        """What may follow a right password (contract v3), in the contract's order."""
        named = []
        if self.totp is not None:
            named.append("totp")
        if self.passkeys > 0:
            named.append("passkey")
        if self.totp is not None and self.totp.recovery_codes:
            named.append("recovery_code")
        return tuple(named)


@dataclass(frozen=True, slots=True)
class Passkey:
    """A WebAuthn credential of a user: what verifying its assertions needs. Its id for
    the API is a digest of the credential id (which may be up to 1023 bytes)."""

    user_id: str
    # The owner's username key: a sign-in finds the credential (the throttle, disabled).
    username_key: str
    passkey_id: str
    credential_id: bytes
    # The COSE public key as the authenticator gave it (py_webauthn decodes it).
    public_key: bytes
    sign_count: int
    transports: tuple[str, ...]
    name: str
    created_at: Millis
    last_used_at: Millis | None = None
    # Backup eligible (a synced passkey): its sign-ins are `swk`, a device-bound one's `hwk`.
    synced: bool = False


@dataclass(frozen=True, slots=True)
class EndedSessions:
    """Sessions that ended together, and why: the record of it that the table's stream
    turns into SessionRevoked events (the sessions' own items are deleted)."""

    record_id: str
    user_id: str
    session_ids: tuple[str, ...]
    reason: RevocationReason
    ended_at: Millis


AccountEventType = Literal[
    "MfaEnabled",
    "MfaDisabled",
    "RecoveryCodeUsed",
    "AccountDisabled",
    "AccountEnabled",
    "PasskeyAdded",
    "PasskeyRemoved",
    "PasskeySignCountRegressed",
    "SecondFactorFailing",
    "EmailVerified",
    "PasswordResetRequested",
    "FactorsReset",
    "SsoSignIn",
    "SsoSessionRenewed",
    "IdentityLinked",
    "IdentityUnlinked",
]


@dataclass(frozen=True, slots=True)
class AccountEvent:
    """A change of a user's second factor, recorded with it: the record the table's
    stream turns into the event (the credential item itself never reaches the stream's
    consumer: it holds the password hash)."""

    record_id: str
    user_id: str
    event_type: AccountEventType
    at: Millis
    # After a recovery code is used: how many are left.
    remaining_recovery_codes: int | None = None
    # A passkey's change or refused use: which passkey, and from where (a refused use).
    passkey_id: str | None = None
    ip: str = ""
    user_agent: str = ""
    # A second factor failing: which limit it reached, and the failures counted there.
    reason: str | None = None
    failures: int | None = None
    # An app's sign-in through the central session (single sign-on): the app, the session.
    client_id: str | None = None
    session_id: str | None = None
    # An identity at an upstream provider linked or unlinked (federation).
    provider_id: str | None = None
    identity_id: str | None = None


# Single sign-on's clients (domain/sso/clients.py): an app that holds a secret, or not.
ClientType = Literal["confidential", "public"]
ClientEventType = Literal["ClientRegistered", "ClientDeleted"]


@dataclass(frozen=True, slots=True)
class ClientEvent:
    """An OAuth client registered or deleted, recorded with the change: the record the
    table's stream turns into the event. It holds no secret, nor its digest."""

    record_id: str
    event_type: ClientEventType
    client_id: str
    name: str
    client_type: ClientType
    at: Millis


@dataclass(frozen=True, slots=True)
class LoginAttempt:
    """A known user's login that failed (a wrong password or code) or was throttled: a
    short-lived record the stream turns into the user's activity."""

    record_id: str
    user_id: str
    at: Millis
    ip: str
    user_agent: str
    throttled: bool


@dataclass(frozen=True, slots=True)
class UserSessions:
    profile: UserProfile
    sessions: tuple[Session, ...]

    def live(self, now: Millis) -> list[Session]:
        return [s for s in self.sessions if s.is_live(now, self.profile.not_before)]

    def expired(self, now: Millis) -> list[Session]:
        """Items of sessions past a timeout that DynamoDB's TTL has not deleted yet."""
        return [s for s in self.sessions if now >= s.expires_at]


@dataclass(frozen=True, slots=True)
class ThrottleScope:
    """What attempts are counted by (a username from an address, a username, an address,
    an account's second factor, a session's step-ups, an mfa_token), and how many may be
    judged in one window."""

    key: str
    limit: int
    # Counted over a span of its own instead of the login window: the counter's window id
    # and when it may be deleted (an mfa_token's life, a session's, a run of failures).
    span: tuple[int, Millis] | None = None
    # A success starts the count afresh instead of giving its own place back: the
    # consecutive failures of a second factor.
    resets: bool = False
    # Found full, it is remembered as full until its window ends (per container), so that
    # more attempts cost no write: only for an account's scopes, which no burst of right
    # attempts ever fills.
    remembered: bool = False
    # A client address's: shared by every attempt from it, so never in a transaction (one
    # in flight would refuse every other write to it); its place is taken first, alone.
    address: bool = False
    # A count an attempt must know whether its own place reached (the wrong proof that
    # fills a session's step-ups ends it; the one that fills an account's window, or
    # locks TOTP, is recorded): taken exactly, whatever else races.
    mark: int | None = None


@dataclass(frozen=True, slots=True)
class Reservation:
    """Places an attempt holds in its scopes' counters."""

    scopes: tuple[ThrottleScope, ...]
    # The login window (for scopes without a span of their own).
    window: int
    # The window's end: its counters are kept until then (DynamoDB TTL).
    window_ends_at: Millis
    # The attempt's id, which its places carry: a retried write takes or gives back none
    # twice.
    attempt: str = ""
    # The scopes whose mark this attempt's place reached.
    reached: frozenset[str] = frozenset()

    def window_of(self, scope: ThrottleScope) -> tuple[int, Millis]:
        return scope.span or (self.window, self.window_ends_at)
