"""DynamoDB's TransactionConflict under contention, injected: AWS cancels a transaction that
meets another write in flight on one of its items, and refuses a single write to an item a
transaction has in flight; neither moto nor DynamoDB Local ever does (8 threads x 10
transactions on one item: no cancellation on either). A burst of logins meeting such
conflicts never overshoots the session limit nor the throttle's, never fails but as a 503
with Retry-After, and gives back every place it does not keep; a login that meets nothing
else gives up within the API function's Timeout, holding nothing."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError

from harness.domain import CLIENT, THROTTLE, Services
from harness.stack import Stack
from session_service.domain.errors import ServiceError, Unavailable
from session_service.domain.flows.password_flows import LoginRequest
from session_service.domain.ports import SessionStore
from session_service.domain.sessions.lifecycle import MAX_BACK_OFF_SECONDS, MAX_START_ATTEMPTS
from session_service.domain.throttling.attempt_places import WRITE_ATTEMPTS
from tests.helpers import burst
from tests.integration.backends import BACKENDS, ROOM_FOR_BURSTS

pytestmark = pytest.mark.parametrize("backend", BACKENDS, indirect=True)

PASSWORD = "correct horse"


def on_throttle(params: Any) -> bool:
    """Whether a call writes the throttle's counters (else: the sessions' items)."""
    return "THROTTLE#" in str(params.get("TransactItems") or params.get("Key"))


class Conflicts:
    """TransactWriteItems cancelled with TransactionConflict (and, with `releases`,
    UpdateItems refused with TransactionConflictException), at a given rate, at botocore's
    edge (so the store's own error mapping runs), on the sessions' items or, with
    `throttle`, on the throttle's counters."""

    def __init__(self, rate: float, seed: int, throttle: bool, releases: bool) -> None:
        self.rate = rate
        self.random = random.Random(seed)
        self.lock = threading.Lock()
        self.throttle = throttle
        self.releases = releases
        self.injected = 0
        self.attempts = 0

    def wrap(self, original: Any) -> Any:
        def call(client: BaseClient, operation: str, params: Any) -> Any:
            transaction = operation == "TransactWriteItems"
            release = self.releases and operation == "UpdateItem" and ":minus_one" in str(params)
            if (transaction or release) and on_throttle(params) == self.throttle:
                with self.lock:
                    self.attempts += 1
                    conflict = self.random.random() < self.rate
                    self.injected += conflict
                if conflict:
                    raise _conflict(operation, params)
            return original(client, operation, params)

        return call


def _conflict(operation: str, params: Any) -> ClientError:
    if operation == "UpdateItem":
        error = {"Code": "TransactionConflictException", "Message": "x"}
        return ClientError({"Error": error}, operation)
    reasons = [{"Code": "None"}] * len(params["TransactItems"])
    reasons[0] = {"Code": "TransactionConflict"}
    error = {"Code": "TransactionCanceledException", "Message": "x"}
    return ClientError({"Error": error, "CancellationReasons": reasons}, operation)


@pytest.fixture
def conflicts(monkeypatch: pytest.MonkeyPatch, stores: object) -> Callable[..., Conflicts]:
    """Install conflicts at this rate (after the stores, so under moto's one-at-a-time)."""

    def install(rate: float, throttle: bool = False, releases: bool = False) -> Conflicts:
        injected = Conflicts(rate, seed=7, throttle=throttle, releases=releases)
        monkeypatch.setattr(BaseClient, "_make_api_call", injected.wrap(BaseClient._make_api_call))
        return injected

    return install


def held_places(stack: Stack, prefix: str) -> int:
    """The places the throttle's counters hold, in scopes whose key starts with `prefix`
    (but the registration's, never given back)."""
    return sum(
        int(item["attempts"]["N"])
        for item in stack.items()
        if item["pk"]["S"].startswith(f"THROTTLE#{prefix}")
        and not item["pk"]["S"].startswith("THROTTLE#register#")
    )


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
    conflicts: Callable[..., Conflicts],
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
    conflicts: Callable[..., Conflicts],
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


@pytest.mark.parametrize("rate", [0.5, 0.9])
def test_a_burst_of_wrong_passwords_under_conflicts_has_exactly_the_limit_judged(
    services_with: Callable[..., Services],
    stack: Stack,
    conflicts: Callable[..., Conflicts],
    rate: float,
) -> None:
    # Given a user, and the throttle's transactions and releases meeting others in flight
    services = services_with()
    services.accounts.register("ada", PASSWORD, CLIENT.ip)
    injected = conflicts(rate, throttle=True, releases=True)

    def wrong(_: int) -> str:
        try:
            services.accounts.login(LoginRequest("ada", "a wrong password", CLIENT))
        except ServiceError as error:
            return type(error).__name__
        return "ok"

    # When 24 wrong passwords arrive at once
    outcomes = burst(24, wrong)
    # Then at most the limit are judged, the others refused or told to retry, and the
    # counters hold exactly the judged failures' places
    assert injected.injected > 0
    assert set(outcomes) <= {"InvalidGrant", "RateLimited", "Unavailable"}
    judged = outcomes["InvalidGrant"]
    assert 1 <= judged <= THROTTLE.failures_per_username_and_ip
    counters = held_places(stack, "user-ip#ada#")
    assert counters == judged


def test_a_right_password_under_conflicting_releases_gives_every_place_back(
    services_with: Callable[..., Services],
    stack: Stack,
    conflicts: Callable[..., Conflicts],
) -> None:
    # Given releases that meet a reservation in flight on their counter half the time
    services = services_with()
    services.accounts.register("ada", PASSWORD, CLIENT.ip)
    injected = conflicts(0.5, throttle=True, releases=True)
    # When the owner logs in ten times
    for _ in range(10):
        services.accounts.login(LoginRequest("ada", PASSWORD, CLIENT))
    # Then each release was sent again until it landed: no place is left held
    assert injected.injected > 0
    assert held_places(stack, "") == 0


def test_a_reservation_that_meets_only_conflicts_answers_503_and_holds_nothing(
    services_with: Callable[..., Services],
    stack: Stack,
    conflicts: Callable[..., Conflicts],
) -> None:
    services = services_with()
    services.accounts.register("ada", PASSWORD, CLIENT.ip)
    injected = conflicts(1.0, throttle=True)
    assert login_outcome(services) == "Unavailable, retry after 1"
    # It sent the username's places as often as it may, and gave the address's back
    assert injected.attempts == WRITE_ATTEMPTS
    assert held_places(stack, "") == 0


def test_a_known_devices_one_place_meeting_a_transaction_in_flight_is_sent_again(
    services_with: Callable[..., Services],
    stack: Stack,
    monkeypatch: pytest.MonkeyPatch,
    stores: object,
) -> None:
    # Given the owner's known device, whose one account place (the username's from this
    # address) is a plain write, and another attempt's transaction in flight on that
    # counter the first two times it is sent
    services = services_with()
    services.accounts.register("ada", PASSWORD, CLIENT.ip)
    device = services.accounts.login(LoginRequest("ada", PASSWORD, CLIENT)).device
    assert device is not None
    refused: list[str] = []
    original = BaseClient._make_api_call

    def call(client: BaseClient, operation: str, params: Any) -> Any:
        taking = operation == "UpdateItem" and ":one" in str(params)
        if taking and "THROTTLE#user-ip#" in str(params["Key"]) and len(refused) < 2:
            refused.append(operation)
            error = {"Code": "TransactionConflictException", "Message": "x"}
            raise ClientError({"Error": error}, operation)
        return original(client, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", call)
    # When it logs in, it gets in: the write was sent again, not answered 503
    request = LoginRequest("ada", PASSWORD, CLIENT, device_token=device.value)
    assert services.accounts.login(request).session.user_id
    assert refused == ["UpdateItem", "UpdateItem"]
    assert held_places(stack, "") == 0
