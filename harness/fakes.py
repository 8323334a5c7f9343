"""The in-memory store for unit tests and benchmarks, with the DynamoDB stores'
conditions (the clock and key ring are in harness/clock.py)."""

from __future__ import annotations

import dataclasses
import threading

from harness.key_limits import check_keys
from harness.memory_spending import InMemorySpending, start_items
from harness.memory_throttle import InMemoryCounters
from session_service.adapters.store_items import (
    grant_key,
    login_key,
    profile_key,
    session_key,
)
from session_service.domain.email.mail import MailRequest
from session_service.domain.email.records import (
    AddressOwner,
    EmailLogin,
    PendingAddress,
    ResetToken,
)
from session_service.domain.federation.flow_records import Handoff
from session_service.domain.models import (
    AccountEvent,
    Credential,
    EndedSessions,
    LoginAttempt,
    Millis,
    Passkey,
    Session,
    UserProfile,
    UserSessions,
)
from session_service.domain.ports import (
    AlreadyExists,
    CredentialChanged,
    MfaChallenge,
    NewSession,
    NotBeforeRaise,
    Reauthentication,
    Rotation,
    RotationRefused,
    SecondFactorSpent,
    SignInCeremony,
    StaleWrite,
)
from session_service.domain.sso.records import AuthorizationCode, Grant


