"""Whether asking for a reset link or a sign-in code takes the same time for an account
that exists as for one that does not (contract v3: `POST /auth/password/forgot` and `POST
/auth/email/login/start` answer "in the same time"). Each request goes through the
in-process API Gateway to the API function over moto, as bench/aws_calls.py's do, on a
stack with e-mail on and an account with a verified address; the mailer is not run (it
works later, off the request's path). Known and unknown alternate request by request,
which goes first swapping every round, so that drift (the table growing, the machine's
other work) falls on both alike."""

from __future__ import annotations

import gc
import random
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass

from bench.email_stack import (
    ADDRESS,
    EMAIL_SETTINGS,
    UNKNOWN_ADDRESS,
    UNKNOWN_USERNAME,
    USERNAME,
    checked,
    with_verified_address,
)
from bench.moto_stack import AsyncPump, moto_stack
from bench.timing import Timing
from harness.stack import Stack

RUNS = 300  # requests per side of each case
WARMUP = 20
RESAMPLES = 2000
FORGOT = "/auth/password/forgot"
START = "/auth/email/login/start"


@dataclass(frozen=True)
class Case:
    name: str
    path: str
    known: dict[str, str]
    unknown: dict[str, str]

    @property
    def route(self) -> str:
        return f"POST {self.path}"


CASES = (
    Case("forgot, by username", FORGOT, {"username": USERNAME}, {"username": UNKNOWN_USERNAME}),
    Case("forgot, by e-mail", FORGOT, {"email": ADDRESS}, {"email": UNKNOWN_ADDRESS}),
    Case("code sign-in, start", START, {"email": ADDRESS}, {"email": UNKNOWN_ADDRESS}),
)


@dataclass(frozen=True)
class Paired:
    """The median of the per-round differences (known minus the unknown request beside
    it), ms, and its 95% bootstrap interval: drift, which moves both requests of a round
    alike, cancels out of each difference."""

    median_ms: float
    interval_ms: tuple[float, float]

    @property
    def holds_zero(self) -> bool:
        low, high = self.interval_ms
        return low <= 0 <= high


@dataclass(frozen=True)
class Comparison:
    name: str
    route: str
    known: Timing  # per-call times in round order, as unknown's
    unknown: Timing
    wall: Paired
    cpu: Paired  # this process's CPU time: the figure the machine's other load moves least

    @property
    def difference_ms(self) -> float:
        """The difference of the wall-time medians (known minus unknown)."""
        return self.known.median_wall_ms - self.unknown.median_wall_ms

    @property
    def p95_difference_ms(self) -> float:
        return self.known.p95_wall_ms - self.unknown.p95_wall_ms

    @property
    def relative(self) -> float:
        """The difference of the medians, as a share of the unknown account's median."""
        return self.difference_ms / self.unknown.median_wall_ms

    @property
    def agrees(self) -> bool:
        """Whether the wall-time interval holds 0: no difference this run can tell from
        noise."""
        return self.wall.holds_zero


@dataclass(frozen=True)
class EmailTiming:
    runs: int
    comparisons: list[Comparison]

    def named(self, name: str) -> Comparison:
        return next(c for c in self.comparisons if c.name == name)


class _Samples:
    def __init__(self) -> None:
        self.cpu: list[int] = []
        self.wall: list[int] = []

    def timing(self) -> Timing:
        return Timing(tuple(self.cpu), tuple(self.wall))


def _timed(stack: Stack, case: Case, body: dict[str, str], into: _Samples | None) -> None:
    wall_start = time.perf_counter_ns()
    cpu_start = time.process_time_ns()
    answer = stack.http("POST", case.path, body)
    cpu_end = time.process_time_ns()
    wall_end = time.perf_counter_ns()
    checked(answer, case.name)
    if answer.status != 202:
        raise RuntimeError(f"{case.name}: {answer.status}, not 202")
    if into is not None:
        into.cpu.append(cpu_end - cpu_start)
        into.wall.append(wall_end - wall_start)


def paired(
    known: Sequence[int], unknown: Sequence[int], resamples: int = RESAMPLES, seed: int = 29
) -> Paired:
    """The median of known[i] - unknown[i] (ns in, ms out) and its 95% percentile-bootstrap
    interval."""
    differences = [k - u for k, u in zip(known, unknown, strict=True)]
    draw = random.Random(seed)
    medians = sorted(
        statistics.median(draw.choices(differences, k=len(differences))) for _ in range(resamples)
    )
    low = medians[int(resamples * 0.025)]
    high = medians[min(resamples - 1, int(resamples * 0.975))]
    return Paired(statistics.median(differences) / 1e6, (low / 1e6, high / 1e6))


def compare(case: Case, known: Timing, unknown: Timing) -> Comparison:
    return Comparison(
        case.name,
        case.route,
        known,
        unknown,
        paired(known.wall_ns, unknown.wall_ns),
        paired(known.cpu_ns, unknown.cpu_ns),
    )


def run(runs: int = RUNS) -> EmailTiming:
    samples = {case.name: (_Samples(), _Samples()) for case in CASES}
    with moto_stack(EMAIL_SETTINGS) as moto:
        stack = moto.stack
        with_verified_address(stack, AsyncPump(moto))
        for round_ in range(-WARMUP, runs):
            for case in CASES:
                known, unknown = samples[case.name]
                sides = [(case.known, known), (case.unknown, unknown)]
                if round_ % 2:
                    sides.reverse()
                for body, into in sides:
                    _timed(stack, case, body, into if round_ >= 0 else None)
            if round_ == -1:
                gc.collect()
    comparisons = [
        compare(case, samples[case.name][0].timing(), samples[case.name][1].timing())
        for case in CASES
    ]
    return EmailTiming(runs, comparisons)
