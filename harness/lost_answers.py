"""DynamoDB faults at botocore's edge, below its retries, as AWS has them: a call that
fails before doing anything ("pre": throttled), and a write that is applied and then loses
its answer ("post": a 500 after the change, as a timeout or a dropped connection gives).
botocore retries both as it would on AWS, so a retried write meets the change its own
first attempt made. Works wherever botocore sends: moto in process, DynamoDB Local, AWS."""

from __future__ import annotations

import itertools
import os
import random
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

from botocore.awsrequest import AWSResponse
from botocore.endpoint import Endpoint
from botocore.retries.standard import ExponentialBackoff

Mode = Literal["pre", "post"]
WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"})
# What each mode answers instead of DynamoDB's own answer.
_ERRORS: dict[Mode, tuple[int, str]] = {
    "pre": (400, "ThrottlingException"),
    "post": (500, "InternalServerError"),
}


class _Body:
    def __init__(self, payload: bytes) -> None:
        self._payload = payload

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._payload


@dataclass
class DynamoFaults:
    """Which calls fail: a share of them (`rate`, drawn from a seeded generator), or those
    `choose(operation, number)` picks (number counts the operation's calls, from 1); with
    `first_attempts_only`, never botocore's retry of a call; with `concerns`, only calls
    whose request body it accepts (the others pass, uncounted). A "post" fault applies to
    writes only: a read that loses its answer changes nothing."""

    mode: Mode
    rate: float = 0.0
    seed: int = 0
    choose: Callable[[str, int], bool] | None = None
    first_attempts_only: bool = False
    concerns: Callable[[bytes], bool] | None = None
    # Told of every call failed (the local run's functions print it for `make load`)
    on_strike: Callable[[str], None] | None = None
    injected: Counter[str] = field(default_factory=Counter)
    # the calls these faults judged (`concerns` and the mode allowing), and every call sent
    calls: Counter[str] = field(default_factory=Counter)
    sent: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _draw: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self._draw = random.Random(self.seed)  # noqa: S311 (which calls fail, not a secret)

    def strikes(self, operation: str, attempt: int = 1, body: bytes = b"") -> bool:
        if attempt == 1:
            with self._lock:
                self.sent[operation] += 1
        if self.mode == "post" and operation not in WRITES:
            return False
        if self.first_attempts_only and attempt > 1:
            return False
        if self.concerns is not None and not self.concerns(body):
            return False
        with self._lock:
            self.calls[operation] += 1
            number = self.calls[operation]
            if self.choose is not None:
                hit = self.choose(operation, number)
            else:
                hit = self._draw.random() < self.rate
            if hit:
                self.injected[operation] += 1
        if hit and self.on_strike is not None:
            self.on_strike(operation)
        return hit


def nth(wanted: int) -> Callable[[str, int], bool]:
    """Picks the n-th call the faults see, whatever its operation (from 1)."""
    seen = itertools.count(1)
    return lambda _operation, _number: next(seen) == wanted


def nth_write(wanted: int) -> Callable[[str, int], bool]:
    """Picks the n-th write the faults see ("pre" faults see reads too)."""
    writes = nth(wanted)
    return lambda operation, number: operation in WRITES and writes(operation, number)


def throttle_writes(body: bytes) -> bool:
    """A call on the login throttle's counters (a place taken or given back)."""
    return b'"THROTTLE#' in body


def other_writes(body: bytes) -> bool:
    return not throttle_writes(body)


def _error(mode: Mode, request: Any) -> tuple[AWSResponse, dict[str, Any]]:
    status, code = _ERRORS[mode]
    body = f'{{"__type":"com.amazonaws.dynamodb.v20120810#{code}","message":"injected"}}'
    headers = {"x-amzn-RequestId": "injected", "content-type": "application/x-amz-json-1.0"}
    response = AWSResponse(request.url, status, headers, _Body(body.encode()))
    parsed = {
        "Error": {"Code": code, "Message": f"injected {mode} fault"},
        "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": headers},
    }
    return response, parsed


@contextmanager
def injected(faults: DynamoFaults, quick_retries: bool = True) -> Iterator[DynamoFaults]:
    """Every botocore client of the process meets these faults while the block runs. With
    `quick_retries`, botocore retries without its back-off (up to 1 s after a throttling
    error): a test needs the retry, not the wait. The local run's faults keep the wait."""
    original = Endpoint._do_get_response
    original_delay = ExponentialBackoff.delay_amount

    def answer(
        endpoint: Endpoint, request: Any, operation_model: Any, context: Any
    ) -> tuple[Any, Any]:
        service = operation_model.service_model.service_name
        attempt = int(context.get("retries", {}).get("attempt", 1))
        body = request.body if isinstance(request.body, bytes) else str(request.body).encode()
        if service != "dynamodb" or not faults.strikes(operation_model.name, attempt, body):
            return original(endpoint, request, operation_model, context)  # type: ignore[no-any-return]
        if faults.mode == "post":
            original(endpoint, request, operation_model, context)  # applied; answer lost
        return _error(faults.mode, request), None

    Endpoint._do_get_response = answer
    if quick_retries:
        ExponentialBackoff.delay_amount = lambda _self, _context: 0
    try:
        yield faults
    finally:
        Endpoint._do_get_response = original
        ExponentialBackoff.delay_amount = original_delay


# The local run's functions meet faults when this is set ("post:0.05"): `make load FAULTS=`.
FAULTS_VARIABLE = "LOCAL_DYNAMODB_FAULTS"


def parse_faults(spec: str) -> DynamoFaults:
    """`pre:0.05` or `post:0.05`: the mode, and the share of calls it fails."""
    mode, _, rate = spec.partition(":")
    if mode not in _ERRORS or not rate:
        raise ValueError(f"faults are pre:RATE or post:RATE, not {spec!r}")
    share = float(rate)
    if not 0 <= share <= 1:
        raise ValueError(f"a fault rate is between 0 and 1, not {rate}")
    return DynamoFaults(mode, share, seed=os.getpid())


# What a function of the local run prints for each call it fails (bench/load_faults.py).
STRIKE_LINE = "lost_answers: injected a fault in"


def faults_from_environment() -> DynamoFaults | None:
    """The faults FAULTS_VARIABLE asks for, each one printed to stderr when it strikes, for
    the load to count."""
    spec = os.environ.get(FAULTS_VARIABLE, "")
    if not spec:
        return None
    faults = parse_faults(spec)
    faults.on_strike = _print_strike
    return faults


def _print_strike(operation: str) -> None:
    # One write, the newline in it: the local run's processes share one log
    sys.stderr.write(f"{STRIKE_LINE} {operation}.\n")
    sys.stderr.flush()


def install_from_environment() -> DynamoFaults | None:
    """In a process of the local run: the faults FAULTS_VARIABLE asks for, for good."""
    faults = faults_from_environment()
    if faults is not None:
        _installed.enter_context(injected(faults, quick_retries=False))
    return faults


_installed = ExitStack()
