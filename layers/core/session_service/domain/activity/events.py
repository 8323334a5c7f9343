"""Events on the service's bus: what a change of state means to other systems (the
publisher that puts them there is adapters.eventbridge).

Handlers never publish. Every state change is a write to the table; the table's stream
feeds the publisher function, which turns changes into events (a transactional outbox).
A failed publication therefore never fails a user's request nor loses the change: the
stream keeps the record and Lambda retries the batch, then parks it in a dead-letter
queue. Delivery is at least once; `event_id` lets consumers drop duplicates."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from session_service.domain.models import (
    AccountEvent,
    ClientEvent,
    EndedSessions,
    LoginAttempt,
    Session,
    UserProfile,
    parse_rfc3339,
    rfc3339,
)

PASSWORD_CHANGED = "PasswordChanged"
SESSION_STARTED = "SessionStarted"
SESSION_REVOKED = "SessionRevoked"
REFRESH_TOKEN_REUSE_DETECTED = "RefreshTokenReuseDetected"
MFA_ENABLED = "MfaEnabled"
MFA_DISABLED = "MfaDisabled"
RECOVERY_CODE_USED = "RecoveryCodeUsed"
ACCOUNT_DISABLED = "AccountDisabled"
ACCOUNT_ENABLED = "AccountEnabled"
PASSKEY_ADDED = "PasskeyAdded"
PASSKEY_REMOVED = "PasskeyRemoved"
PASSKEY_SIGN_COUNT_REGRESSED = "PasskeySignCountRegressed"
SECOND_FACTOR_FAILING = "SecondFactorFailing"
EMAIL_VERIFIED = "EmailVerified"
PASSWORD_RESET_REQUESTED = "PasswordResetRequested"
FACTORS_RESET = "FactorsReset"
SSO_SIGN_IN = "SsoSignIn"
SSO_SESSION_RENEWED = "SsoSessionRenewed"
IDENTITY_LINKED = "IdentityLinked"
IDENTITY_UNLINKED = "IdentityUnlinked"
CLIENT_REGISTERED = "ClientRegistered"
CLIENT_DELETED = "ClientDeleted"

_MAX_ENTRIES_PER_PUT = 10


@dataclass(frozen=True, slots=True)
class StreamChange:
    """One item change from the table's stream, decoded into domain records."""

    event_id: str
    kind: str
    old_session: Session | None = None
    new_session: Session | None = None
    old_profile: UserProfile | None = None
    new_profile: UserProfile | None = None
    ended: EndedSessions | None = None
    account_event: AccountEvent | None = None
    login_attempt: LoginAttempt | None = None
    client_event: ClientEvent | None = None


@dataclass(frozen=True, slots=True)
class ServiceEvent:
    detail_type: str
    detail: dict[str, Any] = field(default_factory=dict)


def events_for(change: StreamChange) -> list[ServiceEvent]:
    """The events one change of state stands for (none for most updates)."""
    if change.kind == "session":
        return _session_events(change)
    if change.kind == "ended":
        return _ended_events(change)
    if change.kind == "user":
        return _profile_events(change)
    if change.kind == "account_event":
        return _account_events(change)
    if change.kind == "client_event":
        return _client_events(change)
    return []


def _session_events(change: StreamChange) -> list[ServiceEvent]:
    old, new = change.old_session, change.new_session
    if new is None or old is not None:
        # A refresh changes a session; its end deletes it (and its ended record speaks).
        return []
    detail = {
        "event_id": change.event_id,
        "user_id": new.user_id,
        "session_id": new.session_id,
        "ip": new.ip,
        "user_agent": new.user_agent,
        "created_at": rfc3339(new.created_at),
    }
    return [ServiceEvent(SESSION_STARTED, detail)]


def _ended_events(change: StreamChange) -> list[ServiceEvent]:
    ended = change.ended
    if ended is None:
        return []
    revoked_at = rfc3339(ended.ended_at)
    events = []
    for session_id in ended.session_ids:
        base = {
            # One record may end many sessions: each event's id is the record's and the
            # session's, the same however often the record is delivered.
            "event_id": f"{change.event_id}:{session_id}",
            "user_id": ended.user_id,
            "session_id": session_id,
        }
        events.append(
            ServiceEvent(
                SESSION_REVOKED, {**base, "reason": ended.reason, "revoked_at": revoked_at}
            )
        )
        if ended.reason == "reuse_detected":
            events.append(
                ServiceEvent(REFRESH_TOKEN_REUSE_DETECTED, {**base, "detected_at": revoked_at})
            )
    return events


def _profile_events(change: StreamChange) -> list[ServiceEvent]:
    old, new = change.old_profile, change.new_profile
    if new is None or new.password_changed_at is None:
        return []
    if old is not None and old.password_changed_at == new.password_changed_at:
        return []
    detail = {
        "event_id": change.event_id,
        "user_id": new.user_id,
        "changed_at": rfc3339(new.password_changed_at),
        # "reset": by a link from a forgotten-password e-mail (contract v3).
        "reason": "reset" if new.password_change_reason == "reset" else "changed",
    }
    return [ServiceEvent(PASSWORD_CHANGED, detail)]


