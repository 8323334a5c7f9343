"""The OpenID Connect provider's lifecycle (docs/sso.md): a central session issues codes,
a code's exchange starts an app's grant, a grant's refresh token rotates, and every grant
is active only while its central session lives. The protocol's parsing and checks (OAuth
parameters, client authentication, PKCE) are Authlib's, in edge/oauth2; this is what they
decide on."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from session_service.domain.errors import InvalidGrant, InvalidToken, Unavailable
from session_service.domain.models import AccountEvent, Millis, Session, UserProfile
from session_service.domain.ports import SessionStore, StaleWrite
from session_service.domain.sessions.session_records import SessionPolicy
from session_service.domain.sessions.tokens import AccessTokens, RefreshTokens
from session_service.domain.sso.grant_exchange import (
    MAX_GRANTS_PER_SESSION,
    exchange_within_cap,
    time_ordered_id,
)
from session_service.domain.sso.grant_tokens import (
    GrantRefreshToken,
    GrantTokens,
    digest,
    is_code,
    new_code,
)
from session_service.domain.sso.id_tokens import signed_id_token, user_claims
from session_service.domain.sso.records import (
    CODE_TTL_MS,
    AuthorizationCode,
    CentralSessionEnded,
    CodeSpent,
    Grant,
    GrantStore,
)
from session_service.observability import logger

# Apps' uses extend a central session's idle timeout once in this (or a tenth of it) at most
KEEP_ALIVE_STEP_MS = 60_000


@dataclass(frozen=True, slots=True)
class CentralSession:
    """A browser's live central session, as its cookie names it."""

    user_id: str
    session_id: str
    auth_time: Millis
    amr: tuple[str, ...]
    expires_at: Millis
    username: str
    last_used_at: Millis = 0
    absolute_expires_at: Millis = 0


@dataclass(frozen=True, slots=True)
class CodeRequest:
    """What an authorization request asked for, checked by the edge already."""

    client_id: str
    redirect_uri: str
    scope: str
    nonce: str | None
    code_challenge: str


@dataclass(frozen=True, slots=True)
class AppTokens:
    access_token: str
    expires_in: int
    refresh_token: str
    scope: str
    id_token: str | None = None


@dataclass(frozen=True, slots=True)
class ActiveGrant:
    """A grant whose central session lives, that session, and the user it is for."""

    grant: Grant
    session: Session
    profile: UserProfile


