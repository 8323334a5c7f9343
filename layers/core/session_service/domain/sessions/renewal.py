"""Re-authentication of a live session (RFC 9470): a fresh auth_time and amr for the
client that proved a credential again, the session kept. POST /auth/reauth's step-up and
the hosted page's sign-in of a browser that already holds its user's central session
(docs/sso.md) both come here."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import replace

from session_service.domain.errors import InvalidGrant, InvalidToken, Unavailable
from session_service.domain.models import AccountEvent, Millis, Session, StepUpProof
from session_service.domain.ports import (
    CredentialChanged,
    Reauthentication,
    SecondFactorSpent,
    SessionStore,
    StaleWrite,
)
from session_service.domain.sessions.lifecycle import (
    CREDENTIALS_CHANGED,
    MAX_GRACE_SIBLINGS,
    MAX_USER_AGENT_LENGTH,
    SessionService,
)
from session_service.domain.sessions.session_records import (
    IssuedTokens,
    ReauthRequest,
    StartRequest,
)
from session_service.domain.sessions.tokens import RefreshTokens

# Step-ups a session keeps (the newest): an older one's tokens fall back to its start.
MAX_STEP_UPS = 4
# How soon after a central session's renewal another from the same cookie joins it: a
# concurrent sign-in (a double click, two tabs), not a stale cookie (as an app's grant's
# RACE_WINDOW_MS, domain/sso/records.py).
RENEWAL_RACE_MS = 10_000
# Reads of the session a re-authentication makes at most: each write that met another
# (a refresh, or the renewals of a burst from one cookie) reads it again.
MAX_ATTEMPTS = 4


class SessionRenewal:
    def __init__(
        self, store: SessionStore, sessions: SessionService, refresh_tokens: RefreshTokens
    ) -> None:
        self._store = store
        self._sessions = sessions
        self._refresh_tokens = refresh_tokens

    def start_or_renew(self, start: StartRequest, browser_token: str | None) -> IssuedTokens:
        """A sign-in on the hosted page (`start.central`): the browser's central session
        (its cookie, `browser_token`) re-authenticated when it is this user's and lives, so
        that the other apps' grants on it live on; else a new central session."""
        if not start.central or not browser_token or start.credential is None:
            return self._sessions.start(start)
        try:
            token = self._refresh_tokens.parse_central(browser_token)
        except InvalidGrant:
            return self._sessions.start(start)
        if token.user_id != start.user_id:
            return self._sessions.start(start)  # another user's: replaced
        request = ReauthRequest(
            start.credential,
            token.session_id,
            start.amr,
            start.second_factor,
            central_digest=token.digest,
            client=start.client,
        )
        try:
            return self.reauthenticate(request)
        except InvalidToken:
            return self._sessions.start(start)  # it has ended, or is not the cookie's

    def reauthenticate(self, request: ReauthRequest) -> IssuedTokens:
        """A fresh auth_time (and amr) for the client that proved it, in a live session:
        a new refresh token joins the session's current ones (another tab's stays good,
        RFC 9470), naming the step-up that only its own tokens carry: a copy of another
        of the session's tokens keeps the sign-in it had. A central session's new token
        replaces its cookie's instead (the browser holds one), so its tokens never grow;
        a renewal racing it from the same cookie joins the session with a token of its
        own, up to the session's maximum, rather than start another."""
        user_id = request.credential.user_id
        central = request.central_digest is not None
        for attempt in range(MAX_ATTEMPTS):
            looked_up = request.looked_up if attempt == 0 else None
            session, profile = (
                looked_up.result()
                if looked_up
                else self._store.authorization_lookup(user_id, request.session_id)
            )
            now = self._sessions.now()
            not_before = profile.not_before if profile else None
            if session is None or not session.is_live(now, not_before):
                raise InvalidToken("The session has ended.")
            joining = central and request.central_digest not in session.refresh_digests
            if joining and not _racing(session, request.central_digest, now):
                raise InvalidToken("The session is no longer the browser's.")
            proof = StepUpProof(secrets.token_urlsafe(16), now, request.amr)
            sibling = self._refresh_tokens.issue(
                user_id,
                session.session_id,
                session.generation,
                session.absolute_expires_at,
                proof.proof_id,
                central=central,
            )
            kept = (session.step_ups or ())[-(MAX_STEP_UPS - 1) :]
            digests = (
                session.refresh_digests - {request.central_digest} | {sibling.digest}
                if central and not joining
                else session.refresh_digests | {sibling.digest}
            )
            change = Reauthentication(
                credential=request.credential,
                session_id=session.session_id,
                new_digest=sibling.digest,
                generation=session.generation,
                now=now,
                step_up=proof,
                replaced_step_ups=session.step_ups is None,
                dropped_step_ups=tuple(s.proof_id for s in session.step_ups or () if s not in kept),
                idle_expires_at=self._sessions.policy.idle_expiry(now, central),
                absolute_expires_at=session.absolute_expires_at,
                not_before=not_before,
                max_digests=2 * MAX_GRACE_SIBLINGS,
                second_factor=request.second_factor,
                digests=digests if central and not joining else None,
                replaced_digest=request.central_digest,
                race_start=now - RENEWAL_RACE_MS if joining else None,
                event=_renewed(request, now) if central else None,
            )
            try:
                self._store.reauthenticate(change)
            except CredentialChanged:
                raise InvalidGrant(CREDENTIALS_CHANGED) from None
            except SecondFactorSpent:
                raise InvalidGrant("The code or the passkey sign-in has been used.") from None
            except StaleWrite:
                continue  # refreshed or ended meanwhile: read the session once more
            updated = replace(
                session,
                refresh_digests=digests,
                last_used_at=now,
                idle_expires_at=change.idle_expires_at,
                step_ups=(*kept, proof),
            )
            if central and not joining:
                updated = replace(updated, replaced_digest=request.central_digest, replaced_at=now)
            return self._sessions.issue(updated, sibling, now)
        # Written over at each read: contention, not a wrong credential (no throttle place).
        raise Unavailable(retry_after=1)


def _racing(session: Session, digest: str | None, now: Millis) -> bool:
    """Whether `digest`, no longer the session's, is the cookie's token its last renewal
    replaced moments ago: a concurrent sign-in from that cookie, which joins it."""
    return (
        digest is not None
        and session.replaced_digest == digest
        and session.replaced_at is not None
        and now - session.replaced_at < RENEWAL_RACE_MS
    )


def _renewed(request: ReauthRequest, now: Millis) -> AccountEvent:
    """The record of a central session's renewal: a sign-in the user's activity shows as a
    login (login_succeeded), from where it came; not a new session (no SessionStarted)."""
    client = request.client
    return AccountEvent(
        str(uuid.uuid4()),
        request.credential.user_id,
        "SsoSessionRenewed",
        now,
        ip=client.ip if client else "",
        user_agent=client.user_agent[:MAX_USER_AGENT_LENGTH] if client else "",
        session_id=request.session_id,
    )
