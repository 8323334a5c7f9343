"""Back-channel logout (OpenID Connect Back-Channel Logout 1.0): when a central session
ends, whatever ended it, every app that took part hears it from the service itself, by a
logout token POSTed to its back-channel logout URI; then the session's grants go.

The ended sessions of one batch are told together, and all of their deliveries share one
deadline. Each app has a lane of threads of its own (an equal share of MAX_THREADS), so an
app that never answers, or answers byte by byte, holds its own lane until the deadline and
never a thread another app's deliveries wait for."""

from __future__ import annotations

import contextvars
import functools
import math
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Protocol

from session_service.domain.sessions.tokens import AccessTokens
from session_service.domain.sso.clients import OAuthClient
from session_service.domain.sso.records import Grant, GrantStore
from session_service.domain.sso.redirect_uris import reaches_loopback

LOGOUT_TOKEN_TYPE = "logout+jwt"
LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"
# A logout token is for now: the app checks it on receipt (spec §2.4 has no lifetime).
LOGOUT_TOKEN_SECONDS = 120
# Tries of one delivery, each given at most TRY_SECONDS, and the pause before each retry:
# an app that is down for a moment still hears it within the contract's 5 s.
ATTEMPTS = 3
TRY_SECONDS = 2.0
BACK_OFF_SECONDS = (0.5, 1.5)
# The contract's: every app hears of the ending within 5 s. A batch's deliveries end by
# then, or sooner if the invocation must: MARGIN_SECONDS before its end, kept for parking
# what was not delivered and forgetting the grants.
DELIVERY_SECONDS = 5.0
MARGIN_SECONDS = 3.0
# A try that would have less time than this is not started: no app answers so fast.
MIN_TRY_SECONDS = 0.1
# Threads of a batch's deliveries, shared equally among its apps (each app's lane has at
# least one, and no more than its deliveries): a batch of 25 sessions and 4 apps runs all
# of its 100 deliveries at once; an app that hangs holds its own lane until the deadline.
MAX_THREADS = 100
# How long past the deadline a batch waits for a try still running.
GRACE_SECONDS = 0.25
DEADLINE_PASSED = "deadline passed"
# Threads reading a batch's grants and clients: botocore keeps 10 connections to DynamoDB,
# and more threads would wait for one.
PLANNING_THREADS = 10


class DeliveryFailed(Exception):
    """The app did not answer 200 (or 204) in time."""


class LogoutDelivery(Protocol):
    def post(self, uri: str, logout_token: str, timeout: float) -> None:
        """POST `logout_token=...` (form) to the app, returning or raising within
        `timeout` seconds in all (however slowly the app answers); DeliveryFailed if it
        refused or did not answer in time."""
        ...


@dataclass(frozen=True, slots=True)
class EndedSession:
    user_id: str
    session_id: str


@dataclass(frozen=True, slots=True)
class Undelivered:
    """An app that never took its logout token: the dead-letter queue and the event
    BackchannelLogoutFailed say so; nothing secret (the token is not kept)."""

    user_id: str
    session_id: str
    client_id: str
    uri: str
    reason: str


@dataclass(frozen=True, slots=True)
class SessionLogout:
    """What became of one ended session's logout tokens."""

    session: EndedSession
    undelivered: tuple[Undelivered, ...] = ()
    # Apps whose URI is on this machine's own loopback, not told (deliver_to_loopback off).
    skipped: tuple[str, ...] = ()
    # The service's own failure (reading the grants or a client, signing, forgetting the
    # grants): the session is to be told again, its grants are kept for that.
    failure: Exception | None = None


@dataclass(slots=True)
class _Plan:
    session: EndedSession
    grants: list[Grant] = field(default_factory=list)
    targets: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failure: Exception | None = None


