"""Accounts: registration, login and password change (proving who you are, then starting a
session). Every check of a password holds a place in the login throttle first."""

from __future__ import annotations

import dataclasses
import hashlib
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, NoReturn

from session_service.domain.accounts.account_changes import FactorChange
from session_service.domain.accounts.usernames import check_password, check_username, username_key
from session_service.domain.concurrency import Pending
from session_service.domain.errors import (
    Conflict,
    InsufficientUserAuthentication,
    InvalidGrant,
    MfaRequired,
    RateLimited,
    Unavailable,
)
from session_service.domain.models import (
    PASSWORD_AMR,
    ClientInfo,
    Credential,
    LoginAttempt,
    Reservation,
    UserProfile,
    UserSessions,
    b64url,
)
from session_service.domain.ports import AlreadyExists, SessionStore
from session_service.domain.sessions.devices import DeviceToken, DeviceTokens
from session_service.domain.sessions.lifecycle import SessionService
from session_service.domain.sessions.renewal import SessionRenewal
from session_service.domain.sessions.session_ending import SessionEnding
from session_service.domain.sessions.session_records import IssuedTokens, StartRequest
from session_service.domain.throttling.login_throttle import (
    LoginThrottle,
    is_address_scope,
    throttled_name,
)
from session_service.observability import logger

if TYPE_CHECKING:
    # argon2 and pyotp load with what the composition root builds, not with this module.
    from session_service.domain.accounts.passwords import Passwords
    from session_service.domain.factors.totp import SecondFactors
    from session_service.domain.throttling.proof_throttling import ProofThrottle

__all__ = ["throttled_name"]
# The ids of the users an attempt on an unknown username reads the sessions of, so that it
# costs the same calls, at the same moments, as one on a known username: a version-5 UUID
# per name, which no issued id (version 4) ever is, and one partition per name (a spray of
# unknown names reads as many partitions as names, not one hot one).
DECOYS = uuid.UUID("5e55104e-5e55-4e55-9e55-5e55104e5e55")


def decoy_user_id(name: str) -> str:
    return str(uuid.uuid5(DECOYS, name))


# Throttled attempts this container remembers having recorded (one record per window).
MAX_REMEMBERED_RECORDS = 4096


@dataclasses.dataclass(frozen=True, slots=True)
class LoginRequest:
    username: str
    password: str
    client: ClientInfo
    # A device token from an earlier login on this device (body or cookie).
    device_token: str | None = None
    # The session a browser's new login replaces (its previous refresh cookie).
    replaces: str | None = None
    # The hosted page's sign-in: a central session, or the browser's (`replaces`)
    # re-authenticated when it is this user's (docs/sso.md).
    central: bool = False


@dataclasses.dataclass(frozen=True, slots=True)
class PasswordChange:
    """A signed-in user replacing their password, from their session."""

    # Who asks, and how their session proved them (its amr, REAUTH_MAX_AGE_SECONDS).
    caller: FactorChange
    session_id: str
    current_password: str
    new_password: str
    client: ClientInfo


