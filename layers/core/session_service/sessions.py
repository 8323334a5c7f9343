"""The session lifecycle: start, refresh (rotate), authorize, revoke, list, limit, expire."""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from session_service.config import Settings
from session_service.errors import (
    InvalidGrant,
    InvalidToken,
    NotFound,
    SessionLimitReached,
    Unavailable,
)
from session_service.models import (
    ClientInfo,
    Credential,
    Millis,
    RevocationReason,
    Session,
    is_issued_id,
)
from session_service.observability import logger
from session_service.store import (
    CredentialChanged,
    RotationRefused,
    SessionStore,
    StaleWrite,
    ttl_seconds,
)
from session_service.tokens import AccessTokenClaims, AccessTokens, RefreshToken, RefreshTokens

# Concurrent logins of one user serialise on its per-user item; each round lets at least
# one through, so a burst of N logins needs at most N rounds.
MAX_START_ATTEMPTS = 24
# Siblings a refresh token may get inside the grace window (two tabs, a lost response).
MAX_GRACE_SIBLINGS = 8
MAX_USER_AGENT_LENGTH = 512
# Sessions a password change revokes in its own transaction (DynamoDB's limit is 100
# items); live sessions beyond it (possible only after MAX_SESSIONS_PER_USER was lowered)
# are refused by their not-before time at once and revoked by the PasswordChanged consumer.
MAX_REVOKED_AT_ONCE = 90


@dataclass(frozen=True, slots=True)
class SessionPolicy:
    access_token_ttl_seconds: int
    idle_timeout_seconds: int
    absolute_timeout_seconds: int
    max_sessions_per_user: int
    limit_policy: str
    reuse_grace_seconds: int
    max_refreshes: int | None
    bind_to_ip: bool

    @classmethod
    def from_settings(cls, settings: Settings) -> SessionPolicy:
        return cls(
            access_token_ttl_seconds=settings.access_token_ttl_seconds,
            idle_timeout_seconds=settings.session_idle_timeout_seconds,
            absolute_timeout_seconds=settings.session_absolute_timeout_seconds,
            max_sessions_per_user=settings.max_sessions_per_user,
            limit_policy=settings.session_limit_policy,
            reuse_grace_seconds=settings.refresh_reuse_grace_seconds,
            max_refreshes=settings.session_max_refreshes,
            bind_to_ip=settings.bind_session_to_ip,
        )


@dataclass(frozen=True, slots=True)
class IssuedTokens:
    access_token: str
    expires_in: int
    refresh_token: str
    refresh_expires_in: int
    session: Session


