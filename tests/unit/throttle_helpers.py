"""What the throttle's unit tests share: a login attempt's outcome, and a count of the
passwords argon2 checks."""

from __future__ import annotations

import threading
from typing import Any

from harness.domain import Domain
from tests.helpers import login_as

WRONG = "wrong password!"


def attempt(
    domain: Domain,
    username: str = "ada",
    ip: str = "203.0.113.7",
    password: str = WRONG,
    **kwargs: Any,
) -> str:
    """The outcome of a login attempt (a wrong password by default, from CLIENT's
    address): the error's name."""
    from session_service.domain.errors import ServiceError  # noqa: PLC0415
    from session_service.domain.models import ClientInfo  # noqa: PLC0415

    client = ClientInfo(ip=ip, user_agent="x")
    try:
        login_as(domain, username, password, client, **kwargs)
    except ServiceError as error:
        return type(error).__name__
    return "ok"


class CountingVerifier:
    """Counts the passwords argon2 actually checks (an unknown user's dummy check goes
    through `verify` too)."""

    def __init__(self, domain: Domain) -> None:
        self.count = 0
        self._lock = threading.Lock()
        verify = domain.passwords.verify

        def counted_verify(password_hash: str, password: str) -> bool:
            with self._lock:
                self.count += 1
            return verify(password_hash, password)

        domain.passwords.verify = counted_verify  # type: ignore[method-assign]
