"""The round trips a request waited for, one after another, from its calls' spans in time:
the longest chain of calls each sent after the one before it had answered. Calls sent at
once overlap, and count once (bench/aws_calls.py and the tests of each route's calls)."""

from __future__ import annotations

from collections.abc import Sequence


def round_trips(spans: Sequence[tuple[float, float]]) -> int:
    """`spans`: each call's start and end, in any order."""
    ordered = sorted(spans)
    depths: list[int] = []
    for start, _ in ordered:
        before = [depths[j] for j, (_, end) in enumerate(ordered[: len(depths)]) if end <= start]
        depths.append(1 + max(before, default=0))
    return max(depths, default=0)
