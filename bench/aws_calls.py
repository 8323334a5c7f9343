"""AWS calls per operation, counted at botocore's edge against moto.

Moto gets everything template.yaml declares (local_run.provision), the functions are
loaded as Lambda loads them and API Gateway's routing and authorizer run in front of them
(the in-process gateway of tests/integration). Every botocore call made while one of the
functions runs is counted and attributed to that function; the bench's own calls (reading
the table's stream, draining the queues that stand in for EventBridge targets) are not.

For each operation there are three counts:
- warm: the request path (authorizer and API function), containers already warm, with
  its round trips: the longest chain of calls each sent after the one before it answered
  (calls sent at once overlap, and count once; each call takes ROUND_TRIP_SECONDS more,
  as the network would make it, outside the lock that applies moto's calls one at a
  time);
- asynchronous: what the request sets off afterwards, the table's stream into the event
  publisher and the events it puts on the bus into their consumers;
- cold: the request path when every function it reaches starts with empty caches.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from botocore.client import BaseClient

from bench.moto_stack import AsyncPump, MotoStack, moto_stack
from bench.request_units import Meter, Units
from harness.round_trips import round_trips
from harness.stack import InProcessFunction
from session_service import wiring

USERNAME = "ada"
PASSWORDS = ("correct horse battery", "a brand new passphrase")
REPETITIONS = 3
# The network's part of a round trip, added to each call so that calls sent at once
# overlap in time whatever the machine's scheduling.
ROUND_TRIP_SECONDS = 0.01
# Services whose calls the report has a column for; any other service is still counted.
SERVICES = {
    "dynamodb": "DynamoDB",
    "secretsmanager": "Secrets Manager",
    "ssm": "SSM",
    "kms": "KMS",
    "events": "EventBridge",
    "sesv2": "SES",
}


@dataclass(frozen=True, order=True)
class Call:
    function: str  # the function folder: api, authorizer, event_publisher, ...
    service: str
    operation: str

    def __str__(self) -> str:
        return f"{self.service}.{self.operation}"


Calls = Counter[Call]
# DynamoDB request units, by the function that spent them.
FunctionUnits = dict[str, Units]


def total(units: FunctionUnits) -> Units:
    return sum(units.values(), Units())


class CallLog:
    """Counts botocore API calls made while a function of the stack is running, and the
    DynamoDB request units they spend (bench/request_units.py)."""

    def __init__(self) -> None:
        self.function: str | None = None
        self.calls: Calls = Counter()
        self.units: FunctionUnits = {}
        self.meter = Meter()
        self.spans: list[tuple[float, float]] = []
        self._lock = threading.Lock()

    @contextmanager
    def installed(self) -> Iterator[None]:
        log = self
        applying = threading.Lock()  # moto in process applies one call at a time
        unlocked = BaseClient._make_api_call

        def original(client: BaseClient, operation: str, params: Any) -> Any:
            with applying:
                return unlocked(client, operation, params)

        def counting(client: BaseClient, operation: str, params: Any) -> Any:
            function = log.function
            if function is None:
                return original(client, operation, params)
            started = time.perf_counter()
            time.sleep(ROUND_TRIP_SECONDS)
            try:
                return measured(client, operation, params, function)
            finally:
                with log._lock:
                    log.spans.append((started, time.perf_counter()))

        def measured(client: BaseClient, operation: str, params: Any, function: str) -> Any:
            service = client.meta.service_model.service_name
            with log._lock:
                log.calls[Call(function, service, operation)] += 1
            if service != "dynamodb":
                return original(client, operation, params)

            def charge(units: Units) -> None:
                with log._lock:
                    log.units[function] = log.units.get(function, Units()) + units

            def uncounted(name: str, arguments: dict[str, Any]) -> Any:
                return original(client, name, arguments)

            return log.meter.measure(operation, params, uncounted, charge)

        BaseClient._make_api_call = counting
        try:
            yield
        finally:
            BaseClient._make_api_call = unlocked

    def take(self) -> tuple[Calls, FunctionUnits]:
        taken = self.calls, self.units
        self.calls, self.units = Counter(), {}
        self.spans = []
        return taken

    def round_trips(self) -> int:
        """The round trips of the calls since `take` (harness/round_trips.py)."""
        return round_trips(self.spans)


@dataclass
class Containers:
    """Whether each invocation gets a new container (empty caches) or a warm one."""

    cold: bool = False


class CountedFunction:
    """A function whose AWS calls are attributed to it."""

    def __init__(
        self, inner: InProcessFunction, name: str, log: CallLog, containers: Containers
    ) -> None:
        self.inner = inner
        self.name = name
        self.log = log
        self.containers = containers

    def invoke(self, event: dict[str, Any]) -> Any:
        if self.containers.cold:
            wiring.reset()  # in process, the functions' caches are session_service.wiring's
        self.log.function = self.name
        try:
            return self.inner.invoke(event)
        finally:
            self.log.function = None


@dataclass
class UserState:
    password_index: int = 0
    tokens: dict[str, Any] = field(default_factory=dict)

    @property
    def password(self) -> str:
        return PASSWORDS[self.password_index]

    @property
    def other_password(self) -> str:
        return PASSWORDS[1 - self.password_index]


@dataclass(frozen=True)
class Operation:
    name: str
    method: str
    path: str
    body: Callable[[UserState], dict[str, str]] | None = None
    bearer: bool = False  # sends the current access token

    @property
    def route(self) -> str:
        return f"{self.method} {self.path}"


OPERATIONS = (
    Operation(
        "login",
        "POST",
        "/auth/login",
        body=lambda s: {"username": USERNAME, "password": s.password},
    ),
    Operation(
        "refresh",
        "POST",
        "/auth/refresh",
        body=lambda s: {"refresh_token": s.tokens["refresh_token"]},
    ),
    Operation("authorized request", "GET", "/auth/session", bearer=True),
    Operation("list sessions", "GET", "/auth/sessions", bearer=True),
    Operation("JWKS", "GET", "/.well-known/jwks.json"),
    Operation("discovery", "GET", "/.well-known/openid-configuration"),
    Operation(
        "password change",
        "POST",
        "/auth/password",
        body=lambda s: {"current_password": s.password, "new_password": s.other_password},
        bearer=True,
    ),
    Operation("logout", "POST", "/auth/logout", bearer=True),
)


@dataclass
class OperationCalls:
    name: str
    route: str
    warm: list[Calls] = field(default_factory=list)
    asynchronous: list[Calls] = field(default_factory=list)
    cold: Calls = field(default_factory=Counter)
    # the warm samples' round trips (calls sent at once count once)
    warm_trips: list[int] = field(default_factory=list)
    # DynamoDB request units of the same samples
    warm_units: list[FunctionUnits] = field(default_factory=list)
    asynchronous_units: list[FunctionUnits] = field(default_factory=list)
    note: str = ""  # what the report says about this operation
    settings: str = ""  # how the stack it ran on differs from the template's defaults


@dataclass
class CountedStack:
    moto: MotoStack
    log: CallLog
    containers: Containers
    pump: AsyncPump


@contextmanager
def counted_stack(settings: Mapping[str, str]) -> Iterator[CountedStack]:
    """The stack as deployed with these settings, each function's AWS calls counted."""
    log = CallLog()
    containers = Containers()

    def wrap(_logical_id: str, folder: str, function: InProcessFunction) -> CountedFunction:
        return CountedFunction(function, folder, log, containers)

    with moto_stack(settings, wrap) as moto, log.installed():
        yield CountedStack(moto, log, containers, AsyncPump(moto))


