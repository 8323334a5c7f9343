"""Accounts: registration, login and password change (proving who you are, then starting a
session). Every check of a password holds a place in the login throttle first."""

from __future__ import annotations

import dataclasses
import re
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, NoReturn

from session_service.domain.devices import DeviceToken, DeviceTokens
from session_service.domain.errors import (
    Conflict,
    InvalidGrant,
    InvalidRequest,
    MfaRequired,
    RateLimited,
    ServiceError,
    Unavailable,
)
from session_service.domain.models import (
    PASSWORD_AMR,
    PASSWORD_AND_OTP_AMR,
    ClientInfo,
    Credential,
    LoginAttempt,
    Reservation,
    UserProfile,
)
from session_service.domain.ports import AlreadyExists, MfaChallenge, SessionStore
from session_service.domain.session_ending import SessionEnding
from session_service.domain.session_records import IssuedTokens, ReauthRequest, StartRequest
from session_service.domain.sessions import SessionService
from session_service.domain.throttling import LoginThrottle
from session_service.observability import logger

if TYPE_CHECKING:
    # argon2 and pyotp load with what the composition root builds, not with this module.
    from session_service.domain.account_changes import FactorChange
    from session_service.domain.passwords import Passwords
    from session_service.domain.second_factor import SecondFactors

# The username rule, here once: 3 to 64 of these characters (the schemas say the same).
USERNAME_CHARACTERS = "A-Za-z0-9_.@-"
MIN_USERNAME_LENGTH, MAX_USERNAME_LENGTH = 3, 64
USERNAME = re.compile(f"[{USERNAME_CHARACTERS}]{{{MIN_USERNAME_LENGTH},{MAX_USERNAME_LENGTH}}}")
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024


def username_key(username: str) -> str:
    """Usernames compare case-insensitively; the allowed characters are ASCII."""
    return username.lower()


def check_username(username: str) -> None:
    if not USERNAME.fullmatch(username):
        raise InvalidRequest(
            f"username must be {MIN_USERNAME_LENGTH} to {MAX_USERNAME_LENGTH} characters of "
            "A-Z a-z 0-9 _ . @ -"
        )


def throttled_name(key: str, credential: Credential | None) -> str:
    """The username as the throttle counts it: with the generation an administrator moved
    on when lifting its login lock, so that its counters start afresh."""
    generation = credential.throttle_generation if credential else 0
    return f"{key}~{generation}" if generation else key


def check_password(password: str, field: str = "password") -> None:
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise InvalidRequest(
            f"{field} must be {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters"
        )


