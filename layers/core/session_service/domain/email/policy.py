"""The e-mail settings the domain keeps to, and the mailing throttle: messages per address
and per client address in each login window (EMAILS_PER_ADDRESS, EMAILS_PER_IP)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from session_service.domain.email.addresses import address_digest, mailbox_of
from session_service.domain.errors import Conflict, RateLimited, Unavailable
from session_service.domain.models import Millis, Reservation, ThrottleScope
from session_service.domain.throttling.login_throttle import LoginThrottle, client_address

NOT_CONFIGURED = "E-mail is not configured on this service (EMAIL_SENDER)."
# Wrong verification codes an account may send in a day (a guess at 1 in a million each).
WRONG_VERIFICATIONS_PER_DAY = 20
DAY_MS = 86_400_000
SIGN_IN_OFF = "Sign-in by e-mailed code is off on this service (EMAIL_SIGN_IN)."


@dataclass(frozen=True, slots=True)
class EmailPolicy:
    enabled: bool = False
    sign_in: bool = False
    reset_ttl_seconds: int = 900
    code_ttl_seconds: int = 600
    per_address: int = 5
    per_ip: int = 50

    def require_enabled(self) -> None:
        if not self.enabled:
            raise Conflict(NOT_CONFIGURED)

    def require_sign_in(self) -> None:
        self.require_enabled()
        if not self.sign_in:
            raise Conflict(SIGN_IN_OFF)


class MailThrottle:
    """A place per message in its recipient's scope and its client address's, never
    given back: a message asked for is a message counted, sent or not. Only AWS failing to
    record the message gives them back: none was asked for, and the client may retry."""

    def __init__(self, throttle: LoginThrottle, policy: EmailPolicy) -> None:
        self._throttle = throttle
        self._policy = policy

    def reserve(self, recipient: str, ip: str) -> Reservation:
        """Places for one message to `recipient` (an address, or a username the account
        is found by) from `ip`; RateLimited when either scope is full."""
        scopes = (
            ThrottleScope(f"mail-ip#{client_address(ip)}", self._policy.per_ip, address=True),
            ThrottleScope(
                f"mail-to#{address_digest(mailbox_of(recipient))}", self._policy.per_address
            ),
        )
        return self._throttle.reserve_scopes(scopes)

    def record(
        self, recipient: str, ip: str, write: Callable[[], None], refuse: bool = False
    ) -> bool:
        """Ask for one message (`write` records it) within the limits, its places taken
        first: False, and nothing written, when a scope is full (the routes that always
        answer 202 then send nothing), or RateLimited with `refuse`. When AWS fails the
        write (503), its places are given back."""
        try:
            reservation = self.reserve(recipient, ip)
        except RateLimited:
            if refuse:
                raise
            return False
        try:
            write()
        except Unavailable:
            self._throttle.release(reservation)
            raise
        return True

    def verification_try[T](self, user_id: str, now: Millis, judge: Callable[[], T]) -> T:
        """Judge a try of a verification code holding a place of the account's day
        (WRONG_VERIFICATIONS_PER_DAY): five tries a code and five codes a window would
        otherwise let an account guess at a code mailed to someone else's address all
        year. A wrong code keeps its place; a right one gives it back."""
        day = now // DAY_MS
        scope = ThrottleScope(
            f"verify#{user_id}", WRONG_VERIFICATIONS_PER_DAY, span=(day, (day + 1) * DAY_MS)
        )
        try:
            reservation = self._throttle.reserve_scopes((scope,))
        except RateLimited as full:
            description = "Too many wrong codes today; try again tomorrow."
            raise RateLimited(full.retry_after, description, full.scope) from None
        return self._throttle.judge(reservation, judge)
