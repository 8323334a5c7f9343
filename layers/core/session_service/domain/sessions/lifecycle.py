"""The session lifecycle: start, refresh (rotate), authorize, list, limit, expire. Ending
sessions (logout, revocation, password change) is in session_ending."""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TypeGuard

from session_service.domain.errors import (
    InvalidGrant,
    InvalidToken,
    SessionLimitReached,
    Unavailable,
)
from session_service.domain.models import (
    ClientInfo,
    Millis,
    RevocationReason,
    Session,
)
from session_service.domain.ports import (
    CredentialChanged,
    NewSession,
    Rotation,
    RotationRefused,
    SecondFactorSpent,
    SessionStore,
    StaleWrite,
)
from session_service.domain.sessions.session_records import (
    AuthorizedSession,
    IssuedTokens,
    SessionPolicy,
    StartRequest,
    ended_record,
)
from session_service.domain.sessions.tokens import (
    AccessTokenClaims,
    AccessTokens,
    RefreshToken,
    RefreshTokens,
)
from session_service.observability import logger

# Concurrent logins of one user serialise on its per-user item; each round lets at least
# one through, so a burst of N logins needs at most N rounds.
MAX_START_ATTEMPTS = 24
# Jittered back-off between attempts, doubling from 5 ms and capped at 40 ms: a flood of
# logins to one account gives up within about half a second instead of holding Lambda
# time for seconds.
FIRST_BACK_OFF_SECONDS = 0.005
MAX_BACK_OFF_SECONDS = 0.04
# Siblings a refresh token may get inside the grace window (two tabs, a lost response).
MAX_GRACE_SIBLINGS = 8
MAX_USER_AGENT_LENGTH = 512
# What one start may end and remove besides writing its session, within DynamoDB's 100
# items per transaction (with the profile, the session, the credential and the ended
# record). The session limit (at most 50) keeps a user's live
# sessions under it; any beyond are refused by not_before and ended by the PasswordChanged
# consumer (session_ending), expired ones by the next login or TTL.
MAX_ENDED_AT_ONCE = 60
CREDENTIALS_CHANGED = "The account's credentials have just changed; log in again."
MAX_PRUNED_AT_ONCE = 20