@dataclass(frozen=True, slots=True)
class AuthorizedSession:
    claims: AccessTokenClaims
    session: Session
    username: str


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

    def _now(self) -> Millis:
        return int(self._clock() * 1000)

    # -- start ----------------------------------------------------------------------------

    def start(
        self,
        user_id: str,
        client: ClientInfo,
        credential: Credential | None = None,
        new_password_hash: str | None = None,
        clear_failures: bool = False,
    ) -> IssuedTokens:
        """A new session for a user who just proved who they are.

        The per-user limit is enforced in the same transaction that creates the session,
        conditioned on the per-user version read here; a concurrent start makes it fail
        and we read again, so the limit holds however many logins race.

        With `new_password_hash` this is a password change: the same transaction stores
        the hash, raises the user's not-before time to the new session's creation and
        revokes every live session, so no older session survives the change by a moment."""
        changing_password = new_password_hash is not None
        for attempt in range(MAX_START_ATTEMPTS):
            state = self._store.load_user(user_id)
            if state is None:
                raise InvalidGrant()
            now = max(self._now(), state.profile.not_before or 0)
            live = state.live(now)
            revoked = live[:MAX_REVOKED_AT_ONCE] if changing_password else self._evictions(live)
            session, refresh = self._new_session(user_id, client, now)
            try:
                self._store.start_session(
                    session,
                    expected_version=state.profile.session_version,
                    revoked=revoked,
                    reason="password_changed" if changing_password else "evicted",
                    revocation_ttl=self._revocation_ttl(now),
                    credential=credential,
                    new_password_hash=new_password_hash,
                    clear_failures=clear_failures,
                )
            except StaleWrite:
                self._back_off(attempt)
                continue
            except CredentialChanged:
                raise InvalidGrant("The password has just changed; log in again.") from None
            if not changing_password:
                for victim in revoked:
                    logger.info("session evicted", session_id=victim.session_id, user_id=user_id)
            return self._issue(session, refresh, now)
        logger.warning("gave up starting a session under contention", user_id=user_id)
        raise Unavailable(retry_after=1)

    def _new_session(
        self, user_id: str, client: ClientInfo, now: Millis
    ) -> tuple[Session, RefreshToken]:
        session_id = str(uuid.uuid4())
        absolute_expires_at = now + self._policy.absolute_timeout_seconds * 1000
        refresh = self._refresh_tokens.issue(user_id, session_id, 0, absolute_expires_at)
        session = Session(
            user_id=user_id,
            session_id=session_id,
            created_at=now,
            last_used_at=now,
            idle_expires_at=now + self._policy.idle_timeout_seconds * 1000,
            absolute_expires_at=absolute_expires_at,
            ip=client.ip,
            user_agent=client.user_agent[:MAX_USER_AGENT_LENGTH],
            refresh_digests=frozenset({refresh.digest}),
        )
        return session, refresh

    def _evictions(self, live: Sequence[Session]) -> list[Session]:
        excess = len(live) - self._policy.max_sessions_per_user + 1
        if excess <= 0:
            return []
        if self._policy.limit_policy == "reject":
            raise SessionLimitReached()
        # "Oldest" is least recently used: a session in daily use outlives an idle one.
        by_last_use = sorted(live, key=lambda s: (s.last_used_at, s.created_at))
        # One transaction holds at most 100 items: far more live sessions than the limit
        # (the limit was lowered) are brought down over several logins.
        return by_last_use[: min(excess, MAX_REVOKED_AT_ONCE)]

    def _back_off(self, attempt: int) -> None:
        # Jittered and capped at 40 ms: a flood of logins to one account gives up within
        # about half a second instead of holding Lambda time for seconds.
        self._sleep(random.uniform(0, 0.005 * min(2**attempt, 8)))  # noqa: S311

    # -- refresh --------------------------------------------------------------------------

    def refresh(self, raw_token: str, client: ClientInfo) -> IssuedTokens:
        """Exchange a refresh token for a new pair; the old token is spent.

        The exchange is one conditional write. Only when DynamoDB refuses it do we look at
        why: the previous token inside the grace window rotates again, any other genuine
        older token is reuse and ends the session."""
        token = self._refresh_tokens.parse(raw_token)
        now = self._now()
        if now >= token.absolute_expires_at:
            raise InvalidGrant("The session has expired.")
        fresh = self._refresh_tokens.issue(
            token.user_id, token.session_id, token.generation + 1, token.absolute_expires_at
        )
        idle_expires_at = now + self._policy.idle_timeout_seconds * 1000
        try:
            session = self._store.rotate(
                token.user_id,
                token.session_id,
                presented_digest=token.digest,
                new_digest=fresh.digest,
                new_generation=fresh.generation,
                now=now,
                idle_expires_at=idle_expires_at,
                ttl=ttl_seconds(min(idle_expires_at, token.absolute_expires_at)),
                required_ip=client.ip if self._policy.bind_to_ip else None,
                max_generation=self._policy.max_refreshes,
            )
        except RotationRefused as refused:
            return self._after_refusal(token, refused.current, client, now)
        return self._issue(session, fresh, now)

    def _after_refusal(
        self, token: RefreshToken, current: Session | None, client: ClientInfo, now: Millis
    ) -> IssuedTokens:
        # A second refusal can only follow a concurrent rotation; classify once more.
        for _ in range(2):
            if current is None or not current.is_live(now):
                raise InvalidGrant("The session has ended.")
            if self._policy.bind_to_ip and current.ip != client.ip:
                self._end(current, "ip_changed", now)
                raise InvalidGrant("The session has ended: the client address changed.")
            if token.digest in current.refresh_digests:
                max_refreshes = self._policy.max_refreshes
                if max_refreshes is not None and current.generation >= max_refreshes:
                    self._end(current, "refresh_limit", now)
                    raise InvalidGrant("The session has reached its refresh limit.")
                raise InvalidGrant()
            if not self._within_grace(token, current, now):
                break
            try:
                return self._rotate_within_grace(token, current, client, now)
            except RotationRefused as refused:
                current = refused.current
        if current is not None and token.generation < current.generation:
            # The MAC proved we issued this token, and it has been exchanged before.
            self._end(current, "reuse_detected", now)
            logger.warning(
                "refresh token reuse detected; session revoked",
                user_id=current.user_id,
                session_id=current.session_id,
                presented_generation=token.generation,
                current_generation=current.generation,
            )
        raise InvalidGrant()

    def _within_grace(self, token: RefreshToken, current: Session, now: Millis) -> bool:
        grace_ms = self._policy.reuse_grace_seconds * 1000
        return (
            grace_ms > 0
            and token.digest == current.previous_digest
            and current.rotated_at is not None
            and now - current.rotated_at <= grace_ms
        )

    def _rotate_within_grace(
        self, token: RefreshToken, current: Session, client: ClientInfo, now: Millis
    ) -> IssuedTokens:
        sibling = self._refresh_tokens.issue(
            token.user_id, token.session_id, current.generation, token.absolute_expires_at
        )
        idle_expires_at = now + self._policy.idle_timeout_seconds * 1000
        session = self._store.rotate_within_grace(
            token.user_id,
            token.session_id,
            presented_digest=token.digest,
            new_digest=sibling.digest,
            now=now,
            window_start=now - self._policy.reuse_grace_seconds * 1000,
            idle_expires_at=idle_expires_at,
            ttl=ttl_seconds(min(idle_expires_at, token.absolute_expires_at)),
            max_siblings=MAX_GRACE_SIBLINGS,
            required_ip=client.ip if self._policy.bind_to_ip else None,
        )
        return self._issue(session, sibling, now)

    # -- authorize ------------------------------------------------------------------------

    def authorize(self, access_token: str) -> AuthorizedSession:
        """A valid access token of a live session, in one DynamoDB round trip."""
        claims = self._access_tokens.verify(access_token)
        session, profile = self._store.authorization_lookup(claims.user_id, claims.session_id)
        if (
            session is None
            or profile is None
            or not session.is_live(self._now(), profile.not_before)
        ):
            raise InvalidToken("The session has ended.")
        return AuthorizedSession(claims=claims, session=session, username=profile.username)

    # -- the sessions of a user -----------------------------------------------------------

    def list_sessions(self, user_id: str) -> list[Session]:
        """The user's live sessions, newest first."""
        state = self._store.load_user(user_id)
        if state is None:
            return []
        return sorted(state.live(self._now()), key=lambda s: s.created_at, reverse=True)

    def revoke_session(self, user_id: str, session_id: str) -> None:
        """Sign out one of the caller's own devices. Another user's session or an unknown
        id is simply not found: the key includes the caller, so ids cannot be probed."""
        if not is_issued_id(session_id):
            raise NotFound("No such session.")
        now = self._now()
        if (
            self._store.revoke(user_id, session_id, "logout", now, self._revocation_ttl(now))
            is None
        ):
            raise NotFound("No such session.")

    def revoke_other_sessions(self, user_id: str, current_session_id: str) -> int:
        """Sign out everywhere else."""
        now = self._now()
        revoked = 0
        for session in self.list_sessions(user_id):
            if session.session_id == current_session_id:
                continue
            ended = self._store.revoke(
                user_id, session.session_id, "logout", now, self._revocation_ttl(now)
            )
            revoked += ended is not None
        return revoked

    # -- end ------------------------------------------------------------------------------

    def logout(self, user_id: str, session_id: str) -> None:
        """End a session; ending an ended session changes nothing."""
        self._store.revoke(user_id, session_id, "logout", self._now(), self._revocation_ttl())

    def logout_with(self, access_token: str | None, refresh_token: str | None) -> None:
        """Logout names its session by a Bearer access token or by a refresh token; any
        genuine token of the session will do (an old one could end it as reuse anyway)."""
        if access_token:
            claims = self._access_tokens.verify(access_token)
            self.logout(claims.user_id, claims.session_id)
        elif refresh_token:
            token = self._refresh_tokens.parse(refresh_token)
            self.logout(token.user_id, token.session_id)
        else:
            raise InvalidToken("Send a Bearer access token or a refresh token.")

    def end_sessions_before(self, user_id: str, changed_at: Millis) -> int:
        """After a password change: no session created before `changed_at` lives on.

        Raising the user's not-before time ends them for the authorizer at once; revoking
        each one records why and tells other systems. Repeating this changes nothing."""
        self._store.raise_not_before(user_id, changed_at)
        now = self._now()
        revoked = 0
        for session in self._store.sessions_of(user_id):
            # Sessions already over need no revocation; newer ones survive the change.
            if not session.is_live(now) or session.created_at >= changed_at:
                continue
            ended = self._store.revoke(
                user_id,
                session.session_id,
                "password_changed",
                now,
                self._revocation_ttl(now),
                created_before=changed_at,
            )
            revoked += ended is not None
        return revoked

    def end_replaced(self, refresh_token: str, user_id: str) -> None:
        """End the session a new login replaces (the browser's previous cookie), if it is
        a genuine token of the same user; anything else is ignored."""
        try:
            token = self._refresh_tokens.parse(refresh_token)
        except InvalidGrant:
            return
        if token.user_id == user_id:
            self.logout(token.user_id, token.session_id)

    def _end(self, session: Session, reason: RevocationReason, now: Millis) -> None:
        self._store.revoke(
            session.user_id, session.session_id, reason, now, self._revocation_ttl(now)
        )

    def _revocation_ttl(self, now: Millis | None = None) -> int:
        """A revoked session stays readable (the revocation list) until every access token
        it issued has expired, the verification leeway included."""
        now = self._now() if now is None else now
        return ttl_seconds(now + (self._policy.access_token_ttl_seconds + 1) * 1000)

    # -- issue ----------------------------------------------------------------------------

    def _issue(self, session: Session, refresh: RefreshToken, now: Millis) -> IssuedTokens:
        access = self._access_tokens.mint(
            session.user_id, session.session_id, not_after=session.expires_at // 1000
        )
        return IssuedTokens(
            access_token=access.token,
            expires_in=access.expires_in,
            refresh_token=refresh.value,
            refresh_expires_in=max(0, (session.expires_at - now) // 1000),
            session=session,
        )
