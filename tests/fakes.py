"""In-memory stand-ins for unit tests and benchmarks: a store with the DynamoDB store's
conditions, a settable clock, and a key ring without Secrets Manager."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

from session_service.keyring import KeyRingSource, generate_signing_key, new_refresh_token_key
from session_service.models import (
    Credential,
    FailureWindow,
    LoginLookup,
    Millis,
    RevocationReason,
    Session,
    UserProfile,
    UserSessions,
)
from session_service.store import (
    AlreadyExists,
    CredentialChanged,
    RotationRefused,
    StaleWrite,
)


class FixedClock:
    """A clock that moves only when told to."""

    def __init__(self, start: float | None = None) -> None:
        self.now = time.time() if start is None else start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def key_ring_source(
    algorithm: str = "RS256", clock: Any = time.time
) -> tuple[KeyRingSource, dict[str, Any]]:
    secret: dict[str, Any] = {
        "refresh_token_key": new_refresh_token_key(),
        "signing_keys": [generate_signing_key(algorithm, clock())],  # type: ignore[arg-type]
    }
    return KeyRingSource(lambda _force: secret, clock=clock), secret


class InMemoryStore:
    """Implements SessionStore with the same conditions, applied under one lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.credentials: dict[str, Credential] = {}
        self.profiles: dict[str, UserProfile] = {}
        self.sessions: dict[tuple[str, str], Session] = {}
        self.ttls: dict[tuple[str, str], int] = {}
        self.failures: dict[str, FailureWindow] = {}
        self.calls: list[str] = []

    def create_user(self, credential: Credential, profile: UserProfile) -> None:
        with self._lock:
            self.calls.append("create_user")
            if credential.username_key in self.credentials or profile.user_id in self.profiles:
                raise AlreadyExists()
            self.credentials[credential.username_key] = credential
            self.profiles[profile.user_id] = profile

    def find_login(self, username_key: str, ip: str) -> LoginLookup:
        with self._lock:
            self.calls.append("find_login")
            return LoginLookup(
                credential=self.credentials.get(username_key),
                username_failures=self.failures.get(f"user#{username_key}"),
                ip_failures=self.failures.get(f"ip#{ip}"),
            )

    def replace_password_hash(self, credential: Credential, new_hash: str) -> None:
        with self._lock:
            self.calls.append("replace_password_hash")
            stored = self.credentials.get(credential.username_key)
            if stored and stored.password_version == credential.password_version:
                self.credentials[credential.username_key] = dataclasses.replace(
                    stored, password_hash=new_hash
                )

    def load_user(self, user_id: str) -> UserSessions | None:
        with self._lock:
            self.calls.append("load_user")
            profile = self.profiles.get(user_id)
            if profile is None:
                return None
            sessions = tuple(s for (uid, _), s in self.sessions.items() if uid == user_id)
            return UserSessions(profile=profile, sessions=sessions)

    def start_session(
        self,
        session: Session,
        *,
        expected_version: int,
        revoked: Sequence[Session],
        reason: RevocationReason,
        revocation_ttl: int,
        credential: Credential | None,
        new_password_hash: str | None = None,
        clear_failures: bool = False,
    ) -> None:
        with self._lock:
            self.calls.append("start_session")
            profile = self.profiles[session.user_id]
            if profile.session_version != expected_version:
                raise StaleWrite()
            for victim in revoked:
                if self.sessions[(victim.user_id, victim.session_id)].status != "active":
                    raise StaleWrite()
            if credential is not None:
                stored = self.credentials.get(credential.username_key)
                if stored is None or stored.password_version != credential.password_version:
                    raise CredentialChanged()
                if new_password_hash is not None:
                    self.credentials[credential.username_key] = dataclasses.replace(
                        stored,
                        password_hash=new_password_hash,
                        password_version=stored.password_version + 1,
                    )
                if clear_failures:
                    self.failures.pop(f"user#{credential.username_key}", None)
            profile = dataclasses.replace(profile, session_version=expected_version + 1)
            if new_password_hash is not None:
                profile = dataclasses.replace(
                    profile, not_before=session.created_at, password_changed_at=session.created_at
                )
            self.profiles[session.user_id] = profile
            self.sessions[(session.user_id, session.session_id)] = session
            for victim in revoked:
                key = (victim.user_id, victim.session_id)
                self.sessions[key] = dataclasses.replace(
                    self.sessions[key],
                    status="revoked",
                    revoked_at=session.created_at,
                    revoked_reason=reason,
                )
                self.ttls[key] = revocation_ttl

    def rotate(
        self,
        user_id: str,
        session_id: str,
        *,
        presented_digest: str,
        new_digest: str,
        new_generation: int,
        now: Millis,
        idle_expires_at: Millis,
        ttl: int,
        required_ip: str | None,
        max_generation: int | None,
    ) -> Session:
        with self._lock:
            self.calls.append("rotate")
            current = self.sessions.get((user_id, session_id))
            if (
                current is None
                or presented_digest not in current.refresh_digests
                or current.status != "active"
                or current.idle_expires_at <= now
                or current.absolute_expires_at <= now
                or (required_ip is not None and current.ip != required_ip)
                or (max_generation is not None and current.generation >= max_generation)
            ):
                raise RotationRefused(current)
            updated = dataclasses.replace(
                current,
                refresh_digests=frozenset({new_digest}),
                previous_digest=presented_digest,
                rotated_at=now,
                generation=new_generation,
                last_used_at=now,
                idle_expires_at=idle_expires_at,
            )
            self.sessions[(user_id, session_id)] = updated
            self.ttls[(user_id, session_id)] = ttl
            return updated

    def rotate_within_grace(
        self,
        user_id: str,
        session_id: str,
        *,
        presented_digest: str,
        new_digest: str,
        now: Millis,
        window_start: Millis,
        idle_expires_at: Millis,
        ttl: int,
        max_siblings: int,
        required_ip: str | None,
    ) -> Session:
        with self._lock:
            self.calls.append("rotate_within_grace")
            current = self.sessions.get((user_id, session_id))
            if (
                current is None
                or current.previous_digest != presented_digest
                or current.rotated_at is None
                or current.rotated_at < window_start
                or current.status != "active"
                or current.idle_expires_at <= now
                or current.absolute_expires_at <= now
                or len(current.refresh_digests) >= max_siblings
                or (required_ip is not None and current.ip != required_ip)
            ):
                raise RotationRefused(current)
            updated = dataclasses.replace(
                current,
                refresh_digests=current.refresh_digests | {new_digest},
                last_used_at=now,
                idle_expires_at=idle_expires_at,
            )
            self.sessions[(user_id, session_id)] = updated
            self.ttls[(user_id, session_id)] = ttl
            return updated

    def revoke(
        self,
        user_id: str,
        session_id: str,
        reason: RevocationReason,
        now: Millis,
        ttl: int,
        created_before: Millis | None = None,
    ) -> Session | None:
        with self._lock:
            self.calls.append("revoke")
            current = self.sessions.get((user_id, session_id))
            if current is None or current.status != "active":
                return None
            if created_before is not None and current.created_at >= created_before:
                return None
            updated = dataclasses.replace(
                current, status="revoked", revoked_at=now, revoked_reason=reason
            )
            self.sessions[(user_id, session_id)] = updated
            self.ttls[(user_id, session_id)] = ttl
            return updated

    def authorization_lookup(
        self, user_id: str, session_id: str
    ) -> tuple[Session | None, UserProfile | None]:
        with self._lock:
            self.calls.append("authorization_lookup")
            profile = self.profiles.get(user_id)
            return (
                self.sessions.get((user_id, session_id)),
                profile,
            )

    def record_login_failure(self, scope: str, now: Millis, window_ms: int) -> FailureWindow:
        with self._lock:
            self.calls.append("record_login_failure")
            current = self.failures.get(scope)
            if current is None or current.window_started_at <= now - window_ms:
                blocked = current.blocked_until if current else None
                updated = FailureWindow(failures=1, window_started_at=now, blocked_until=blocked)
            else:
                updated = dataclasses.replace(current, failures=current.failures + 1)
            self.failures[scope] = updated
            return updated

    def lock_login_scope(self, scope: str, until: Millis, keep_until: Millis) -> None:
        del keep_until  # TTL does not apply in memory
        with self._lock:
            self.calls.append("lock_login_scope")
            current = self.failures[scope]
            if current.blocked_until is None or current.blocked_until < until:
                self.failures[scope] = dataclasses.replace(current, blocked_until=until)

    def raise_not_before(self, user_id: str, not_before: Millis) -> None:
        with self._lock:
            self.calls.append("raise_not_before")
            profile = self.profiles.get(user_id)
            if profile and (profile.not_before is None or profile.not_before < not_before):
                self.profiles[user_id] = dataclasses.replace(profile, not_before=not_before)

    def sessions_of(self, user_id: str) -> Iterator[Session]:
        with self._lock:
            self.calls.append("sessions_of")
            found = [s for (uid, _), s in self.sessions.items() if uid == user_id]
        yield from found
