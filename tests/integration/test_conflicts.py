"""DynamoDB's TransactionConflict under contention, injected: AWS cancels a transaction that
meets another write in flight on one of its items, and neither moto nor DynamoDB Local ever
does (8 threads x 10 transactions on one item: no cancellation on either). A burst of logins
meeting such conflicts never overshoots the session limit and never fails but as a 503 with
Retry-After; a login that meets nothing else gives up within the API function's Timeout."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError

from harness.domain import CLIENT, Services
from harness.stack import Stack
from session_service.domain.errors import ServiceError, Unavailable
from session_service.domain.flows.password_flows import LoginRequest
from session_service.domain.ports import SessionStore
from session_service.domain.sessions.lifecycle import MAX_BACK_OFF_SECONDS, MAX_START_ATTEMPTS
from tests.helpers import burst
from tests.integration.backends import BACKENDS, ROOM_FOR_BURSTS

pytestmark = pytest.mark.parametrize("backend", BACKENDS, indirect=True)

PASSWORD = "correct horse"


class Conflicts:
    """TransactWriteItems cancelled with TransactionConflict, at a given rate, at
    botocore's edge (so the store's own error mapping runs)."""

    def __init__(self, rate: float, seed: int) -> None:
        self.rate = rate
        self.random = random.Random(seed)
        self.lock = threading.Lock()
        self.injected = 0
        self.attempts = 0

    def wrap(self, original: Any) -> Any:
        def call(client: BaseClient, operation: str, params: Any) -> Any:
            if operation == "TransactWriteItems":
                with self.lock:
                    self.attempts += 1
                    conflict = self.random.random() < self.rate
                    self.injected += conflict
                if conflict:
                    reasons = [{"Code": "None"}] * len(params["TransactItems"])
                    reasons[0] = {"Code": "TransactionConflict"}
                    raise ClientError(
                        {
                            "Error": {"Code": "TransactionCanceledException", "Message": "x"},
                            "CancellationReasons": reasons,
                        },
                        operation,
                    )
            return original(client, operation, params)

        return call


@pytest.fixture
def conflicts(monkeypatch: pytest.MonkeyPatch, stores: object) -> Callable[[float], Conflicts]:
    """Install conflicts at this rate (after the stores, so under moto's one-at-a-time)."""

    def install(rate: float) -> Conflicts:
        injected = Conflicts(rate, seed=7)
        monkeypatch.setattr(BaseClient, "_make_api_call", injected.wrap(BaseClient._make_api_call))
        return injected

    return install


def login_outcome(services: Services) -> str:
    try:
        services.accounts.login(LoginRequest("ada", PASSWORD, CLIENT))
    except Unavailable as error:
        return f"Unavailable, retry after {error.retry_after}"
    except ServiceError as error:
        return type(error).__name__
    return "ok"


@pytest.mark.parametrize("rate", [0.5, 0.9])
def test_a_burst_under_conflicts_never_overshoots_and_fails_only_as_503(
    services_with: Callable[..., Services],
    store: SessionStore,
    conflicts: Callable[[float], Conflicts],
    rate: float,
) -> None:
    services = services_with(ROOM_FOR_BURSTS, max_sessions_per_user=3)
    user_id = services.accounts.register("ada", PASSWORD, CLIENT.ip)
    injected = conflicts(rate)
    # Every thread finishes with an outcome: an exception other than the service's own
    # (a 500) would leave one missing
    outcomes = burst(12, lambda _: login_outcome(services))
    assert sum(outcomes.values()) == 12
    assert set(outcomes) <= {"ok", "Unavailable, retry after 1"}
    assert injected.injected > 0
    state = store.load_user(user_id)
    assert state is not None
    assert len(state.sessions) == min(3, outcomes["ok"])
    assert outcomes["ok"] >= 3


def test_a_login_that_meets_only_conflicts_gives_up_within_the_function_timeout(
    services_with: Callable[..., Services],
    store: SessionStore,
    conflicts: Callable[[float], Conflicts],
    stack: Stack,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    services = services_with()
    user_id = services.accounts.register("ada", PASSWORD, CLIENT.ip)
    # The back-off the service really waits (the suite's domain does not sleep)
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        time.sleep(seconds)

    monkeypatch.setattr(services.sessions, "_sleep", sleep)
    injected = conflicts(1.0)
    began = time.monotonic()
    outcome = login_outcome(services)
    elapsed = time.monotonic() - began
    # It tried as often as it may, waited no more than its back-off's cap, answered 503
    # with Retry-After, and left no session
    assert outcome == "Unavailable, retry after 1"
    assert injected.attempts == MAX_START_ATTEMPTS
    assert len(slept) == MAX_START_ATTEMPTS - 1  # none after the last attempt
    assert sum(slept) <= (MAX_START_ATTEMPTS - 1) * MAX_BACK_OFF_SECONDS
    timeout = stack.template.functions()["ApiFunction"]["Properties"]["Timeout"]
    assert elapsed < timeout
    state = store.load_user(user_id)
    assert state is not None
    assert state.sessions == ()
