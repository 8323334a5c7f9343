"""CPU time of the domain's operations over the in-memory store (harness/fakes.py): what the
service itself spends per request, with no AWS round trip in it."""

from __future__ import annotations

from dataclasses import dataclass

from bench.timing import Timing, measure
from harness.domain import CHEAP_ARGON2, CLIENT, THROTTLE, build_domain
from session_service.domain.accounts.passwords import Passwords
from session_service.domain.flows.password_flows import Accounts, LoginRequest
from session_service.domain.throttling.login_throttle import LoginThrottle

PASSWORD = "correct horse battery"


@dataclass(frozen=True)
class OperationFigures:
    name: str
    description: str
    timing: Timing


def run() -> list[OperationFigures]:
    domain = build_domain()  # RS256, cheap argon2, a clock that does not move
    domain.accounts.register("ada", PASSWORD, CLIENT.ip)
    ada = LoginRequest("ada", PASSWORD, CLIENT)
    issued = domain.accounts.login(ada)

    # The same store and session service with the service's real argon2 parameters.
    real_accounts = Accounts(
        domain.store,
        domain.sessions,
        domain.ending,
        Passwords(),
        LoginThrottle(domain.store, THROTTLE, now=lambda: int(domain.clock() * 1000)),
        domain.devices,
        domain.second_factors,
        domain.proofs,
        clock=domain.clock,
    )
    grace = LoginRequest("grace", PASSWORD, CLIENT)
    real_accounts.register("grace", PASSWORD, CLIENT.ip)

    access_token = issued.access_token
    refresh_token = [issued.refresh_token]

    def refresh() -> None:
        refresh_token[0] = domain.sessions.refresh(refresh_token[0], CLIENT).refresh_token

    cheap = CHEAP_ARGON2
    return [
        OperationFigures(
            "authorize",
            "verify the access token (RS256) and look the session up",
            measure(lambda: domain.sessions.authorize(access_token)),
        ),
        OperationFigures(
            "refresh",
            "parse and check the refresh token, rotate it, mint an access token",
            measure(refresh),
        ),
        OperationFigures(
            "login, cheap argon2",
            f"argon2id t={cheap.time_cost}, m={cheap.memory_cost_kib} KiB (unit tests' "
            "parameters), then start a session",
            measure(
                lambda: domain.accounts.login(ada),
                min_runs=50,
                max_runs=300,
            ),
        ),
        OperationFigures(
            "login, real argon2",
            "argon2id at the service's parameters (Passwords()), then start a session",
            measure(
                lambda: real_accounts.login(grace),
                min_runs=20,
                max_runs=60,
                min_seconds=1.0,
            ),
        ),
    ]