class Accounts:
    def __init__(
        self,
        store: SessionStore,
        sessions: SessionService,
        ending: SessionEnding,
        passwords: Passwords,
        throttle: LoginThrottle,
        devices: DeviceTokens,
        second_factors: SecondFactors,
        proofs: ProofThrottle,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._second_factors = second_factors
        self._store = store
        self._sessions = sessions
        self._ending = ending
        self._passwords = passwords
        self._throttle = throttle
        self._devices = devices
        self._proofs = proofs
        self._clock = clock
        self.renewal = SessionRenewal(store, sessions, sessions.refresh_tokens)
        # Throttled attempts recorded by this container, by record id: their window.
        self._recorded: dict[str, int] = {}

    def register(
        self,
        username: str,
        password: str,
        ip: str,
        create: Callable[[Credential, UserProfile], None] | None = None,
    ) -> str:
        """A new account (written by `create`, when given: with an address to verify).
        Each registration holds a place of its address's (REGISTRATIONS_PER_IP per
        window, never given back), taken before argon2 runs."""
        check_username(username)
        check_password(password)
        place = self._throttle.reserve_registration(ip)
        try:
            return self._create(username, password, create or self._store.create_user)
        except Unavailable:
            # An AWS failure costs the client no registration: it may retry.
            self._throttle.release(place)
            raise

    def _create(
        self, username: str, password: str, create: Callable[[Credential, UserProfile], None]
    ) -> str:
        user_id = str(uuid.uuid4())
        now = int(self._clock() * 1000)
        credential = Credential(
            username_key=username_key(username),
            username=username,
            user_id=user_id,
            password_hash=self._passwords.hash(password),
        )
        profile = UserProfile(user_id=user_id, username=username, created_at=now)
        try:
            create(credential, profile)
        except AlreadyExists:
            raise Conflict("The username is taken.") from None
        return user_id

    def login(self, request: LoginRequest) -> IssuedTokens:
        """Read the credential, hold a place in the throttle, verify the password, start a
        session. An unknown user costs the same argon2 work, is counted and throttled the
        same, and gets the same answer as a wrong password. Three round trips: the
        credential with the address's place; the other places with the user's sessions;
        the session's transaction with the places given back."""
        check_username(request.username)
        check_password(request.password)
        key = username_key(request.username)
        loaded: Pending[UserSessions | None] | None = None
        try:
            with self._throttle.opening(request.client.ip, key) as opening:
                credential = self._store.find_credential(key)
                device = self._devices.recognise(request.device_token, credential)
                name = throttled_name(key, credential)
                owner = credential.user_id if credential else decoy_user_id(key)
                try:
                    reservation, loaded = opening.reserve_with(
                        lambda: self._store.load_user(owner), name, device is not None
                    )
                except RateLimited as refused:
                    self.record_refusal(credential, request.client, refused, name)
                    raise
            device_id = device.device_id if device else None
            try:
                if credential is None:
                    self.judged(reservation, lambda: self._unknown_user(request.password))
                proven = credential  # (for the closures: not None from here)

                def start(_: None) -> IssuedTokens:
                    return self._start(request, proven, device_id, loaded)

                issued = self._throttle.judge_then(
                    reservation, lambda: self._verify(request.password, proven), start
                )
            except InvalidGrant:
                self.record_attempt(credential, request.client, throttled=False, name=name)
                raise
        finally:
            if loaded is not None:
                loaded.settle()
        return self.signed_in(issued, credential, request.replaces, device_id)

    def record_attempt(
        self, credential: Credential | None, client: ClientInfo, throttled: bool, name: str
    ) -> None:
        """A known user's failed or throttled login, for their activity. An unknown
        username's is written too, unattributed (nothing reads it): both cost one write,
        so the answer's timing does not tell which usernames exist. A throttled one is
        written once per window and username (`name`, as the throttle counts it): an
        attacker's 429s never flood the user's activity nor cost a write each. A failed
        write only loses the activity line: the answer stays the 401 or 429."""
        now = self._now()
        record_id = str(uuid.uuid4())
        window = now // (self._throttle.policy.window_seconds * 1000)
        if throttled:
            record_id = f"throttled.{_digest(name)}.{window}"
            if self._recorded.get(record_id) == window:
                return
        attempt = LoginAttempt(
            record_id=record_id,
            user_id=credential.user_id if credential else "",
            at=now,
            ip=client.ip,
            user_agent=client.user_agent[:512],
            throttled=throttled,
        )
        try:
            self._store.record_login_attempt(attempt)
        except Unavailable:
            logger.warning("a failed login could not be recorded for the user's activity")
            return
        if throttled:
            if len(self._recorded) >= MAX_REMEMBERED_RECORDS:
                self._recorded.clear()
            self._recorded[record_id] = window

    def record_refusal(
        self, credential: Credential | None, client: ClientInfo, refused: RateLimited, name: str
    ) -> None:
        """A throttled attempt, for the user's activity, when a scope of the account was
        full; an address's full scope throttles the address, not the account: nothing is
        written (a spray across usernames costs the refused reservation alone)."""
        if not is_address_scope(refused.scope or ""):
            self.record_attempt(credential, client, throttled=True, name=name)

    def signed_in(
        self,
        issued: IssuedTokens,
        credential: Credential,
        replaces: str | None,
        device_id: str | None,
    ) -> IssuedTokens:
        if replaces:
            # (not the session itself, when the sign-in renewed it)
            self._ending.end_replaced(replaces, credential.user_id, issued.session.session_id)
        token: DeviceToken = self._devices.issue(credential, device_id)
        return dataclasses.replace(issued, device=token)

    def _unknown_user(self, password: str) -> NoReturn:
        self._passwords.dummy_verify(password)
        raise InvalidGrant("The username or password is incorrect.")

    def _verify(self, password: str, credential: Credential) -> None:
        # argon2 runs for a disabled account too: every answer costs the same work. A
        # disabled account answers exactly like a wrong password (and counts like one).
        verified = self._passwords.verify(credential.password_hash, password)
        if credential.disabled or not verified:
            raise InvalidGrant("The username or password is incorrect.")

    def _start(
        self,
        request: LoginRequest,
        credential: Credential,
        device_id: str | None,
        loaded: Pending[UserSessions | None] | None,
    ) -> IssuedTokens:
        """After the right password (its places going back meanwhile)."""
        if self._passwords.needs_rehash(credential.password_hash):
            self._store.replace_password_hash(credential, self._passwords.hash(request.password))
        if credential.has_second_factor:
            # The password was right: its places go back; the proof will hold its own.
            token = self._second_factors.open_challenge(credential, device_id)
            raise MfaRequired(token, credential.factors)
        start = StartRequest(
            credential.user_id,
            request.client,
            credential=credential,
            central=request.central,
            loaded=loaded,
        )
        return self.renewal.start_or_renew(start, request.replaces)

    def confirm_totp(
        self, change: FactorChange, session_id: str, code: str, client: ClientInfo
    ) -> list[str]:
        """Turn TOTP on with a code of the pending secret: a wrong code is a judged failure
        like every wrong one-time code, in the login throttle (the username's ceiling
        across all addresses included: a session is no known device for a code) and in
        the account's second-factor window, under the username as the throttle counts it
        (after an administrator lifted its lock, afresh)."""
        key = username_key(change.username)
        credential = self._store.find_credential(key)
        name = throttled_name(key, credential)
        window = self._proofs.account_scopes(credential, "totp")[:1] if credential else ()
        reservation = self._throttle.reserve(name, client.ip, account=window)
        return self.judged(
            reservation,
            lambda: self._second_factors.confirm_totp(change, session_id, code),
        )

    def _now(self) -> int:
        return int(self._clock() * 1000)

    def change_password(self, change: PasswordChange) -> IssuedTokens:
        """Replace the password and end every session of the user, this one included, in
        one transaction; answer with a fresh session created after the change. The check
        of the current password holds a place in the login throttle like a login does (a
        stolen access token must not buy unlimited guesses), and in the session's own
        scope (its wrong proofs end it, as wrong step-ups do); the caller's live session
        makes it a known device, which the username's ceiling across all addresses does
        not hold (an owner under attack can still change the password). An account with
        a second factor changes it only from a session that proved one: the password
        alone must not lock its owner out of an account they still hold a factor of."""
        caller = change.caller
        check_password(change.current_password, "current_password")
        check_password(change.new_password, "new_password")
        # The username comes from the authorizer's read of the profile; the credential
        # found by it must still belong to this user.
        key = username_key(caller.username)
        loaded: Pending[UserSessions | None] | None = None
        try:
            with self._throttle.opening(change.client.ip, key) as opening:
                credential = self._store.find_credential(key)
                if credential is None or credential.user_id != caller.user_id:
                    raise InvalidGrant("The account no longer exists.")
                if credential.has_second_factor and not caller.proves_a_factor:
                    raise InsufficientUserAuthentication(
                        caller.max_age,
                        "Changing the password of an account with a second factor needs a "
                        "sign-in with it: POST /auth/reauth with the code, or with a passkey.",
                    )
                found = credential
                reservation, loaded = self._proofs.reserve_from_session(
                    change.session_id,
                    throttled_name(key, credential),
                    opening,
                    known_device=True,
                    read=lambda: self._store.load_user(found.user_id),
                )

            def prove() -> str:
                """The new password's hash, once the current one is proven (hashed before
                the places go back, so that they go back beside the session's write)."""
                if not self._passwords.verify(found.password_hash, change.current_password):
                    raise InvalidGrant("The current password is incorrect.")
                if change.new_password == change.current_password:
                    raise Conflict("new_password must differ from the current password.")
                return self._passwords.hash(change.new_password)

            def start(new_password_hash: str) -> IssuedTokens:
                request = StartRequest(
                    caller.user_id,
                    change.client,
                    credential=found,
                    new_password_hash=new_password_hash,
                    # The fresh session keeps how the caller's session proved the user (a
                    # recent step-up with a code included): it replaces that session.
                    amr=caller.amr or PASSWORD_AMR,
                    loaded=loaded,
                )
                return self._sessions.start(request)

            issued = self._proofs.judge_from_session(
                reservation, caller.user_id, change.session_id, prove, start
            )
        finally:
            if loaded is not None:
                loaded.settle()
        changed = dataclasses.replace(credential, password_version=credential.password_version + 1)
        return dataclasses.replace(issued, device=self._devices.issue(changed))

    def judged[T](self, reservation: Reservation, attempt: Callable[[], T]) -> T:
        """Run an attempt that holds places in the throttle (LoginThrottle.judge)."""
        return self._throttle.judge(reservation, attempt)


def _digest(name: str) -> str:
    # A username as a record's id may show it: a digest names it as well.
    return b64url(hashlib.sha256(name.encode()).digest())[:22]
