"""The limits of proofs beyond the login's scopes (contract v3): an account's wrong
second-factor proofs per window and in a row (after SECOND_FACTOR_FAILURES_MAX in a row
TOTP locks until a recovery code, a passkey or an admin reset is used), an mfa_token's
three tries, and a session's wrong step-ups over its life (the one that reaches
STEP_UP_FAILURES_PER_SESSION ends it). No known device, session or address exempts a
second-factor proof: its attempt holds a place in every login scope as well.

When an account reaches its window's limit, or TOTP locks, the record of it (the event
SecondFactorFailing, and the user's activity) is written once per window, whatever the
number of attempts that find it so."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import replace
from typing import Literal

from session_service.domain.accounts.account_changes import account_event
from session_service.domain.concurrency import Pending
from session_service.domain.errors import InvalidGrant, InvalidToken, RateLimited, Unavailable
from session_service.domain.models import (
    ClientInfo,
    Credential,
    Millis,
    Reservation,
    ThrottleScope,
)
from session_service.domain.ports import MfaChallenge, SessionStore
from session_service.domain.throttling.login_throttle import (
    LoginThrottle,
    Opening,
    client_address,
    throttled_name,
)
from session_service.observability import logger

# What a second-factor proof is: a TOTP code counts toward the lock, and is refused by it.
ProofKind = Literal["totp", "recovery_code", "passkey", "email_code"]
MFA_TOKEN_TRIES = 3
# A run of failures is kept this long after it started (a counter must expire some day).
RUN_RETENTION_MS = 366 * 86_400_000
# Recovery codes and passkeys still count in the run once TOTP is locked: never refused.
UNLIMITED = 2**31 - 1
TOTP_LOCKED = (
    "Too many wrong codes: TOTP is locked. Sign in with a recovery code or a passkey "
    "instead (or ask an administrator to lift the lock)."
)
TOKEN_SPENT = "The mfa_token is invalid or has expired."
SESSION_ENDED = "The session has ended after too many wrong proofs."


def account_name(credential: Credential) -> str:
    """An account as its second-factor scopes name it: with the generation an
    administrator moves on when lifting the login lock, so that its counts start afresh."""
    generation = credential.throttle_generation
    return f"{credential.user_id}~{generation}" if generation else credential.user_id


class ProofThrottle:
    def __init__(
        self,
        throttle: LoginThrottle,
        store: SessionStore,
        end_session: Callable[[str, str], bool],
        session_lifetime_seconds: int,
    ) -> None:
        """`end_session(user_id, session_id)` ends a session for reason reauth_failed."""
        self._throttle = throttle
        self._store = store
        self._end_session = end_session
        self._session_lifetime_ms = session_lifetime_seconds * 1000

    def opening(self, ip: str, username_key: str) -> AbstractContextManager[Opening]:
        """LoginThrottle.opening: the address's place taken while the block reads."""
        return self._throttle.opening(ip, username_key)

    def alongside[T](self, side: Callable[[], object], main: Callable[[], T]) -> T:
        return self._throttle.parallel.alongside(side, main)

    # -- an account's second factor -------------------------------------------------------

    def account_scopes(
        self, credential: Credential, kind: ProofKind
    ) -> tuple[ThrottleScope, ThrottleScope]:
        policy = self._throttle.policy
        name = account_name(credential)
        limit = policy.second_factor_failures_per_window
        window = ThrottleScope(f"factor#{name}", limit, mark=limit)
        run = ThrottleScope(
            f"factor-run#{name}",
            policy.second_factor_failures_max if kind == "totp" else UNLIMITED,
            span=(0, self._throttle.now() + RUN_RETENTION_MS),
            resets=True,
            mark=policy.second_factor_failures_max,
        )
        return window, run

    def reserve_second_step[T](
        self,
        challenge: MfaChallenge,
        credential: Credential,
        kind: ProofKind,
        opening: Opening,
        read: Callable[[], T] | None = None,
    ) -> tuple[Reservation, Pending[T] | None]:
        """Places for the second step of a login, `read` alongside (Opening.reserve_with):
        the address's first, then in one transaction its mfa_token's tries, the login's
        other scopes (a known device included: a code is never exempt) and the account's
        own (whatever the address), all or none: an attempt a full scope refuses holds no
        place of another, so the counts a judged failure sees are of attempts that are
        judged too."""
        tries = ThrottleScope(
            f"mfa#{challenge.digest}", MFA_TOKEN_TRIES, span=(0, challenge.expires_at)
        )
        name = throttled_name(challenge.username_key, credential)
        account = self._run_then_window(credential, kind)
        try:
            return opening.reserve_with(read, name, before=(tries,), account=account)
        except RateLimited as full:
            if full.scope == tries.key:
                raise InvalidGrant(TOKEN_SPENT) from None
            raise self._explained(full) from None

    def reserve_factor(self, credential: Credential, kind: ProofKind) -> Reservation:
        """Places in the account's own scopes only: a code after a right password in a
        step-up, whose attempt holds the login scopes already."""
        try:
            return self._throttle.reserve_scopes(self._run_then_window(credential, kind))
        except RateLimited as full:
            raise self._explained(full) from None

    def reserve_email_code(self, mailbox: str, ip: str) -> Reservation:
        """Places for a try of an e-mailed code, in scopes of their own (not the password
        scopes): the client address's (LOGIN_FAILURES_PER_IP) and a window of the
        address it was mailed to (SECOND_FACTOR_FAILURES_PER_WINDOW),
        taken alike whether or not the address is an account's, so that the answers
        tell nobody which addresses are. Not the account's own second-factor window:
        guessing codes needs no password, and must not let anyone who knows an address
        lock its owner's TOTP and passkeys out (nor, a right code, lift the TOTP lock)."""
        policy = self._throttle.policy
        scopes = (
            ThrottleScope(
                f"email-code-ip#{client_address(ip)}", policy.failures_per_ip, address=True
            ),
            ThrottleScope(f"email-code#{mailbox}", policy.second_factor_failures_per_window),
        )
        try:
            return self._throttle.reserve_scopes(scopes)
        except RateLimited as full:
            if (full.scope or "").startswith("email-code#"):
                description = "Too many wrong codes for this address; try later."
                raise RateLimited(full.retry_after, description, full.scope) from None
            raise

    def reserve_reset_factor(self, credential: Credential, ip: str, kind: ProofKind) -> Reservation:
        """Places for the second factor of a reset: every login scope (no device is known
        to a reset) and the account's own, as a login's second step holds."""
        try:
            return self._throttle.reserve(
                throttled_name(credential.username_key, credential),
                ip,
                known_device=False,
                account=self._run_then_window(credential, kind),
            )
        except RateLimited as full:
            raise self._explained(full) from None

    def judge_email_code[T](self, reservation: Reservation, attempt: Callable[[], T]) -> T:
        """Run a try of an e-mailed code holding its places (a wrong one keeps them)."""
        return self._throttle.judge(reservation, attempt)

    def _run_then_window(
        self, credential: Credential, kind: ProofKind
    ) -> tuple[ThrottleScope, ThrottleScope]:
        """The run first: a locked TOTP code is refused as locked (the first full scope
        names the refusal), and holds no place of the window (one transaction, all or
        none), whose count then stays the count of proofs judged."""
        window, run = self.account_scopes(credential, kind)
        return run, window

    def _explained(self, full: RateLimited) -> RateLimited:
        scope = full.scope or ""
        if scope.startswith("factor-run#"):
            return RateLimited(full.retry_after, TOTP_LOCKED, scope)
        if scope.startswith("factor#"):
            description = "Too many wrong second-factor proofs for this account; try later."
            return RateLimited(full.retry_after, description, scope)
        return full

    def judge_factor[T](
        self,
        reservation: Reservation,
        credential: Credential,
        client: ClientInfo,
        attempt: Callable[[], T],
    ) -> T:
        """Run a second-factor proof holding its places: a wrong one keeps them and may
        make the account's second factor failing; a right one lifts the TOTP lock."""
        return self.judge_factor_then(reservation, credential, client, attempt, lambda proof: proof)

    def judge_factor_then[P, T](
        self,
        reservation: Reservation,
        credential: Credential,
        client: ClientInfo,
        prove: Callable[[], P],
        then: Callable[[P], T],
    ) -> T:
        """As judge_factor; once proven, the places go back while `then` runs."""
        try:
            return self._throttle.judge_then(reservation, prove, then)
        except InvalidGrant as wrong:
            if not wrong.after_proof:
                self._failing(reservation, credential, client)
            raise

    def passkey_used(self, credential: Credential) -> None:
        """A passkey proved the user: the run of wrong proofs ends (TOTP unlocks)."""
        self._throttle.reset(self.account_scopes(credential, "passkey")[1])

    def _failing(
        self, reservation: Reservation, credential: Credential, client: ClientInfo
    ) -> None:
        """A wrong proof, judged: when it filled the account's window, or locked TOTP, the
        record of it (once per window, however many find it so)."""
        policy = self._throttle.policy
        window_scope, run_scope = self.account_scopes(credential, "totp")
        reached = []
        if window_scope.key in reservation.reached:
            reached.append(("window_limit", policy.second_factor_failures_per_window))
        if run_scope.key in reservation.reached:
            reached.append(("totp_locked", policy.second_factor_failures_max))
        for reason, failures in reached:
            self._record_failing(credential, client, reason, failures, reservation.window)

    def _record_failing(
        self, credential: Credential, client: ClientInfo, reason: str, failures: int, window: int
    ) -> None:
        logger.warning("second factor failing", user_id=credential.user_id, reason=reason)
        now: Millis = self._throttle.now()
        event = account_event(credential.user_id, "SecondFactorFailing", now, client=client)
        # One record per account, reason and window, however many attempts reach it.
        record_id = f"second-factor-failing.{credential.user_id}.{reason}.{window}"
        failing = replace(event, record_id=record_id, reason=reason, failures=failures)
        try:
            self._store.record_account_event_once(failing)
        except Unavailable:
            logger.warning("a failing second factor could not be recorded")

    # -- a session's proofs -----------------------------------------------------------------

    def session_scope(self, session_id: str) -> ThrottleScope:
        """A session's wrong step-ups (and wrong current passwords), over its life."""
        until = self._throttle.now() + self._session_lifetime_ms
        limit = self._throttle.policy.step_up_failures_per_session
        return ThrottleScope(f"step-up#{session_id}", limit, span=(0, until), mark=limit)

    def reserve_from_session[T](
        self,
        session_id: str,
        name: str,
        opening: Opening,
        known_device: bool,
        read: Callable[[], T] | None = None,
    ) -> tuple[Reservation, Pending[T] | None]:
        """Places for a proof made from a session: the session's own with the login's
        (Opening.reserve_with, `read` alongside). A session out of places answers 429
        (the wrong proof that filled it ended it)."""
        scope = self.session_scope(session_id)
        return opening.reserve_with(read, name, known_device=known_device, before=(scope,))

    def judge_from_session[P, T](
        self,
        reservation: Reservation,
        user_id: str,
        session_id: str,
        prove: Callable[[], P],
        then: Callable[[P], T],
    ) -> T:
        """Run a proof made from a session (once proven, its places go back while `then`
        runs): the wrong one that fills the session's scope ends it (reason
        reauth_failed)."""
        try:
            return self._throttle.judge_then(reservation, prove, then)
        except InvalidGrant as wrong:
            if wrong.after_proof:
                raise
            if self.session_scope(session_id).key in reservation.reached:
                logger.warning("session ended after repeated wrong step-ups", user_id=user_id)
                self._end_session(user_id, session_id)
                raise InvalidToken(SESSION_ENDED) from None
            raise