class SessionService:
    def __init__(
        self,
        store: SessionStore,
        access_tokens: AccessTokens,
        refresh_tokens: RefreshTokens,
        policy: SessionPolicy,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._store = store
        self._access_tokens = access_tokens
        self._refresh_tokens = refresh_tokens
        self._policy = policy
        self._clock = clock
        self._sleep = sleep

    def now(self) -> Millis:
        return int(self._clock() * 1000)

    @property
    def policy(self) -> SessionPolicy:
        return self._policy

    @property
    def refresh_tokens(self) -> RefreshTokens:
        return self._refresh_tokens

    # -- start ----------------------------------------------------------------------------

    def start(self, request: StartRequest) -> IssuedTokens:
        """Start a session, enforcing the per-user limit in the same transaction that
        creates it, conditioned on the per-user version read here: a concurrent start
        makes it fail and we read again, so the limit holds however many logins race.

        A password change (`new_password_hash`) stores the hash, raises the user's
        not-before time to the new session's creation and ends every live session in the
        same transaction, so no older session survives the change by a moment. Expired
        session items are removed on the way, so that reads stay bounded by live state."""
        changing_password = request.new_password_hash is not None
        for attempt in range(MAX_START_ATTEMPTS):
            loaded = request.loaded if attempt == 0 else None
            state = loaded.result() if loaded else self._store.load_user(request.user_id)
            if state is None or state.profile.disabled:
                raise InvalidGrant()
            now = max(self.now(), state.profile.not_before or 0)
            live = state.live(now)
            ending = (live if changing_password else self._evictions(live))[:MAX_ENDED_AT_ONCE]
            session, refresh = self._new_session(request, now)
            reason: RevocationReason = request.reason if changing_password else "evicted"
            try:
                self._store.start_session(
                    NewSession(
                        session=session,
                        expected_version=state.profile.session_version,
                        ended=ended_record(request.user_id, ending, reason, now),
                        pruned=tuple(state.expired(now)[:MAX_PRUNED_AT_ONCE]),
                        credential=request.credential,
                        new_password_hash=request.new_password_hash,
                        second_factor=request.second_factor,
                        spends=request.spends,
                    )
                )
            except StaleWrite:
                self.back_off(attempt)
                continue
            except CredentialChanged:
                raise InvalidGrant(
                    "The account's credentials have just changed; log in again."
                ) from None
            except SecondFactorSpent:
                raise InvalidGrant(
                    "The proof (a code, an mfa_token or a passkey sign-in) has been used."
                ) from None
            if not changing_password:
                for victim in ending:
                    logger.info("session evicted", session_id=victim.session_id)
            return self.issue(session, refresh, now)
        logger.warning("gave up starting a session under contention", user_id=request.user_id)
        raise Unavailable(retry_after=1)

    def _new_session(self, request: StartRequest, now: Millis) -> tuple[Session, RefreshToken]:
        user_id, client = request.user_id, request.client
        session_id = str(uuid.uuid4())
        absolute_expires_at = self._policy.absolute_expiry(now, request.central)
        refresh = self._refresh_tokens.issue(
            user_id, session_id, 0, absolute_expires_at, central=request.central
        )
        session = Session(
            user_id=user_id,
            session_id=session_id,
            created_at=now,
            last_used_at=now,
            idle_expires_at=self._policy.idle_expiry(now, request.central),
            absolute_expires_at=absolute_expires_at,
            ip=client.ip,
            user_agent=client.user_agent[:MAX_USER_AGENT_LENGTH],
            refresh_digests=frozenset({refresh.digest}),
            auth_time=now,
            amr=request.amr,
            central=request.central,
            provider=request.provider,
        )
        return session, refresh

    def _evictions(self, live: Sequence[Session]) -> list[Session]:
        excess = len(live) - self._policy.max_sessions_per_user + 1
        if excess <= 0:
            return []
        if self._policy.limit_policy == "reject":
            raise SessionLimitReached()
        # "Oldest" is least recently used: a session in daily use outlives an idle one.
        # Ties (the same millisecond) go by id, so that every store, whatever order it
        # reads sessions in, evicts the same one.
        by_last_use = sorted(live, key=lambda s: (s.last_used_at, s.created_at, s.session_id))
        # Far more live sessions than the limit (it was lowered) come down over logins.
        return by_last_use[: min(excess, MAX_ENDED_AT_ONCE)]

    def back_off(self, attempt: int, attempts: int = MAX_START_ATTEMPTS) -> None:
        """Wait before attempt `attempt + 1` of `attempts`; not after the last one."""
        if attempt + 1 >= attempts:
            return
        ceiling = min(FIRST_BACK_OFF_SECONDS * 2**attempt, MAX_BACK_OFF_SECONDS)
        self._sleep(random.uniform(0, ceiling))  # noqa: S311

    # -- refresh --------------------------------------------------------------------------

    def refresh(self, raw_token: str, client: ClientInfo) -> IssuedTokens:
        """Exchange a refresh token for a new pair; the old token is spent.

        The exchange is one conditional write, which also refuses a session created before
        the user's not_before (read just before). Only when DynamoDB refuses it do we look
        at why: the previous token inside the grace window rotates again, any other genuine
        older token is reuse and ends the session."""
        token = self._refresh_tokens.parse(raw_token)
        if token.central:
            raise InvalidGrant("A central session's token is not refreshed: sign in to the app.")
        now = self.now()
        if now >= token.absolute_expires_at:
            raise InvalidGrant("The session has expired.")
        profile = self._store.find_profile(token.user_id)
        if profile is None:
            raise InvalidGrant("The session has ended.")
        # The rotation's time is when it is sent (the read may have been slow): the grace
        # window of a client retrying after a lost answer starts there.
        now = self.now()
        fresh = self._refresh_tokens.issue(
            token.user_id,
            token.session_id,
            token.generation + 1,
            token.absolute_expires_at,
            token.proof_id,
        )
        rotation = self._rotation(token, fresh, client, now, new_generation=fresh.generation)
        try:
            session = self._store.rotate(replace(rotation, not_before=profile.not_before))
        except RotationRefused as refused:
            if _holds(refused.current, fresh):
                # Our own write, applied before its answer was lost (a retry of it was
                # refused for the change it made): the exchange happened.
                return self.issue(refused.current, fresh, now)
            return self._after_refusal(token, refused.current, client, now, profile.not_before)
        return self.issue(session, fresh, now)

    def _rotation(
        self,
        token: RefreshToken,
        fresh: RefreshToken,
        client: ClientInfo,
        now: Millis,
        new_generation: int | None,
    ) -> Rotation:
        return Rotation(
            user_id=token.user_id,
            session_id=token.session_id,
            presented_digest=token.digest,
            new_digest=fresh.digest,
            now=now,
            idle_expires_at=self._policy.idle_expiry(now),
            absolute_expires_at=token.absolute_expires_at,
            new_generation=new_generation,
            window_start=now - self._policy.grace_ms,
            max_siblings=MAX_GRACE_SIBLINGS,
            required_ip=client.ip if self._policy.bind_to_ip else None,
            max_generation=self._policy.max_refreshes,
        )

    def _after_refusal(
        self,
        token: RefreshToken,
        current: Session | None,
        client: ClientInfo,
        now: Millis,
        not_before: Millis | None,
    ) -> IssuedTokens:
        # A second refusal can only follow a concurrent rotation; classify once more.
        for _ in range(2):
            if (
                current is not None
                and current.is_live(now)
                and not current.is_live(now, not_before)
            ):
                # Older than the last password change and still here: end it now.
                self.end_one(current, "password_changed", now)
            if current is None or not current.is_live(now, not_before):
                raise InvalidGrant("The session has ended.")
            if self._policy.bind_to_ip and current.ip != client.ip:
                self.end_one(current, "ip_changed", now)
                raise InvalidGrant("The session has ended: the client address changed.")
            if token.digest in current.refresh_digests:
                max_refreshes = self._policy.max_refreshes
                if max_refreshes is not None and current.generation >= max_refreshes:
                    self.end_one(current, "refresh_limit", now)
                    raise InvalidGrant("The session has reached its refresh limit.")
                raise InvalidGrant()
            if not self._within_grace(token, current, now):
                break
            sibling = self._refresh_tokens.issue(
                token.user_id,
                token.session_id,
                current.generation,
                token.absolute_expires_at,
                token.proof_id,
            )
            try:
                rotation = self._rotation(token, sibling, client, now, new_generation=None)
                rotation = replace(rotation, not_before=not_before)
                return self.issue(self._store.rotate(rotation), sibling, now)
            except RotationRefused as refused:
                if _holds(refused.current, sibling):
                    return self.issue(refused.current, sibling, now)
                current = refused.current
        if current is not None and token.generation < current.generation:
            # The MAC proved we issued this token, and it has been exchanged before.
            self.end_one(current, "reuse_detected", now)
            logger.warning(
                "refresh token reuse detected; session revoked",
                user_id=current.user_id,
                session_id=current.session_id,
                presented_generation=token.generation,
                current_generation=current.generation,
            )
        raise InvalidGrant()

    def _within_grace(self, token: RefreshToken, current: Session, now: Millis) -> bool:
        grace_ms = self._policy.grace_ms
        return (
            grace_ms > 0
            and token.digest == current.previous_digest
            and current.rotated_at is not None
            and now - current.rotated_at <= grace_ms
        )

    # -- authorize ------------------------------------------------------------------------

    def authorize(self, access_token: str, consistent: bool = True) -> AuthorizedSession:
        """A valid access token of a live session (an app's, of its live grant too), in one
        DynamoDB round trip; with `consistent=False` (AuthorizerConsistentRead), a read that
        may lag by about a second, and a second, consistent one before refusing: a refusal
        may be cached, and a session started moments ago must not be refused for a lagging
        read."""
        claims = self._access_tokens.verify(access_token)
        found = self._live(claims, consistent)
        if found is None and not consistent:
            found = self._live(claims, consistent=True)
        if found is None:
            raise InvalidToken("The session has ended.")
        session, username = found
        return AuthorizedSession(claims=claims, session=session, username=username)

    def _live(self, claims: AccessTokenClaims, consistent: bool) -> tuple[Session, str] | None:
        session, profile = self._store.authorization_lookup(
            claims.user_id, claims.session_id, consistent, grant_id=claims.grant_id
        )
        if (
            session is None
            or profile is None
            or profile.disabled
            or not session.is_live(self.now(), profile.not_before)
        ):
            return None
        return session, profile.username

    # -- the sessions of a user -----------------------------------------------------------

    def list_sessions(self, user_id: str) -> list[Session]:
        """The user's live sessions, newest first."""
        state = self._store.load_user(user_id)
        if state is None:
            return []
        return sorted(state.live(self.now()), key=lambda s: s.created_at, reverse=True)

    def end_one(self, session: Session, reason: RevocationReason, now: Millis) -> bool:
        """End one session; False when it had ended (or expired) already."""
        ended = ended_record(session.user_id, [session], reason, now)
        return ended is not None and self._store.end_sessions(ended, now)

    # -- issue ----------------------------------------------------------------------------

    def issue(self, session: Session, refresh: RefreshToken, now: Millis) -> IssuedTokens:
        # The sign-in of the client the refresh token was issued to (its step-up, if any).
        auth_time, amr = session.proven(refresh.proof_id)
        access = self._access_tokens.mint(
            session.user_id,
            session.session_id,
            not_after=session.expires_at // 1000,
            auth_time=auth_time // 1000,
            amr=amr,
            proof_id=refresh.proof_id,
        )
        return IssuedTokens(
            access_token=access.token,
            expires_in=access.expires_in,
            refresh_token=refresh.value,
            refresh_expires_in=max(0, (session.expires_at - now) // 1000),
            session=session,
        )


def _holds(current: Session | None, issued: RefreshToken) -> TypeGuard[Session]:
    """Whether the session as it is now holds the token this request was writing: its
    digest is new and random, so only this request's write can have put it there."""
    return current is not None and issued.digest in current.refresh_digests