def _lanes(plans: Sequence[_Plan]) -> dict[str, ThreadPoolExecutor]:
    """A pool of threads for each app of the batch: MAX_THREADS shared equally, at least
    one each, never more than its deliveries."""
    deliveries = Counter(client_id for plan in plans for client_id, _ in plan.targets)
    share = max(1, MAX_THREADS // max(1, len(deliveries)))
    return {
        client_id: ThreadPoolExecutor(min(count, share), thread_name_prefix="backchannel")
        for client_id, count in deliveries.items()
    }


# A delivery under way: the app (client id, URI) and what becomes of it.
type _Delivery = tuple[str, str, Future[Undelivered | None]]


class BackchannelLogout:
    def __init__(
        self,
        grants: GrantStore,
        find_client: Callable[[str], OAuthClient | None],
        tokens: AccessTokens,
        delivery: LogoutDelivery,
        *,
        deliver_to_loopback: bool = False,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._grants = grants
        self._find_client = find_client
        self._tokens = tokens
        self._delivery = delivery
        self._deliver_to_loopback = deliver_to_loopback
        self._clock = clock
        self._monotonic = monotonic
        self._sleep = sleep

    def sessions_ended(
        self, sessions: Sequence[EndedSession], time_left: float
    ) -> list[SessionLogout]:
        """Tell every app that took part in these sessions, all at once, within
        DELIVERY_SECONDS and `time_left` (the invocation's seconds) less MARGIN_SECONDS;
        then forget the sessions' grants. One outcome per session, in order: what could
        not be delivered is reported, never raised, so that one app that is down holds
        back no other app and no other session; a failure of the service is that
        session's alone."""
        deadline = self._monotonic() + min(DELIVERY_SECONDS, time_left - MARGIN_SECONDS)
        plans = self._plans(sessions)
        lanes = _lanes(plans)
        try:
            deliveries = [self._start(lanes, plan, deadline) for plan in plans]
            # Each try ends by the deadline (LogoutDelivery's promise); nothing waits for
            # a try beyond it and its grace.
            wait(
                [future for started in deliveries for _, _, future in started],
                timeout=max(0.0, deadline - self._monotonic()) + GRACE_SECONDS,
            )
        finally:
            for lane in lanes.values():
                lane.shutdown(wait=False, cancel_futures=True)
        return [
            self._settle(plan, planned) for plan, planned in zip(plans, deliveries, strict=True)
        ]

    def session_ended(
        self, user_id: str, session_id: str, time_left: float = math.inf
    ) -> list[Undelivered]:
        """One session's apps told (sessions_ended); the service's failure raised."""
        (outcome,) = self.sessions_ended([EndedSession(user_id, session_id)], time_left)
        if outcome.failure is not None:
            raise outcome.failure
        return list(outcome.undelivered)

    def _plans(self, sessions: Sequence[EndedSession]) -> list[_Plan]:
        """Every session's grants and apps, read at once (a thread each), each client
        once for the batch (functools.cache: a failure is not kept)."""
        find_client = functools.cache(self._find_client)
        if not sessions:
            return []
        threads = min(len(sessions), PLANNING_THREADS)
        with ThreadPoolExecutor(threads, thread_name_prefix="backchannel-plan") as pool:
            planned = [
                pool.submit(contextvars.copy_context().run, self._plan, session, find_client)
                for session in sessions
            ]
        return [future.result() for future in planned]

    def _plan(
        self, session: EndedSession, find_client: Callable[[str], OAuthClient | None]
    ) -> _Plan:
        plan = _Plan(session)
        try:
            plan.grants = self._grants.session_grants(session.user_id, session.session_id)
            for client_id in sorted({grant.client_id for grant in plan.grants}):
                client = find_client(client_id)
                uri = client.backchannel_logout_uri if client is not None else None
                if not uri:
                    continue
                if reaches_loopback(uri) and not self._deliver_to_loopback:
                    plan.skipped.append(client_id)
                else:
                    plan.targets.append((client_id, uri))
        except Exception as failure:  # whatever failed, it is this session's alone
            plan.failure = failure
            plan.targets = []
        return plan

    def _start(
        self, lanes: dict[str, ThreadPoolExecutor], plan: _Plan, deadline: float
    ) -> list[_Delivery]:
        # Each in its app's lane, in a copy of the invocation's context variables (what
        # tracing and the harness's record of AWS calls read), as a thread starts with none.
        return [
            (
                client_id,
                uri,
                lanes[client_id].submit(
                    contextvars.copy_context().run,
                    self._deliver,
                    plan.session,
                    client_id,
                    uri,
                    deadline,
                ),
            )
            for client_id, uri in plan.targets
        ]

    def _settle(self, plan: _Plan, deliveries: list[_Delivery]) -> SessionLogout:
        if plan.failure is not None:
            return SessionLogout(plan.session, failure=plan.failure)
        undelivered: list[Undelivered] = []
        try:
            for client_id, uri, future in deliveries:
                if future.done() and not future.cancelled():
                    outcome = future.result()
                else:
                    outcome = Undelivered(
                        plan.session.user_id,
                        plan.session.session_id,
                        client_id,
                        uri,
                        DEADLINE_PASSED,
                    )
                if outcome is not None:
                    undelivered.append(outcome)
            self._grants.end_grants(plan.session.user_id, plan.session.session_id, plan.grants)
        except Exception as failure:  # a token not signed, a grant not forgotten
            return SessionLogout(plan.session, failure=failure)
        return SessionLogout(plan.session, tuple(undelivered), tuple(plan.skipped))

    def _deliver(
        self, session: EndedSession, client_id: str, uri: str, deadline: float
    ) -> Undelivered | None:
        reason = DEADLINE_PASSED
        for attempt in range(ATTEMPTS):
            if attempt:
                pause = BACK_OFF_SECONDS[attempt - 1]
                if self._monotonic() + pause + MIN_TRY_SECONDS > deadline:
                    break
                self._sleep(pause)
            left = deadline - self._monotonic()
            if left < MIN_TRY_SECONDS:
                break
            token = self.logout_token(session.user_id, session.session_id, client_id)
            try:
                self._delivery.post(uri, token, min(TRY_SECONDS, left))
            except DeliveryFailed as failed:
                reason = str(failed)
            else:
                return None
        return Undelivered(session.user_id, session.session_id, client_id, uri, reason)

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
