"""`make load FAULTS=pre:0.05` or `FAULTS=post:0.05`: the load with DynamoDB failing that
share of calls in the local run's functions (harness/lost_answers.py), before they are
applied (throttled) or, for writes, after (applied, the answer lost). Each client retries a
503 once after its Retry-After, as a frontend would. Beside throughput and latency it
reports the answers by status, 503s without Retry-After, sessions found ended under
clients that did nothing wrong, and reuse reported; the goal for the last two, and for
5xx other than 503, is none."""

from __future__ import annotations

import re
from collections import Counter
from typing import TYPE_CHECKING

from harness.lost_answers import STRIKE_LINE

if TYPE_CHECKING:
    from bench.load import LoadResult

# What the functions log when they take a refresh for theft (domain/sessions/lifecycle.py).
REUSE_LINE = "refresh token reuse detected"


def reuse_events(logs: str) -> int:
    return logs.count(REUSE_LINE)


def injected_faults(logs: str) -> dict[str, int]:
    """The calls the functions failed, by operation (harness/lost_answers.py prints each)."""
    return dict(Counter(re.findall(rf"{re.escape(STRIKE_LINE)} ([A-Za-z]+)\.", logs)))


def other_5xx(result: LoadResult) -> int:
    return sum(n for status, n in result.statuses.items() if int(status) >= 500 and status != "503")


def fault_lines(result: LoadResult) -> list[str]:
    if not result.faults:
        return []
    statuses = ", ".join(f"{status}: {n}" for status, n in sorted(result.statuses.items()))
    calls = ", ".join(f"{op} {n}" for op, n in sorted(result.injected.items()))
    return [
        f"  faults injected: {result.faults}, {sum(result.injected.values())} calls ({calls})",
        f"  answers by status: {statuses}",
        f"  503 without Retry-After: {result.no_retry_after}, other 5xx: {other_5xx(result)}",
        f"  sessions ended under clients: {result.ended_under_clients}",
        f"  reuse reported: {result.reuse_events}",
    ]


def fault_figures_fail(result: LoadResult) -> bool:
    """Whether a fault run broke a promise (a session ended or reuse reported under clients
    that did nothing wrong, a 503 without Retry-After, any other 5xx, any answer other than
    the expected one or a 503, a timeout) or proved nothing (no fault was injected)."""
    unexpected = [error for error in result.errors if not error.startswith("503 on ")]
    return bool(
        not result.injected
        or unexpected
        or result.ended_under_clients
        or result.reuse_events
        or result.no_retry_after
        or other_5xx(result)
    )
