"""Repeat an operation and keep each call's CPU time and wall time."""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Timing:
    """Per-call times of one operation, in nanoseconds."""

    cpu_ns: tuple[int, ...]
    wall_ns: tuple[int, ...]

    @property
    def runs(self) -> int:
        return len(self.cpu_ns)

    @property
    def median_cpu_ms(self) -> float:
        return statistics.median(self.cpu_ns) / 1e6

    @property
    def mean_cpu_ms(self) -> float:
        return statistics.fmean(self.cpu_ns) / 1e6

    @property
    def median_wall_ms(self) -> float:
        return statistics.median(self.wall_ns) / 1e6

    @property
    def p95_cpu_ms(self) -> float:
        return p95(self.cpu_ns) / 1e6

    @property
    def p95_wall_ms(self) -> float:
        return p95(self.wall_ns) / 1e6


def p95(values: Sequence[int]) -> int:
    """The 95th percentile, nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]


def measure(
    operation: Callable[[], object],
    *,
    min_runs: int = 30,
    max_runs: int = 5_000,
    min_seconds: float = 0.5,
    warmup: int = 3,
) -> Timing:
    """Call `operation` until it ran at least `min_runs` times and `min_seconds` passed
    (at most `max_runs` times), after `warmup` untimed calls. Each call is timed on its
    own with process_time_ns (CPU) and perf_counter_ns (wall)."""
    for _ in range(warmup):
        operation()
    gc.collect()
    cpu: list[int] = []
    wall: list[int] = []
    deadline = time.perf_counter() + min_seconds
    while len(cpu) < max_runs and (len(cpu) < min_runs or time.perf_counter() < deadline):
        wall_start = time.perf_counter_ns()
        cpu_start = time.process_time_ns()
        operation()
        cpu_end = time.process_time_ns()
        wall_end = time.perf_counter_ns()
        cpu.append(cpu_end - cpu_start)
        wall.append(wall_end - wall_start)
    return Timing(tuple(cpu), tuple(wall))