def count[O](
    counted: CountedStack,
    operations: Sequence[O],
    results: Sequence[OperationCalls],
    perform: Callable[[O], None],
) -> None:
    """Each operation in turn, once to warm every container, then REPETITIONS times,
    then once more with every function it reaches cold; what each request sets off is
    delivered (and counted as asynchronous) before the next."""
    log, pump = counted.log, counted.pump
    log.take()
    for cycle in range(1 + REPETITIONS):
        for operation, result in zip(operations, results, strict=True):
            perform(operation)
            trips = log.round_trips()
            warm, warm_units = log.take()
            pump.drain()
            asynchronous, asynchronous_units = log.take()
            if cycle > 0:  # the first cycle warms every container
                result.warm.append(warm)
                result.warm_trips.append(trips)
                result.warm_units.append(warm_units)
                result.asynchronous.append(asynchronous)
                result.asynchronous_units.append(asynchronous_units)
    for operation, result in zip(operations, results, strict=True):
        counted.containers.cold = True
        try:
            perform(operation)
        finally:
            counted.containers.cold = False
        result.cold, _ = log.take()
        pump.drain()
        log.take()


def _perform(counted: CountedStack, state: UserState, operation: Operation) -> None:
    body = operation.body(state) if operation.body else None
    headers = (
        {"authorization": f"Bearer {state.tokens['access_token']}"} if operation.bearer else None
    )
    answer = counted.moto.stack.http(operation.method, operation.path, body, headers=headers)
    if answer.status >= 300:
        raise RuntimeError(f"{operation.name}: {answer.status} {answer.json()}")
    answer_body = answer.json()
    if isinstance(answer_body, dict) and "access_token" in answer_body:
        state.tokens = answer_body
    if operation.name == "password change":
        state.password_index = 1 - state.password_index


def run() -> list[OperationCalls]:
    """The operations of a stack deployed with the template's defaults (e-mail off)."""
    results = [OperationCalls(op.name, op.route) for op in OPERATIONS]
    with counted_stack({}) as counted:
        state = UserState()
        stack = counted.moto.stack
        stack.http("POST", "/auth/register", {"username": USERNAME, "password": PASSWORDS[0]})
        count(counted, OPERATIONS, results, lambda op: _perform(counted, state, op))
    return results


def by_service(calls: Calls) -> dict[str, int]:
    services: Counter[str] = Counter()
    for call, count in calls.items():
        services[call.service] += count
    return dict(services)


def steady(samples: Sequence[object]) -> bool:
    """Whether every repetition made the same calls (or spent the same units)."""
    return all(sample == samples[0] for sample in samples)