class InMemoryStore(InMemoryCounters, InMemorySpending):
    """Implements SessionStore and ThrottleStore with the DynamoDB stores' conditions,
    each write applied atomically under one lock (as DynamoDB applies a transaction)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.credentials: dict[str, Credential] = {}
        self.profiles: dict[str, UserProfile] = {}
        self.sessions: dict[tuple[str, str], Session] = {}
        self.ended: list[EndedSessions] = []
        # Logins waiting for a second factor, by the mfa_token's digest.
        self.challenges: dict[str, MfaChallenge] = {}
        # Failed and throttled logins of known users: what the stream carries.
        self.login_attempts: list[LoginAttempt] = []
        # Second factors turned on or off, recovery codes used: what the stream carries.
        self.account_events: list[AccountEvent] = []
        # Passkeys by (user id, passkey id), and the ceremonies of their sign-ins by digest
        # (harness/memory_passkeys.py keeps them; a session start spends them).
        self.passkeys: dict[tuple[str, str], Passkey] = {}
        self.sign_ins: dict[str, SignInCeremony] = {}
        # E-mail (harness/memory_email.py keeps them; a session start spends a sign-in's
        # login and a reset token): pending addresses by user id, verified addresses'
        # owners, logins and reset tokens by digest, the mailer's requests by id.
        self.email_pending: dict[str, PendingAddress] = {}
        self.email_owners: dict[str, AddressOwner] = {}
        self.email_logins: dict[str, EmailLogin] = {}
        self.resets: dict[str, ResetToken] = {}
        self.mail_requests: dict[str, MailRequest] = {}
        # Federation's handoffs by digest (harness/memory_federation_flows.py keeps them;
        # a session start spends one).
        self.federation_handoffs: dict[str, Handoff] = {}
        # Single sign-on (harness/memory_sso.py keeps them): codes by digest, grants by
        # (user id, session id, grant id).
        self.sso_codes: dict[str, AuthorizationCode] = {}
        self.sso_grants: dict[tuple[str, str, str], Grant] = {}
        # each central session's grants' version (GRANT#<session id>#), by (user, session)
        self.sso_grant_versions: dict[tuple[str, str], int] = {}
        self.attempts: dict[tuple[str, int], int] = {}
        self.holders: dict[tuple[str, int], set[str]] = {}
        self.calls: list[str] = []
        # The items of each transaction DynamoDB would have been sent, in order.
        self.transaction_sizes: list[int] = []

    def _transaction(self, items: int) -> None:
        _fits_one_transaction(items)
        self.transaction_sizes.append(items)

    # -- sessions ---------------------------------------------------------------------------

    def create_user(self, credential: Credential, profile: UserProfile) -> None:
        with self._lock:
            self.calls.append("create_user")
            check_keys(login_key(credential.username_key), profile_key(profile.user_id))
            if credential.username_key in self.credentials or profile.user_id in self.profiles:
                raise AlreadyExists()
            self.credentials[credential.username_key] = credential
            self.profiles[profile.user_id] = profile

    def find_credential(self, username_key: str) -> Credential | None:
        with self._lock:
            self.calls.append("find_credential")
            check_keys(login_key(username_key))
            return self.credentials.get(username_key)

    def find_profile(self, user_id: str) -> UserProfile | None:
        with self._lock:
            self.calls.append("find_profile")
            check_keys(profile_key(user_id))
            return self.profiles.get(user_id)

    def replace_password_hash(self, credential: Credential, new_hash: str) -> None:
        with self._lock:
            self.calls.append("replace_password_hash")
            check_keys(login_key(credential.username_key))
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

    def start_session(self, start: NewSession) -> None:
        with self._lock:
            self.calls.append("start_session")
            session = start.session
            check_keys(
                profile_key(session.user_id), session_key(session.user_id, session.session_id)
            )
            self._transaction(start_items(start))
            profile = self.profiles.get(session.user_id)
            # A missing profile fails the version condition, as in DynamoDB.
            if profile is None or profile.session_version != start.expected_version:
                raise StaleWrite()
            if start.ended is not None:
                self._check_live(start.ended, session.created_at)
            for expired in start.pruned:
                current = self.sessions.get((expired.user_id, expired.session_id))
                if current is not None and session.created_at < current.expires_at:
                    raise StaleWrite()
            stored = self._checked_credential(start) if start.credential is not None else None
            self._check_secret(start.spends)
            if stored is not None:
                self.credentials[stored.username_key] = self._changed_credential(stored, start)
            self._spend_secret(start.spends)
            profile = dataclasses.replace(profile, session_version=start.expected_version + 1)
            if start.new_password_hash is not None:
                reset = start.spends is not None and start.spends.reset_digest is not None
                profile = dataclasses.replace(
                    profile,
                    not_before=session.created_at,
                    password_changed_at=session.created_at,
                    password_change_reason="reset" if reset else "changed",
                )
            self.profiles[session.user_id] = profile
            self.sessions[(session.user_id, session.session_id)] = session
            if start.ended is not None:
                self._end(start.ended)
            for expired in start.pruned:
                self.sessions.pop((expired.user_id, expired.session_id), None)

    def rotate(self, rotation: Rotation) -> Session:
        with self._lock:
            self.calls.append("rotate")
            check_keys(session_key(rotation.user_id, rotation.session_id))
            current = self.sessions.get((rotation.user_id, rotation.session_id))
            grace = rotation.new_generation is None
            if current is None or not self._exchangeable(current, rotation, grace):
                raise RotationRefused(current)
            if grace:
                updated = dataclasses.replace(
                    current,
                    refresh_digests=current.refresh_digests | {rotation.new_digest},
                    last_used_at=rotation.now,
                    idle_expires_at=rotation.idle_expires_at,
                )
            else:
                updated = dataclasses.replace(
                    current,
                    refresh_digests=frozenset({rotation.new_digest}),
                    previous_digest=rotation.presented_digest,
                    rotated_at=rotation.now,
                    generation=rotation.new_generation or 0,
                    last_used_at=rotation.now,
                    idle_expires_at=rotation.idle_expires_at,
                )
            self.sessions[(rotation.user_id, rotation.session_id)] = updated
            return updated

    def reauthenticate(self, change: Reauthentication) -> None:
        with self._lock:
            self.calls.append("reauthenticate")
            user_id = change.credential.user_id
            check_keys(session_key(user_id, change.session_id))
            proof = change.second_factor
            self._transaction(
                2
                + (2 if proof is not None and proof.passkey is not None else 0)
                + (1 if proof is not None and proof.challenge_digest is not None else 0)
                + (1 if change.event is not None else 0)
            )
            current = self.sessions.get((user_id, change.session_id))
            if (
                current is None
                or not current.is_live(change.now, change.not_before)
                or current.generation != change.generation
                or len(current.refresh_digests) >= change.max_digests
                or (change.replaced_step_ups and current.step_ups is not None)
                or (
                    change.digests is not None
                    and (
                        len(current.refresh_digests) != len(change.digests)
                        or not change.digests - {change.new_digest} <= current.refresh_digests
                        or (
                            change.replaced_digest is not None
                            and change.replaced_digest not in current.refresh_digests
                        )
                    )
                )
                or (
                    change.race_start is not None
                    and (
                        current.replaced_digest != change.replaced_digest
                        or current.replaced_at is None
                        or current.replaced_at <= change.race_start
                    )
                )
            ):
                raise StaleWrite()
            stored = self.credentials.get(change.credential.username_key)
            if stored is None or stored.password_version != change.credential.password_version:
                raise CredentialChanged() if proof is None else SecondFactorSpent()
            if proof is None and stored.totp is not None:
                raise CredentialChanged()  # a password alone no longer suffices
            if proof is not None:
                stored = self._spend(stored, proof, user_id, change.now)
            self.credentials[stored.username_key] = stored
            if change.digests is not None and change.replaced_digest is not None:
                # remembered, with when, for the renewals racing this one (they join)
                current = dataclasses.replace(
                    current, replaced_digest=change.replaced_digest, replaced_at=change.now
                )
            self.sessions[(user_id, change.session_id)] = dataclasses.replace(
                current,
                refresh_digests=(
                    change.digests
                    if change.digests is not None
                    else current.refresh_digests | {change.new_digest}
                ),
                last_used_at=change.now,
                idle_expires_at=change.idle_expires_at,
                step_ups=(
                    *(
                        p
                        for p in current.step_ups or ()
                        if p.proof_id not in change.dropped_step_ups
                    ),
                    change.step_up,
                ),
            )
            if change.event is not None:
                self.account_events.append(change.event)

    def record_login_attempt(self, attempt: LoginAttempt) -> bool:
        with self._lock:
            self.calls.append("record_login_attempt")
            if any(a.record_id == attempt.record_id for a in self.login_attempts):
                return False
            self.login_attempts.append(attempt)
            return True

    def record_account_event_once(self, event: AccountEvent) -> bool:
        with self._lock:
            self.calls.append("record_account_event")
            if any(e.record_id == event.record_id for e in self.account_events):
                return False
            self.account_events.append(event)
            return True

    @staticmethod
    def _exchangeable(current: Session, rotation: Rotation, grace: bool) -> bool:
        if grace:
            presented = current.previous_digest == rotation.presented_digest
            recent = current.rotated_at is not None and current.rotated_at >= rotation.window_start
            room = len(current.refresh_digests) < rotation.max_siblings
            if not (presented and recent and room):
                return False
        else:
            if rotation.presented_digest not in current.refresh_digests:
                return False
            if (
                rotation.max_generation is not None
                and current.generation >= rotation.max_generation
            ):
                return False
        return (
            current.idle_expires_at > rotation.now
            and current.absolute_expires_at > rotation.now
            and (rotation.required_ip is None or current.ip == rotation.required_ip)
            and (rotation.not_before is None or current.created_at >= rotation.not_before)
        )

    def end_sessions(self, ended: EndedSessions, now: Millis) -> bool:
        with self._lock:
            self.calls.append("end_sessions")
            check_keys(*(session_key(ended.user_id, i) for i in ended.session_ids))
            self._transaction(len(ended.session_ids) + 1)
            try:
                self._check_live(ended, now)
            except StaleWrite:
                return False
            self._end(ended)
            return True

    def raise_not_before(self, change: NotBeforeRaise) -> None:
        with self._lock:
            self.calls.append("raise_not_before")
            check_keys(profile_key(change.user_id))
            self._transaction(1 + (len(change.ended.session_ids) + 1 if change.ended else 0))
            profile = self.profiles.get(change.user_id)
            if (
                profile is None
                or profile.session_version != change.expected_version
                or (profile.not_before is not None and profile.not_before >= change.not_before)
            ):
                raise StaleWrite()
            if change.ended is not None:
                self._check_live(change.ended, change.ended.ended_at)
            self.profiles[change.user_id] = dataclasses.replace(
                profile, not_before=change.not_before, session_version=change.expected_version + 1
            )
            if change.ended is not None:
                self._end(change.ended)

    def authorization_lookup(
        self, user_id: str, session_id: str, consistent: bool = True, grant_id: str | None = None
    ) -> tuple[Session | None, UserProfile | None]:
        with self._lock:
            self.calls.append("authorization_lookup" if consistent else "eventual_lookup")
            keys = [profile_key(user_id), session_key(user_id, session_id)]
            check_keys(*keys, *([grant_key(user_id, session_id, grant_id)] if grant_id else []))
            session = self.sessions.get((user_id, session_id))
            if grant_id is not None:
                # an app's token: good while its grant exists and hangs on this session
                grant = self.sso_grants.get((user_id, session_id, grant_id))
                if grant is None or grant.session_id != session_id:
                    session = None
            return session, self.profiles.get(user_id)

    def _check_live(self, ended: EndedSessions, now: Millis) -> None:
        for session_id in ended.session_ids:
            current = self.sessions.get((ended.user_id, session_id))
            if current is None or now >= current.expires_at:
                raise StaleWrite()

    def _end(self, ended: EndedSessions) -> None:
        for session_id in ended.session_ids:
            del self.sessions[(ended.user_id, session_id)]
        self.ended.append(ended)


def _fits_one_transaction(items: int) -> None:
    """DynamoDB refuses a transaction of more than 100 items (a ValidationException: a
    bug of ours, never a condition)."""
    if items > 100:
        raise ValueError(f"a transaction of {items} items; DynamoDB allows 100")