class SingleSignOn:
    def __init__(
        self,
        grants: GrantStore,
        sessions: SessionStore,
        access_tokens: AccessTokens,
        session_tokens: RefreshTokens,
        grant_tokens: GrantTokens,
        policy: SessionPolicy,
        clock: Callable[[], float] = time.time,
        max_grants: int = MAX_GRANTS_PER_SESSION,
    ) -> None:
        self._max_grants = max_grants
        self._policy = policy
        self._grants = grants
        self._sessions = sessions
        self._access_tokens = access_tokens
        self._session_tokens = session_tokens
        self._grant_tokens = grant_tokens
        self._clock = clock

    def _now(self) -> Millis:
        return Millis(int(self._clock() * 1000))

    # -- the central session ------------------------------------------------------------------

    def central_session(self, cookie_token: str | None) -> CentralSession | None:
        """The live central session whose token the browser's cookie holds, if any. The
        token is never rotated by use: two apps' sign-ins at once must not race."""
        if not cookie_token:
            return None
        try:
            token = self._session_tokens.parse_central(cookie_token)
        except InvalidGrant:
            return None
        live = self._live_session(token.user_id, token.session_id)
        if live is None or token.digest not in live[0].refresh_digests:
            return None
        return _central(*live, token.proof_id)

    def _live_session(
        self, user_id: str, session_id: str, grant_id: str | None = None
    ) -> tuple[Session, UserProfile] | None:
        """A central session and its user, if it lives (in its timeouts, after the last
        password change), the account is enabled and `grant_id`'s grant (an app's token's)
        hangs on it: what single sign-on hangs on. One read of all (the authorizer's)."""
        lookup = self._sessions.authorization_lookup
        session, profile = lookup(user_id, session_id, grant_id=grant_id)
        if (
            session is None
            or profile is None
            or profile.disabled
            or not session.is_live(self._now(), profile.not_before)
        ):
            return None
        return session, profile

    def _keep_alive(self, central: CentralSession, now: Millis) -> None:
        """An app's use of the central session (an authorization, a refresh) pushes its idle
        timeout back: one conditional write of its expiry, at most once a step."""
        idle_ms = self._policy.idle_expiry(Millis(0), central=True)
        if now - central.last_used_at < min(KEEP_ALIVE_STEP_MS, idle_ms // 10):
            return
        idle_expires_at = Millis(min(now + idle_ms, central.absolute_expires_at))
        try:
            self._grants.keep_alive(central.user_id, central.session_id, idle_expires_at, now)
        except Unavailable:
            logger.warning("the central session's idle timeout was not extended")

    # -- codes --------------------------------------------------------------------------------

    def issue_code(
        self, central: CentralSession, request: CodeRequest, value: str | None = None
    ) -> str:
        """A code for this request (`value`, or a new one: the edge may draw it)."""
        value = value or new_code()
        now = self._now()
        self._keep_alive(central, now)
        self._grants.put_code(
            AuthorizationCode(
                digest=digest(value),
                client_id=request.client_id,
                redirect_uri=request.redirect_uri,
                code_challenge=request.code_challenge,
                scope=request.scope,
                nonce=request.nonce,
                user_id=central.user_id,
                session_id=central.session_id,
                auth_time=central.auth_time,
                amr=central.amr,
                grant_id=time_ordered_id(now),  # its grant's age: the cap ends the oldest
                issued_at=now,
                # never beyond the central session it hangs on
                expires_at=Millis(min(now + CODE_TTL_MS, central.expires_at)),
            )
        )
        return value

    def find_code(self, value: object, client_id: str) -> AuthorizationCode | None:
        """The code a client presents, if it is that client's and still good. A code
        presented again ends the grant its first exchange started (RFC 6749 §4.1.2)."""
        if not is_code(value):
            return None
        assert isinstance(value, str)
        code = self._grants.find_code(digest(value))
        if code is None or code.client_id != client_id:
            return None
        if code.spent:
            self._grants.end_grant(code.user_id, code.session_id, code.grant_id)
            return None
        return code if code.is_live(self._now()) else None

    def exchange(self, code: AuthorizationCode) -> AppTokens:
        """Spend a code found by find_code (and checked by the edge: redirect URI, PKCE)
        and start its grant. A concurrent exchange of the same code that spent it first
        has its grant ended, as a replay's would be."""
        now = self._now()
        live = self._live_session(code.user_id, code.session_id)
        if live is None:
            raise InvalidGrant("The sign-in this code comes from has ended.")
        session, profile = live
        refresh = self._grant_tokens.issue(code.user_id, code.session_id, code.grant_id, 0)
        grant = Grant(
            user_id=code.user_id,
            grant_id=code.grant_id,
            client_id=code.client_id,
            session_id=code.session_id,
            scope=code.scope,
            nonce=code.nonce,
            auth_time=code.auth_time,
            amr=code.amr,
            created_at=now,
            expires_at=session.absolute_expires_at,
            refresh_digest=refresh.digest,
        )
        signed_in = AccountEvent(
            str(uuid.uuid4()),
            code.user_id,
            "SsoSignIn",
            now,
            client_id=code.client_id,
            session_id=code.session_id,
        )
        try:
            exchange_within_cap(self._grants, code, grant, signed_in, self._max_grants)
        except CodeSpent:
            self._grants.end_grant(code.user_id, code.session_id, code.grant_id)
            raise InvalidGrant("The authorization code was used already.") from None
        except CentralSessionEnded:
            raise InvalidGrant("The sign-in this code comes from has ended.") from None
        return self._tokens(grant, refresh, profile, session, id_token=True)

    # -- grants -------------------------------------------------------------------------------

    def refresh(self, client_id: str, value: object) -> AppTokens:
        """Rotate an app's refresh token. A token older than the grant's current one ends
        the grant (reuse); only the app's own grant is touched."""
        token = self._grant_tokens.parse(value)
        active = self.active_grant(token.user_id, token.session_id, token.grant_id)
        if active is None or active.grant.client_id != client_id:
            raise InvalidGrant("The refresh token is not active.")
        grant = active.grant
        now = self._now()
        if token.digest != grant.refresh_digest:
            if grant.racing(token.digest, now):
                raise InvalidGrant("The refresh token was used at the same time.")
            self._grants.end_grant(grant.user_id, grant.session_id, grant.grant_id)
            raise InvalidGrant("The refresh token was used already; the grant has ended.")
        following = self._grant_tokens.issue(
            grant.user_id, grant.session_id, grant.grant_id, grant.generation + 1
        )
        try:
            self._grants.rotate_grant(grant, following.digest, now)
        except StaleWrite:
            # Another exchange of this very token, at this very moment, won: one client's
            # racing requests (two tabs), not a thief's replay of an old token; the winner
            # keeps the grant.
            raise InvalidGrant("The refresh token was used at the same time.") from None
        self._keep_alive(_central(active.session, active.profile), now)
        rotated = replace(grant, refresh_digest=following.digest, generation=grant.generation + 1)
        return self._tokens(rotated, following, active.profile, active.session, id_token=False)

    def active_grant(self, user_id: str, session_id: str, grant_id: str) -> ActiveGrant | None:
        """The grant, if it and its central session both live."""
        grant = self._grants.find_grant(user_id, session_id, grant_id)
        if grant is None:
            return None
        live = self._live_session(user_id, session_id)
        if live is None or self._now() >= grant.expires_at:
            return None
        return ActiveGrant(grant, *live)

    def revoke_refresh_token(self, client_id: str, value: object) -> None:
        """RFC 7009: end the grant of this client's refresh token; anything else is ignored
        (the endpoint answers 200 either way)."""
        try:
            token = self._grant_tokens.parse(value)
        except InvalidGrant:
            return
        grant = self._grants.find_grant(token.user_id, token.session_id, token.grant_id)
        if grant is not None and grant.client_id == client_id:
            self._grants.end_grant(grant.user_id, grant.session_id, grant.grant_id)

    def introspect(self, value: str, client_id: str | None = None) -> dict[str, Any]:
        """RFC 7662's answer for an access or a refresh token of an app: active while the
        central session lives; for a client, its own tokens only (another's are
        inactive to it: nothing about them is told)."""
        if GrantTokens.looks_like_one(value):
            return self._introspect_refresh(value, client_id)
        try:
            claims = self._access_tokens.verify(value)
        except InvalidToken:
            return {"active": False}
        if client_id is not None and claims.client_id != client_id:
            return {"active": False}
        live = self._live_session(claims.user_id, claims.session_id, claims.grant_id)
        if live is None:
            return {"active": False}
        _, profile = live
        return {
            "active": True,
            "token_type": "access_token",
            "sub": claims.user_id,
            "sid": claims.session_id,
            "exp": claims.expires_at,
            "iat": claims.issued_at,
            "iss": self._access_tokens.issuer(),
            "username": profile.username,
        }

    def userinfo(self, access_token: str) -> dict[str, Any]:
        """OpenID Connect Core §5.3: the claims an app's token with `openid` may read,
        while its central session lives."""
        claims = self._access_tokens.verify(access_token)
        scopes = frozenset((claims.scope or "").split())
        if claims.client_id is None or "openid" not in scopes:
            raise InvalidToken("The access token is not an app's token with the openid scope.")
        live = self._live_session(claims.user_id, claims.session_id, claims.grant_id)
        if live is None:
            raise InvalidToken("The sign-in this token comes from has ended.")
        return {"sub": claims.user_id, **user_claims(live[1], scopes)}

    def _introspect_refresh(self, value: str, client_id: str | None) -> dict[str, Any]:
        try:
            token = self._grant_tokens.parse(value)
        except InvalidGrant:
            return {"active": False}
        active = self.active_grant(token.user_id, token.session_id, token.grant_id)
        if active is None or active.grant.refresh_digest != token.digest:
            return {"active": False}
        if client_id is not None and active.grant.client_id != client_id:
            return {"active": False}
        grant = active.grant
        return {
            "active": True,
            "token_type": "refresh_token",
            "client_id": grant.client_id,
            "scope": grant.scope,
            "sub": grant.user_id,
            "sid": grant.session_id,
            "exp": grant.expires_at // 1000,
            "iss": self._access_tokens.issuer(),
            "username": active.profile.username,
        }

    # -- tokens -------------------------------------------------------------------------------

    def _tokens(
        self,
        grant: Grant,
        refresh: GrantRefreshToken,
        profile: UserProfile,
        session: Session,
        id_token: bool,
    ) -> AppTokens:
        not_after = min(grant.expires_at, session.expires_at) // 1000
        access = self._access_tokens.mint(
            grant.user_id,
            grant.session_id,
            not_after=not_after,
            auth_time=grant.auth_time // 1000,
            amr=grant.amr,
            app_claims=grant.access_claims,
        )
        return AppTokens(
            access_token=access.token,
            expires_in=access.expires_in,
            refresh_token=refresh.value,
            scope=grant.scope,
            id_token=(
                signed_id_token(self._access_tokens, grant, profile, not_after, self._clock)
                if id_token
                else None
            ),
        )


def _central(session: Session, profile: UserProfile, proof_id: str | None = None) -> CentralSession:
    auth_time, amr = session.proven(proof_id)  # the cookie's renewal's, or the start's
    return CentralSession(
        user_id=session.user_id,
        session_id=session.session_id,
        auth_time=auth_time,
        amr=amr,
        expires_at=session.expires_at,
        username=profile.username,
        last_used_at=session.last_used_at,
        absolute_expires_at=session.absolute_expires_at,
    )
