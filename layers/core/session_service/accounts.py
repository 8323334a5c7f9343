"""Accounts: registration and login (proving who you are, then starting a session)."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable

from session_service.errors import Conflict, InvalidGrant, InvalidRequest
from session_service.models import ClientInfo, Credential, UserProfile
from session_service.passwords import Passwords
from session_service.sessions import IssuedTokens, SessionService
from session_service.store import AlreadyExists, SessionStore
from session_service.throttling import LoginThrottle

USERNAME = re.compile(r"[A-Za-z0-9_.@-]{3,64}")
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024


def username_key(username: str) -> str:
    """Usernames compare case-insensitively; the allowed characters are ASCII."""
    return username.lower()


def check_username(username: str) -> None:
    if not USERNAME.fullmatch(username):
        raise InvalidRequest("username must be 3 to 64 characters of A-Z a-z 0-9 _ . @ -")


def check_password(password: str, field: str = "password") -> None:
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise InvalidRequest(
            f"{field} must be {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters"
        )


class Accounts:
    def __init__(
        self,
        store: SessionStore,
        sessions: SessionService,
        passwords: Passwords,
        throttle: LoginThrottle,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._sessions = sessions
        self._passwords = passwords
        self._throttle = throttle
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

    def login(
        self, username: str, password: str, client: ClientInfo, replaces: str | None = None
    ) -> IssuedTokens:
        """Verify the password and start a session. An unknown user costs the same argon2
        work, is counted and throttled the same, and gets the same answer as a wrong
        password."""
        check_username(username)
        check_password(password)
        key = username_key(username)
        lookup = self._store.find_login(key, client.ip)
        self._throttle.check(lookup)
        credential = lookup.credential
        if credential is None:
            self._passwords.dummy_verify(password)
        if credential is None or not self._passwords.verify(credential.password_hash, password):
            self._throttle.record_failure(key, client.ip)
            raise InvalidGrant("The username or password is incorrect.")
        if self._passwords.needs_rehash(credential.password_hash):
            self._store.replace_password_hash(credential, self._passwords.hash(password))
        issued = self._sessions.start(
            credential.user_id,
            client,
            credential=credential,
            clear_failures=lookup.username_failures is not None,
        )
        if replaces:
            self._sessions.end_replaced(replaces, credential.user_id)
        return issued

    def change_password(
        self,
        user_id: str,
        username: str,
        current_password: str,
        new_password: str,
        client: ClientInfo,
    ) -> IssuedTokens:
        """Replace the password and end every session of the user, this one included, in
        one transaction; answer with a fresh session created after the change. A wrong
        current password counts as a failed login (a stolen access token must not buy
        unlimited guesses)."""
        check_password(current_password, "current_password")
        check_password(new_password, "new_password")
        # The username comes from the authorizer's read of the profile; the credential
        # found by it must still belong to this user.
        key = username_key(username)
        lookup = self._store.find_login(key, client.ip)
        self._throttle.check(lookup)
        credential = lookup.credential
        if credential is None or credential.user_id != user_id:
            raise InvalidGrant("The account no longer exists.")
        if not self._passwords.verify(credential.password_hash, current_password):
            self._throttle.record_failure(key, client.ip)
            raise InvalidGrant("The current password is incorrect.")
        if new_password == current_password:
            raise Conflict("new_password must differ from the current password.")
        new_hash = self._passwords.hash(new_password)
        return self._sessions.start(
            user_id,
            client,
            credential=credential,
            new_password_hash=new_hash,
            clear_failures=lookup.username_failures is not None,
        )
