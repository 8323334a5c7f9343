"""docs/performance.png: each operation's median CPU time beside its floor, log scale."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display: render to a file

import matplotlib.pyplot as plt
from matplotlib.ticker import FuncFormatter

from bench.results import Comparison, Results, comparisons

MEASURED_COLOUR = "#1f77b4"
FLOOR_COLOUR = "#bbbbbb"


def _label(ms: float) -> str:
    return f"{ms * 1000:.0f} µs" if ms < 1 else f"{ms:.1f} ms"


def draw(results: Results, path: Path) -> None:
    rows: list[Comparison] = comparisons(results)
    height = 0.38
    figure, axes = plt.subplots(figsize=(10, 0.55 * len(rows) + 1.6), dpi=110)
    positions = list(range(len(rows)))[::-1]  # first row on top
    measured = [row.measured_ms for row in rows]
    floors = [row.floor_ms for row in rows]
    axes.barh(
        [p + height / 2 for p in positions],
        measured,
        height=height,
        color=MEASURED_COLOUR,
        label="measured (median CPU time)",
    )
    axes.barh(
        [p - height / 2 for p in positions],
        floors,
        height=height,
        color=FLOOR_COLOUR,
        label="floor",
    )
    for position, row in zip(positions, rows, strict=True):
        axes.text(
            row.measured_ms * 1.08,
            position + height / 2,
            f"{_label(row.measured_ms)}  ({row.ratio:.1f}x floor)",
            va="center",
            fontsize=8,
        )
        axes.text(
            row.floor_ms * 1.08,
            position - height / 2,
            f"{_label(row.floor_ms)}  {row.floor}",
            va="center",
            fontsize=7,
            color="#555555",
        )
    axes.set_yticks(positions)
    axes.set_yticklabels([f"{row.name}" for row in rows], fontsize=9)
    axes.set_xscale("log")
    low = min(*measured, *floors) / 2
    high = max(*measured, *floors) * 60
    axes.set_xlim(low, high)
    axes.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    axes.set_xlabel("milliseconds per operation (log scale), one core")
    # Lines between the groups (JWT, in-memory operations, argon2).
    for index in range(1, len(rows)):
        if rows[index].group != rows[index - 1].group:
            axes.axhline(positions[index] + 0.5, color="#dddddd", linewidth=0.8)
    axes.legend(loc="upper right", fontsize=8)
    machine = results.machine
    axes.set_title(
        "Session service: time per operation against its floor\n"
        f"{machine.cpu_model}, {machine.usable_cores} cores, Python {machine.python}, "
        f"{machine.date}",
        fontsize=10,
    )
    axes.grid(axis="x", which="major", color="#eeeeee")
    axes.set_axisbelow(True)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