# When each account event happened, by the name its detail gives the time.
_ACCOUNT_EVENT_TIME = {
    MFA_ENABLED: "enabled_at",
    MFA_DISABLED: "disabled_at",
    RECOVERY_CODE_USED: "used_at",
    ACCOUNT_DISABLED: "disabled_at",
    ACCOUNT_ENABLED: "enabled_at",
    PASSKEY_ADDED: "added_at",
    PASSKEY_REMOVED: "removed_at",
    PASSKEY_SIGN_COUNT_REGRESSED: "detected_at",
    SECOND_FACTOR_FAILING: "detected_at",
    EMAIL_VERIFIED: "verified_at",
    PASSWORD_RESET_REQUESTED: "requested_at",
    FACTORS_RESET: "reset_at",
    SSO_SIGN_IN: "signed_in_at",
    SSO_SESSION_RENEWED: "renewed_at",
    IDENTITY_LINKED: "linked_at",
    IDENTITY_UNLINKED: "unlinked_at",
}


def _account_events(change: StreamChange) -> list[ServiceEvent]:
    """MFA turned on or off, a recovery code spent, a passkey added, removed or refused
    for its sign count (a cloned authenticator, maybe), the account disabled or enabled
    by an administrator, its second factor failing (an account's limit reached, TOTP
    locked); never a secret, code, key or digest. The record's type is the event's
    detail-type."""
    event = change.account_event
    if event is None:
        return []
    kind = event.event_type
    detail: dict[str, Any] = {"event_id": change.event_id, "user_id": event.user_id}
    if kind in (MFA_ENABLED, MFA_DISABLED):
        detail["method"] = "totp"
    if kind == RECOVERY_CODE_USED:
        detail["remaining"] = event.remaining_recovery_codes or 0
    if event.passkey_id is not None:
        detail["passkey_id"] = event.passkey_id
    if kind in (PASSKEY_SIGN_COUNT_REGRESSED, SECOND_FACTOR_FAILING):
        detail |= {"ip": event.ip, "user_agent": event.user_agent}
    if kind == SECOND_FACTOR_FAILING:
        # window_limit: the account's codes answer 429 until the window ends; totp_locked:
        # TOTP answers 429 until a recovery code, a passkey or an admin reset.
        detail |= {"reason": event.reason, "failures": event.failures}
    if kind == SSO_SIGN_IN:
        detail |= {"client_id": event.client_id, "session_id": event.session_id}
    if kind == SSO_SESSION_RENEWED:
        # A sign-in again, as SessionStarted tells of a login: which session, from where
        detail |= {"session_id": event.session_id, "ip": event.ip, "user_agent": event.user_agent}
    if kind in (IDENTITY_LINKED, IDENTITY_UNLINKED):
        detail |= {"identity_id": event.identity_id, "provider_id": event.provider_id}
    detail[_ACCOUNT_EVENT_TIME[kind]] = rfc3339(event.at)
    return [ServiceEvent(kind, detail)]


# When each client event happened, by the name its detail gives the time.
_CLIENT_EVENT_TIME = {CLIENT_REGISTERED: "registered_at", CLIENT_DELETED: "deleted_at"}


def _client_events(change: StreamChange) -> list[ServiceEvent]:
    """An OAuth client registered or deleted through the admin API: which client, its name
    and type; never its secret nor the secret's digest (the record holds neither)."""
    event = change.client_event
    if event is None:
        return []
    detail = {
        "event_id": change.event_id,
        "client_id": event.client_id,
        "name": event.name,
        "type": event.client_type,
        _CLIENT_EVENT_TIME[event.event_type]: rfc3339(event.at),
    }
    return [ServiceEvent(event.event_type, detail)]


@dataclass(frozen=True, slots=True)
class PasswordChange:
    user_id: str
    changed_at: int


class MalformedEvent(ValueError):
    """An event this service cannot act on; retrying will not help."""


# A change dated further ahead than this is a clock or data error, not a password change:
# honouring it would refuse every new session of the user until then.
_MAX_CLOCK_SKEW_MS = 300_000


def parse_password_changed(event: dict[str, Any], now_ms: int) -> PasswordChange:
    detail = event.get("detail")
    if not isinstance(detail, dict):
        raise MalformedEvent("detail is not an object")
    user_id, changed_at = detail.get("user_id"), detail.get("changed_at")
    if not isinstance(user_id, str) or not 0 < len(user_id) <= 128:
        raise MalformedEvent("detail.user_id must be a non-empty string")
    if not isinstance(changed_at, str):
        raise MalformedEvent("detail.changed_at must be an RFC 3339 string")
    try:
        changed_at_ms = parse_rfc3339(changed_at)
    except ValueError:
        raise MalformedEvent("detail.changed_at is not an RFC 3339 time") from None
    if changed_at_ms > now_ms + _MAX_CLOCK_SKEW_MS:
        raise MalformedEvent("detail.changed_at is in the future")
    return PasswordChange(user_id=user_id, changed_at=changed_at_ms)


def consume_password_changed(
    event: dict[str, Any],
    end_sessions_before: Callable[[str, int], int],
    dead_letter: Callable[[dict[str, Any], str], None],
    now_ms: int,
) -> dict[str, Any]:
    """Act on a PasswordChanged event. A malformed one is logged and parked in the
    dead-letter queue at once: retrying it could never succeed."""
    from session_service.observability import logger  # noqa: PLC0415

    try:
        change = parse_password_changed(event, now_ms)
    except MalformedEvent as error:
        logger.error(
            "malformed PasswordChanged event dropped", reason=str(error), event_id=event.get("id")
        )
        dead_letter(event, str(error))
        return {"status": "dropped", "reason": str(error)}
    revoked = end_sessions_before(change.user_id, change.changed_at)
    logger.info("sessions ended after password change", user_id=change.user_id, revoked=revoked)
    return {"status": "processed", "revoked": revoked}
