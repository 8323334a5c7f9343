"""Markdown pieces the performance report is made of: tables and number formats."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from bench.timing import Timing


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def ms(value: float) -> str:
    if value >= 10:
        return f"{value:.1f}"
    if value >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def us(timing: Timing) -> str:
    return f"{timing.median_cpu_ms * 1000:.1f}"


def yes(value: bool) -> str:
    return "**yes**" if value else "no"
