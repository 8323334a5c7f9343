"""A user's security activity: what happened to their account, newest first, kept for
ACTIVITY_RETENTION_DAYS. Written off the request path, by the stream's consumer (the
publisher) from the same changes the events come from; a failure there fails the batch,
which Lambda retries and then parks in the dead-letter queue, so nothing is lost.

New devices: a sign-in from a device (browser family and platform, and network: IPv4 /24,
IPv6 /48) the user has not used within the retention period is activity `new_device`
and publishes NewDeviceSignIn, for a mailer to tell the user."""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Literal, Protocol

from session_service.domain.activity.events import ServiceEvent, StreamChange
from session_service.domain.models import Millis, b64url

ActivityType = Literal[
    "login_succeeded",
    "login_failed",
    "login_throttled",
    "new_device",
    "session_revoked",
    "refresh_token_reuse_detected",
    "password_changed",
    "mfa_enabled",
    "mfa_disabled",
    "recovery_code_used",
    "passkey_added",
    "passkey_removed",
    "account_disabled",
    "account_enabled",
    "second_factor_failing",
    "email_verified",
    "password_reset_requested",
    "password_reset",
    "factors_reset",
    "sso_sign_in",
    "identity_linked",
    "identity_unlinked",
]
_ACCOUNT_EVENT_ACTIVITY: dict[str, ActivityType] = {
    "MfaEnabled": "mfa_enabled",
    "MfaDisabled": "mfa_disabled",
    "RecoveryCodeUsed": "recovery_code_used",
    "AccountDisabled": "account_disabled",
    "AccountEnabled": "account_enabled",
    "PasskeyAdded": "passkey_added",
    "PasskeyRemoved": "passkey_removed",
    # A refused sign-in: a failed login, with the reason.
    "PasskeySignCountRegressed": "login_failed",
    "SecondFactorFailing": "second_factor_failing",
    "EmailVerified": "email_verified",
    "PasswordResetRequested": "password_reset_requested",
    "FactorsReset": "factors_reset",
    "SsoSignIn": "sso_sign_in",
    # The hosted page's sign-in again, which renewed the browser's central session.
    "SsoSessionRenewed": "login_succeeded",
    "IdentityLinked": "identity_linked",
    "IdentityUnlinked": "identity_unlinked",
}
_ACCOUNT_EVENT_REASON = {"PasskeySignCountRegressed": "passkey_sign_count_regressed"}
# What a User-Agent header is, by the first of these it contains (the order matters: every
# Edge header says Chrome, every Chrome one Safari, Android's say Linux, iPhone's Mac OS X).
_BROWSERS = (
    ("Edg/", "Edge"),
    ("Firefox", "Firefox"),
    ("HeadlessChrome", "Headless Chrome"),
    ("Chrome", "Chrome"),
    ("Safari", "Safari"),
    ("curl", "curl"),
)
_PLATFORMS = (
    ("Android", "Android"),
    ("iPhone", "iOS"),
    ("iPad", "iPadOS"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("Linux", "Linux"),
)
# Entries of attempts anyone can make (failed and throttled logins) a user's activity takes
# per login window; beyond them, nothing more until the window ends: an attacker's
# requests never bury the user's own entries.
ATTEMPTS_PER_WINDOW = 20
_ATTEMPTS: frozenset[ActivityType] = frozenset({"login_failed", "login_throttled"})


@dataclass(frozen=True, slots=True)
class ActivityEntry:
    user_id: str
    # Unique and stable for the change it comes from: a replayed batch rewrites it.
    entry_id: str
    type: ActivityType
    at: Millis
    ip: str = ""
    user_agent: str = ""
    session_id: str | None = None
    reason: str | None = None
    # A federated sign-in's provider, or the identity linked or unlinked's.
    provider: str | None = None


@dataclass(frozen=True, slots=True)
class ActivityPage:
    entries: tuple[ActivityEntry, ...]
    next_cursor: str | None


class ActivityStore(Protocol):
    def record(self, entries: Iterable[ActivityEntry], retention_days: int) -> None: ...

    def page(self, user_id: str, limit: int, cursor: str | None) -> ActivityPage: ...

    def admit(
        self, user_id: str, window: int, limit: int, window_ends_at: Millis, entry_id: str
    ) -> bool:
        """Take one of the user's `limit` places for attempt entries in this window for the
        entry; an entry that has one (a retried write, a replayed batch) keeps it."""
        ...

    def seen_device(
        self, user_id: str, device: str, at: Millis, retention_days: int, seen_by: str
    ) -> bool:
        """Record the device's sign-in (by the change `seen_by`); whether it had been seen
        within the retention by another change (a replayed batch finds it new again)."""
        ...


def device_of(ip: str, user_agent: str) -> str:
    """A device as the user would recognise it: browser family and platform, and the
    network it signs in from; stored only as a digest."""
    browser, platform = _first(_BROWSERS, user_agent), _first(_PLATFORMS, user_agent)
    browser_key = browser[0] if browser else "other"
    platform_key = platform[0] if platform else "other"
    try:
        address = ipaddress.ip_address(ip)
        prefix = 24 if address.version == 4 else 48
        network = str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))
    except ValueError:
        network = "unknown"
    digest = hashlib.sha256(f"{browser_key}|{platform_key}|{network}".encode()).digest()
    return b64url(digest)[:32]


