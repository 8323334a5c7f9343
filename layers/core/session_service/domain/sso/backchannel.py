"""Back-channel logout (OpenID Connect Back-Channel Logout 1.0): when a central session
ends, whatever ended it, every app that took part hears it from the service itself, by a
logout token POSTed to its back-channel logout URI; then the session's grants go."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

from session_service.domain.sessions.tokens import AccessTokens
from session_service.domain.sso.clients import OAuthClient
from session_service.domain.sso.records import GrantStore

LOGOUT_TOKEN_TYPE = "logout+jwt"
LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"
# A logout token is for now: the app checks it on receipt (spec §2.4 has no lifetime).
LOGOUT_TOKEN_SECONDS = 120
# Tries of one delivery, in one invocation, and the pause before each retry: an app that
# is down for a few seconds still hears it within the contract's 5 s.
ATTEMPTS = 3
BACK_OFF_SECONDS = (0.5, 1.5)


class DeliveryFailed(Exception):
    """The app did not answer 200 (or 204) in time."""


class LogoutDelivery(Protocol):
    def post(self, uri: str, logout_token: str) -> None:
        """POST `logout_token=...` (form) to the app; DeliveryFailed if it refused."""
        ...


@dataclass(frozen=True, slots=True)
class Undelivered:
    """An app that never took its logout token: the dead-letter queue and the event
    BackchannelLogoutFailed say so; nothing secret (the token is not kept)."""

    user_id: str
    session_id: str
    client_id: str
    uri: str
    reason: str


class BackchannelLogout:
    def __init__(
        self,
        grants: GrantStore,
        find_client: Callable[[str], OAuthClient | None],
        tokens: AccessTokens,
        delivery: LogoutDelivery,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._grants = grants
        self._find_client = find_client
        self._tokens = tokens
        self._delivery = delivery
        self._clock = clock
        self._sleep = sleep

    def session_ended(self, user_id: str, session_id: str) -> list[Undelivered]:
        """Tell every app that took part, at once; then forget the session's grants.
        What could not be delivered is returned, never raised: one app that is down
        holds back no other app and no other session."""
        grants = self._grants.session_grants(user_id, session_id)
        clients = sorted({grant.client_id for grant in grants})
        targets = [
            (client_id, client.backchannel_logout_uri)
            for client_id in clients
            if (client := self._find_client(client_id)) is not None
            and client.backchannel_logout_uri
        ]
        undelivered: list[Undelivered] = []
        if targets:
            with ThreadPoolExecutor(min(len(targets), 8)) as pool:
                outcomes = pool.map(
                    lambda target: self._deliver(user_id, session_id, *target), targets
                )
                undelivered = [outcome for outcome in outcomes if outcome is not None]
        for grant in grants:
            self._grants.end_grant(grant.user_id, grant.grant_id)
        return undelivered

    def _deliver(
        self, user_id: str, session_id: str, client_id: str, uri: str
    ) -> Undelivered | None:
        reason = ""
        for attempt in range(ATTEMPTS):
            if attempt:
                self._sleep(BACK_OFF_SECONDS[attempt - 1])
            try:
                self._delivery.post(uri, self.logout_token(user_id, session_id, client_id))
                return None
            except DeliveryFailed as failed:
                reason = str(failed)
        return Undelivered(user_id, session_id, client_id, uri, reason)

    def logout_token(self, user_id: str, session_id: str, client_id: str) -> str:
        now = int(self._clock())
        claims = {
            "iss": self._tokens.issuer(),
            "aud": client_id,
            "iat": now,
            "exp": now + LOGOUT_TOKEN_SECONDS,
            "jti": str(uuid.uuid4()),
            "sub": user_id,
            "sid": session_id,
            "events": {LOGOUT_EVENT: {}},
        }
        return self._tokens.sign(claims, LOGOUT_TOKEN_TYPE)