@dataclasses.dataclass(frozen=True, slots=True)
class LoginRequest:
    username: str
    password: str
    client: ClientInfo
    # A device token from an earlier login on this device (body or cookie).
    device_token: str | None = None
    # The session a browser's new login replaces (its previous refresh cookie).
    replaces: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class CodeLoginRequest:
    """The second step of a login: the mfa_token and a TOTP or recovery code."""

    mfa_token: str
    code: str
    client: ClientInfo
    replaces: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class ReauthCall:
    """A signed-in user proving the credential again for their session."""

    user_id: str
    username: str
    session_id: str
    password: str
    code: str | None
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
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._second_factors = second_factors
        self._store = store
        self._sessions = sessions
        self._ending = ending
        self._passwords = passwords
        self._throttle = throttle
        self._devices = devices
        self._clock = clock

    def register(self, username: str, password: str) -> str:
        check_username(username)
        check_password(password)
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
            self._store.create_user(credential, profile)
        except AlreadyExists:
            raise Conflict("The username is taken.") from None
        return user_id

    def login(self, request: LoginRequest) -> IssuedTokens:
        """Read the credential, hold a place in the throttle, verify the password, start a
        session. An unknown user costs the same argon2 work, is counted and throttled the
        same, and gets the same answer as a wrong password."""
        check_username(request.username)
        check_password(request.password)
        key = username_key(request.username)
        credential = self._store.find_credential(key)
        device = self._devices.recognise(request.device_token, credential)
        known = device is not None
        try:
            reservation = self._throttle.reserve(
                throttled_name(key, credential), request.client.ip, known_device=known
            )
        except RateLimited:
            self.record_attempt(credential, request.client, throttled=True)
            raise
        device_id = device.device_id if device else None
        try:
            if credential is None:
                self.judged(reservation, lambda: self._unknown_user(request.password))
            issued = self.judged(
                reservation, lambda: self._verify_and_start(request, credential, device_id)
            )
        except InvalidGrant:
            self.record_attempt(credential, request.client, throttled=False)
            raise
        return self.signed_in(issued, credential, request.replaces, device_id)

    def record_attempt(
        self, credential: Credential | None, client: ClientInfo, throttled: bool
    ) -> None:
        """A known user's failed or throttled login, for their activity. An unknown
        username's is written too, unattributed (nothing reads it): both cost one write,
        so the answer's timing does not tell which usernames exist. A failed write only
        loses the activity line: the answer stays the 401 or 429."""
        attempt = LoginAttempt(
            record_id=str(uuid.uuid4()),
            user_id=credential.user_id if credential else "",
            at=self._now(),
            ip=client.ip,
            user_agent=client.user_agent[:512],
            throttled=throttled,
        )
        try:
            self._store.record_login_attempt(attempt)
        except Unavailable:
            logger.warning("a failed login could not be recorded for the user's activity")

    def signed_in(
        self,
        issued: IssuedTokens,
        credential: Credential,
        replaces: str | None,
        device_id: str | None,
    ) -> IssuedTokens:
        if replaces:
            self._ending.end_replaced(replaces, credential.user_id)
        token: DeviceToken = self._devices.issue(credential, device_id)
        return dataclasses.replace(issued, device=token)

    def _unknown_user(self, password: str) -> NoReturn:
        self._passwords.dummy_verify(password)
        raise InvalidGrant("The username or password is incorrect.")

    def _verify_and_start(
        self, request: LoginRequest, credential: Credential, device_id: str | None
    ) -> IssuedTokens:
        # A disabled account answers exactly like a wrong password (and counts like one).
        if credential.disabled or not self._passwords.verify(
            credential.password_hash, request.password
        ):
            raise InvalidGrant("The username or password is incorrect.")
        if self._passwords.needs_rehash(credential.password_hash):
            self._store.replace_password_hash(credential, self._passwords.hash(request.password))
        if credential.totp is not None:
            # The password was right: its places go back; the code will hold its own.
            raise MfaRequired(self._second_factors.open_challenge(credential, device_id))
        return self._sessions.start(
            StartRequest(credential.user_id, request.client, credential=credential)
        )

    def login_with_code(self, request: CodeLoginRequest) -> IssuedTokens:
        """The second step of a login: the mfa_token and a code. The code holds a place in
        the login throttle like a password; the session start spends the token and the
        code in its own transaction, so of concurrent requests at most one gets in."""
        challenge = self._second_factors.find_challenge(request.mfa_token)
        credential = self._store.find_credential(challenge.username_key)
        if (
            credential is None
            or credential.user_id != challenge.user_id
            or credential.password_version != challenge.password_version
            or credential.totp is None
            or credential.disabled
        ):
            raise InvalidGrant("The mfa_token is invalid or has expired.")
        try:
            reservation = self._throttle.reserve(
                throttled_name(challenge.username_key, credential),
                request.client.ip,
                known_device=challenge.device_id is not None,
            )
        except RateLimited:
            self.record_attempt(credential, request.client, throttled=True)
            raise
        try:
            issued = self.judged(
                reservation, lambda: self._complete_with_code(challenge, credential, request)
            )
        except InvalidGrant:
            self.record_attempt(credential, request.client, throttled=False)
            raise
        return self.signed_in(issued, credential, request.replaces, challenge.device_id)

    def _complete_with_code(
        self, challenge: MfaChallenge, credential: Credential, request: CodeLoginRequest
    ) -> IssuedTokens:
        proven = self._second_factors.prove(credential, request.code, self._now())
        use = dataclasses.replace(proven.use, challenge_digest=challenge.digest)
        return self._sessions.start(
            StartRequest(
                credential.user_id,
                request.client,
                credential=credential,
                amr=PASSWORD_AND_OTP_AMR,
                second_factor=use,
            )
        )

    def reauthenticate(self, call: ReauthCall) -> IssuedTokens:
        """A fresh proof for the caller's session (RFC 9470's step-up): the password, and
        a code when the user has TOTP; counted by the login throttle like a login."""
        check_password(call.password)
        key = username_key(call.username)
        credential = self._store.find_credential(key)
        if credential is None or credential.user_id != call.user_id:
            raise InvalidGrant("The account no longer exists.")
        if credential.totp is not None and not call.code:
            raise InvalidRequest("code is required: the account has TOTP on.")
        # The caller's session makes it a known device for a password; a code is guessed
        # under the username's ceiling across all addresses, as at login (whoever holds a
        # session and the password must not guess codes from many addresses).
        known = credential.totp is None
        reservation = self._throttle.reserve(
            throttled_name(key, credential), call.client.ip, known_device=known
        )

        def attempt() -> IssuedTokens:
            if not self._passwords.verify(credential.password_hash, call.password):
                raise InvalidGrant("The password is incorrect.")
            if credential.totp is None:
                return self._sessions.reauthenticate(
                    ReauthRequest(credential, call.session_id, PASSWORD_AMR)
                )
            proven = self._second_factors.prove(credential, call.code, self._now())
            return self._sessions.reauthenticate(
                ReauthRequest(credential, call.session_id, PASSWORD_AND_OTP_AMR, proven.use)
            )

        return self.judged(reservation, attempt)

    def confirm_totp(
        self, change: FactorChange, session_id: str, code: str, client: ClientInfo
    ) -> list[str]:
        """Turn TOTP on with a code of the pending secret: a wrong code is a judged failure
        in the login throttle, like every wrong one-time code."""
        key = username_key(change.username)
        reservation = self._throttle.reserve(key, client.ip, known_device=True)
        return self.judged(
            reservation,
            lambda: self._second_factors.confirm_totp(change, session_id, code),
        )

    def _now(self) -> int:
        return int(self._clock() * 1000)

    def change_password(
        self,
        user_id: str,
        username: str,
        current_password: str,
        new_password: str,
        client: ClientInfo,
        amr: tuple[str, ...] = PASSWORD_AMR,
    ) -> IssuedTokens:
        """Replace the password and end every session of the user, this one included, in
        one transaction; answer with a fresh session created after the change. The check
        of the current password holds a place in the login throttle like a login does (a
        stolen access token must not buy unlimited guesses); the caller's live session
        makes it a known device, which the username's ceiling across all addresses does
        not hold (an owner under attack can still change the password)."""
        check_password(current_password, "current_password")
        check_password(new_password, "new_password")
        # The username comes from the authorizer's read of the profile; the credential
        # found by it must still belong to this user.
        key = username_key(username)
        credential = self._store.find_credential(key)
        if credential is None or credential.user_id != user_id:
            raise InvalidGrant("The account no longer exists.")
        reservation = self._throttle.reserve(
            throttled_name(key, credential), client.ip, known_device=True
        )

        def attempt() -> IssuedTokens:
            if not self._passwords.verify(credential.password_hash, current_password):
                raise InvalidGrant("The current password is incorrect.")
            if new_password == current_password:
                raise Conflict("new_password must differ from the current password.")
            start = StartRequest(
                user_id,
                client,
                credential=credential,
                new_password_hash=self._passwords.hash(new_password),
                # The fresh session keeps how the caller's session proved the user (a
                # recent step-up with a code included): it replaces that session.
                amr=amr,
            )
            return self._sessions.start(start)

        issued = self.judged(reservation, attempt)
        changed = dataclasses.replace(credential, password_version=credential.password_version + 1)
        return dataclasses.replace(issued, device=self._devices.issue(changed))

    def judged[T](self, reservation: Reservation, attempt: Callable[[], T]) -> T:
        """Run an attempt that holds places in the throttle. A wrong credential keeps them
        (a judged failure); any other outcome, a session started, the session limit or an
        AWS failure, gives them back: only a wrong credential is a failure."""
        try:
            outcome = attempt()
        except InvalidGrant:
            raise
        except ServiceError:
            self._throttle.release(reservation)
            raise
        self._throttle.release(reservation)
        return outcome