def user_agent_label(user_agent: str) -> str:
    """What a user's activity shows of a User-Agent header: the browser and platform it
    names ("Firefox on Linux"), or "Other"; never the header's own text, which whoever
    sends a request chooses (an attacker's message in the victim's security page)."""
    browser, platform = _first(_BROWSERS, user_agent), _first(_PLATFORMS, user_agent)
    if browser is None:
        return "Other"
    return f"{browser[1]} on {platform[1]}" if platform else browser[1]


def _first(known: tuple[tuple[str, str], ...], user_agent: str) -> tuple[str, str] | None:
    return next((entry for entry in known if entry[0] in user_agent), None)


def activity_of(change: StreamChange) -> list[ActivityEntry]:
    """The activity one change of state is (none for most updates)."""
    if change.kind == "session" and change.new_session and change.old_session is None:
        session = change.new_session
        return [
            ActivityEntry(
                user_id=session.user_id,
                entry_id=change.event_id,
                type="login_succeeded",
                at=session.created_at,
                ip=session.ip,
                user_agent=session.user_agent,
                session_id=session.session_id,
                provider=session.provider,
            )
        ]
    if change.kind == "ended" and change.ended is not None:
        ended = change.ended
        kind: ActivityType = (
            "refresh_token_reuse_detected"
            if ended.reason == "reuse_detected"
            else "session_revoked"
        )
        return [
            ActivityEntry(
                user_id=ended.user_id,
                entry_id=f"{change.event_id}:{session_id}",
                type=kind,
                at=ended.ended_at,
                session_id=session_id,
                reason=ended.reason,
            )
            for session_id in ended.session_ids
        ]
    if change.kind == "user" and change.new_profile is not None:
        old, new = change.old_profile, change.new_profile
        changed_at = new.password_changed_at
        if changed_at is not None and (old is None or old.password_changed_at != changed_at):
            how: ActivityType = (
                "password_reset" if new.password_change_reason == "reset" else "password_changed"
            )
            return [ActivityEntry(new.user_id, change.event_id, how, changed_at)]
    if change.kind == "account_event" and change.account_event is not None:
        event = change.account_event
        return [
            ActivityEntry(
                event.user_id,
                change.event_id,
                _ACCOUNT_EVENT_ACTIVITY[event.event_type],
                event.at,
                ip=event.ip,
                user_agent=event.user_agent,
                reason=_ACCOUNT_EVENT_REASON.get(event.event_type, event.reason),
                session_id=event.session_id,
                provider=event.provider_id,
            )
        ]
    if change.kind == "login_attempt" and change.login_attempt is not None:
        attempt = change.login_attempt
        return [
            ActivityEntry(
                user_id=attempt.user_id,
                entry_id=change.event_id,
                type="login_throttled" if attempt.throttled else "login_failed",
                at=attempt.at,
                ip=attempt.ip,
                user_agent=attempt.user_agent,
            )
        ]
    return []


NEW_DEVICE_SIGN_IN = "NewDeviceSignIn"


class ActivityRecorder:
    """Records a stream batch's activity, and finds the sign-ins from new devices: their
    activity, and the NewDeviceSignIn events to publish with the batch's others."""

    def __init__(self, store: ActivityStore, retention_days: int, window_seconds: int) -> None:
        self._store = store
        self._retention_days = retention_days
        self._window_ms = window_seconds * 1000

    def record(self, changes: Iterable[StreamChange]) -> list[ServiceEvent]:
        entries = [entry for change in changes for entry in activity_of(change)]
        entries = [entry for entry in entries if self._admitted(entry)]
        events: list[ServiceEvent] = []
        for entry in list(entries):
            if entry.type != "login_succeeded":
                continue
            device = device_of(entry.ip, entry.user_agent)
            retention = self._retention_days
            if self._store.seen_device(entry.user_id, device, entry.at, retention, entry.entry_id):
                continue
            entries.append(replace(entry, entry_id=f"{entry.entry_id}:device", type="new_device"))
            detail = {
                "event_id": f"{entry.entry_id}:device",
                "user_id": entry.user_id,
                "session_id": entry.session_id,
                "ip": entry.ip,
                "user_agent": entry.user_agent,
            }
            events.append(ServiceEvent(NEW_DEVICE_SIGN_IN, detail))
        shown = [replace(entry, user_agent=user_agent_label(entry.user_agent)) for entry in entries]
        self._store.record(shown, self._retention_days)
        return events

    def _admitted(self, entry: ActivityEntry) -> bool:
        """Whether an entry has room: an attempt anyone can make takes one of its user's
        ATTEMPTS_PER_WINDOW places in its window; every other entry is the user's own."""
        if entry.type not in _ATTEMPTS:
            return True
        window = entry.at // self._window_ms
        until = (window + 1) * self._window_ms
        return self._store.admit(entry.user_id, window, ATTEMPTS_PER_WINDOW, until, entry.entry_id)
