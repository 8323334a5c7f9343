"""Ending sessions: logout, signing a device out, signing out everywhere else, and the
end of every older session after a password change made elsewhere.

Ending deletes the sessions' items and records why, in one transaction (see store): the
authorizer refuses them on their next request, and the stream tells other systems."""

from __future__ import annotations

from session_service.domain.errors import InvalidGrant, InvalidToken, NotFound, Unavailable
from session_service.domain.models import Millis, RevocationReason, is_issued_id
from session_service.domain.ports import NotBeforeRaise, SessionStore, StaleWrite
from session_service.domain.sessions.lifecycle import (
    MAX_ENDED_AT_ONCE,
    MAX_START_ATTEMPTS,
    SessionService,
)
from session_service.domain.sessions.session_records import ended_record
from session_service.domain.sessions.tokens import AccessTokens, RefreshTokens
from session_service.observability import logger

# Transactions one call may need to end every older session (MAX_ENDED_AT_ONCE each).
MAX_ROUNDS = 100


class SessionEnding:
    def __init__(
        self,
        store: SessionStore,
        sessions: SessionService,
        access_tokens: AccessTokens,
        refresh_tokens: RefreshTokens,
    ) -> None:
        self._store = store
        self._sessions = sessions
        self._access_tokens = access_tokens
        self._refresh_tokens = refresh_tokens

    def logout(self, user_id: str, session_id: str) -> None:
        """End a session; ending an ended session changes nothing."""
        self._end_by_id(user_id, session_id)

    def logout_with(self, access_token: str | None, refresh_token: str | None) -> None:
        """Logout names its session by a Bearer access token or by a refresh token; any
        genuine token of the session will do (an old one could end it as reuse anyway)."""
        if access_token:
            claims = self._access_tokens.verify(access_token)
            if claims.client_id is not None:
                # An app's (single sign-on): its grant ends at /oauth2/revoke, the central
                # session it hangs on at /oauth2/logout; as the authorizer refuses it here.
                raise InvalidToken("An app's access token cannot end a session here.")
            self.logout(claims.user_id, claims.session_id)
        elif refresh_token:
            token = self._refresh_tokens.parse(refresh_token)
            if token.central:
                # The hosted sign-in's cookie: a central session ends at /oauth2/logout
                raise InvalidGrant("A central session's token is not taken here.")
            self.logout(token.user_id, token.session_id)
        else:
            raise InvalidToken("Send a Bearer access token or a refresh token.")

    def revoke_session(self, user_id: str, session_id: str) -> None:
        """Sign out one of the caller's own devices. Another user's session or an unknown
        id is simply not found: the key includes the caller, so ids cannot be probed."""
        if not is_issued_id(session_id) or not self._end_by_id(user_id, session_id):
            raise NotFound("No such session.")

    def revoke_other_sessions(self, user_id: str, current_session_id: str) -> int:
        """Sign out everywhere else, in one transaction (read again if one of them ended
        meanwhile)."""
        for attempt in range(MAX_START_ATTEMPTS):
            others = [
                session
                for session in self._sessions.list_sessions(user_id)
                if session.session_id != current_session_id
            ]
            if not others:
                return 0
            now = self._sessions.now()
            ended = ended_record(user_id, others, "logout", now)
            if ended is not None and self._store.end_sessions(ended, now):
                return len(others)
            self._sessions.back_off(attempt)
        raise Unavailable(retry_after=1)

    def end_sessions_before(self, user_id: str, changed_at: Millis) -> int:
        """After a password change: not_before rises to `changed_at` and every session
        created before it ends, in one transaction conditioned on the user's version, so
        that no login can slip a session in between and no older session can mint another
        token. Sessions beyond one transaction's room (never under the session limit) end
        in the transactions that follow. Repeating this changes nothing."""
        ended = 0
        for attempt in range(MAX_START_ATTEMPTS + MAX_ROUNDS):
            state = self._store.load_user(user_id)
            if state is None:
                return ended
            now = self._sessions.now()
            # Older sessions still within their timeouts, whatever not_before says by now.
            older = [s for s in state.sessions if s.created_at < changed_at and now < s.expires_at]
            batch = older[:MAX_ENDED_AT_ONCE]
            record = ended_record(user_id, batch, "password_changed", now)
            try:
                if (state.profile.not_before or 0) < changed_at:
                    self._store.raise_not_before(
                        NotBeforeRaise(
                            user_id=user_id,
                            not_before=changed_at,
                            expected_version=state.profile.session_version,
                            ended=record,
                        )
                    )
                elif record is None:
                    return ended
                elif not self._store.end_sessions(record, now):
                    raise StaleWrite()
            except StaleWrite:
                self._sessions.back_off(attempt, MAX_START_ATTEMPTS + MAX_ROUNDS)
                continue
            ended += len(batch)
        logger.warning("gave up ending sessions under contention", user_id=user_id)
        raise Unavailable(retry_after=1)

    def end_replaced(self, refresh_token: str, user_id: str, kept: str = "") -> None:
        """End the session a new login replaces (the browser's previous cookie), if it is
        a genuine token of the same user and not the session `kept` (the sign-in renewed
        it); anything else is ignored. A central session's token is never replaced so: its
        sign-in renewed that session, or found it ended, or lost the race to another sign-in
        from the same cookie, whose renewal the session now is (docs/sso.md)."""
        try:
            token = self._refresh_tokens.parse(refresh_token)
        except InvalidGrant:
            return
        if token.user_id == user_id and token.session_id != kept and not token.central:
            self.logout(token.user_id, token.session_id)

    def end_after_failed_step_ups(self, user_id: str, session_id: str) -> bool:
        """End a session whose wrong step-ups reached their limit (reason reauth_failed)."""
        return self._end_by_id(user_id, session_id, "reauth_failed")

    def _end_by_id(
        self, user_id: str, session_id: str, reason: RevocationReason = "logout"
    ) -> bool:
        """End the user's session of this id if it is live (one conditional transaction,
        no read); whether it was."""
        now = self._sessions.now()
        ended = ended_record(user_id, [session_id], reason, now)
        return ended is not None and self._store.end_sessions(ended, now)
