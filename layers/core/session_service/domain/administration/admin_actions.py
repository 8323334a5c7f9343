"""What support staff may do for a user (the admin API, behind IAM): look a user up, see
and end their sessions, disable or enable the account, lift the login lock. Every action
ends in the user's events (SessionRevoked with reason `admin`, AccountDisabled,
AccountEnabled); none of them can read or set a credential."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from session_service.domain.accounts.account_changes import account_event
from session_service.domain.accounts.usernames import check_username, username_key
from session_service.domain.administration.records import (
    AccountStatusChange,
    AdministrationStore,
    FactorsResetChange,
)
from session_service.domain.email.addresses import normalize_address
from session_service.domain.email.records import AddressOwner
from session_service.domain.errors import NotFound, Unavailable
from session_service.domain.models import (
    AccountEventType,
    Credential,
    Millis,
    Session,
    UserProfile,
)
from session_service.domain.ports import (
    SessionStore,
    StaleWrite,
)
from session_service.domain.sessions.lifecycle import MAX_ENDED_AT_ONCE, SessionService
from session_service.domain.sessions.session_records import ended_record

MAX_ATTEMPTS = 8


@dataclass(frozen=True, slots=True)
class UserOverview:
    user_id: str
    username: str
    created_at: Millis
    disabled: bool
    mfa: bool
    passkeys: int
    email: str | None = None


class Administration:
    def __init__(
        self,
        store: SessionStore,
        admin_store: AdministrationStore,
        sessions: SessionService,
        clock: Callable[[], float] = time.time,
        owner_of: Callable[[str], AddressOwner | None] = lambda _: None,
        passkey_ids: Callable[[str], list[str]] = lambda _: [],
    ) -> None:
        self._store = store
        self._admin = admin_store
        self._sessions = sessions
        self._clock = clock
        # Whose verified address it is; a user's passkeys (ids).
        self._owner_of = owner_of
        self._passkey_ids = passkey_ids

    def _now(self) -> Millis:
        return int(self._clock() * 1000)

    def _account(self, user_id: str) -> tuple[UserProfile, Credential]:
        profile = self._store.find_profile(user_id)
        credential = (
            self._store.find_credential(username_key(profile.username)) if profile else None
        )
        if profile is None or credential is None or credential.user_id != user_id:
            raise NotFound("No such user.")
        return profile, credential

    def find_user_by_email(self, raw_address: str) -> UserOverview:
        """The user whose verified address it is (support finding who lost every factor)."""
        owner = self._owner_of(normalize_address(raw_address))
        if owner is None:
            raise NotFound("No user has verified this address.")
        return self._overview(owner.username_key)

    def find_user(self, username: str) -> UserOverview:
        check_username(username)
        return self._overview(username_key(username))

    def _overview(self, key: str) -> UserOverview:
        credential = self._store.find_credential(key)
        profile = self._store.find_profile(credential.user_id) if credential else None
        if credential is None or profile is None:
            raise NotFound("No such user.")
        return UserOverview(
            user_id=profile.user_id,
            username=profile.username,
            created_at=profile.created_at,
            disabled=profile.disabled,
            mfa=credential.totp is not None,
            passkeys=credential.passkeys,
            email=profile.email,
        )

    def reset_factors(self, user_id: str) -> None:
        """Remove TOTP, its recovery codes and every passkey, and end every session, in
        one write (for the user who lost every factor; support checks who asks). An
        account with neither is left as it is: the same call sent again changes nothing."""
        for _ in range(MAX_ATTEMPTS):
            _, credential = self._account(user_id)
            state = self._store.load_user(user_id)
            now = self._now()
            live = state.live(now)[:MAX_ENDED_AT_ONCE] if state else []
            passkeys = tuple(self._passkey_ids(user_id))
            factors = credential.totp or credential.pending_totp or passkeys
            if not factors and not live and credential.passkeys == 0:
                return
            change = FactorsResetChange(
                credential=credential,
                passkey_ids=passkeys,
                expected_version=state.profile.session_version if state else 0,
                event=account_event(user_id, "FactorsReset", now),
                ended=ended_record(user_id, live, "admin", now),
            )
            try:
                self._admin.reset_factors(change)
            except StaleWrite:
                continue  # a factor, a login or a refresh meanwhile: read again
            return
        raise Unavailable(retry_after=1)

    def sessions(self, user_id: str) -> list[Session]:
        self._account(user_id)
        return self._sessions.list_sessions(user_id)

    def end_session(self, user_id: str, session_id: str) -> None:
        live = {s.session_id: s for s in self.sessions(user_id)}
        session = live.get(session_id)
        if session is None or not self._sessions.end_one(session, "admin", self._now()):
            raise NotFound("No such session.")

    def end_sessions(self, user_id: str) -> int:
        """End every live session of the user; the number ended."""
        ended = 0
        for _ in range(MAX_ATTEMPTS):
            live = self.sessions(user_id)[:MAX_ENDED_AT_ONCE]
            record = ended_record(user_id, live, "admin", self._now())
            if record is None:
                return ended
            if self._store.end_sessions(record, self._now()):
                ended += len(live)
        raise Unavailable(retry_after=1)

    def disable(self, user_id: str) -> None:
        """No login and no session from now on: every session ends in the same write."""
        self._set_disabled(user_id, disabled=True)

    def enable(self, user_id: str) -> None:
        """Login works again; no session comes back."""
        self._set_disabled(user_id, disabled=False)

    def _set_disabled(self, user_id: str, disabled: bool) -> None:
        for _ in range(MAX_ATTEMPTS):
            profile, credential = self._account(user_id)
            if profile.disabled == disabled:
                return  # already so: nothing to write, nothing to publish
            state = self._store.load_user(user_id)
            now = self._now()
            live = state.live(now)[:MAX_ENDED_AT_ONCE] if state and disabled else []
            event_type: AccountEventType = "AccountDisabled" if disabled else "AccountEnabled"
            change = AccountStatusChange(
                credential=credential,
                disabled=disabled,
                expected_version=(state.profile if state else profile).session_version,
                event=account_event(user_id, event_type, now),
                ended=ended_record(user_id, live, "admin", now),
            )
            try:
                self._admin.set_disabled(change)
            except StaleWrite:
                continue  # a login or a refresh meanwhile: read again
            return
        raise Unavailable(retry_after=1)

    def lift_login_lock(self, user_id: str) -> None:
        """The username's failed-login counters start afresh (its address's do not)."""
        _, credential = self._account(user_id)
        try:
            self._admin.lift_login_lock(credential)
        except StaleWrite:
            raise NotFound("No such user.") from None
