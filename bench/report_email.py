"""Section 6 of docs/performance.md: what forgot, reset and sign-in by code cost, and the
time `forgot` and `start` take for known against unknown accounts (bench/email_calls.py,
bench/email_timing.py)."""

from __future__ import annotations

from bench import email_timing
from bench.email_timing import Comparison, EmailTiming, Paired
from bench.markdown import ms, table
from bench.report_calls import services, units
from bench.results import Results


def _cost_table(results: Results) -> str:
    rows = [
        [
            result.name,
            f"`{result.route}`",
            services(result.warm[0]),
            str(units(result.warm_units)),
            services(result.asynchronous[0]),
            str(units(result.asynchronous_units)),
            result.note,
        ]
        for result in results.aws_calls
        if result.settings
    ]
    headers = [
        "operation",
        "route",
        "request path: calls",
        "RRU / WRU",
        "afterwards (mailer, publisher, consumers): calls",
        "RRU / WRU",
        "what happens",
    ]
    return table(headers, rows)


def _interval(interval: tuple[float, float]) -> str:
    low, high = interval
    return f"{low:+.2f} to {high:+.2f}"


def _paired(paired: Paired) -> str:
    return f"{paired.median_ms:+.2f} ({_interval(paired.interval_ms)})"


def _timing_row(c: Comparison) -> list[object]:
    return [
        c.name,
        f"`{c.route}`",
        f"{ms(c.known.median_wall_ms)} / {ms(c.unknown.median_wall_ms)}",
        f"{c.difference_ms:+.2f} ({c.relative:+.1%})",
        f"{ms(c.known.p95_wall_ms)} / {ms(c.unknown.p95_wall_ms)}",
        f"{c.p95_difference_ms:+.2f}",
        _paired(c.wall),
        f"{ms(c.known.median_cpu_ms)} / {ms(c.unknown.median_cpu_ms)}",
        _paired(c.cpu),
    ]


def summary_rows(timing: EmailTiming) -> list[list[object]]:
    """The Summary's rows: each known/unknown comparison, judged."""
    return [
        [
            f"{c.name}, known / unknown account: median ms; paired difference, ms",
            f"{ms(c.known.median_wall_ms)} / {ms(c.unknown.median_wall_ms)}; "
            f"{c.wall.median_ms:+.2f} (95%: {_interval(c.wall.interval_ms)})",
            "the same time: the interval holds 0 " + ("(met)" if c.agrees else "(**missed**)"),
        ]
        for c in timing.comparisons
    ]


def verdict(timing: EmailTiming) -> str:
    apart = [c.name for c in timing.comparisons if not c.agrees]
    if not apart:
        return (
            "Every paired interval holds 0: known and unknown accounts take the same time, "
            "as far as this run can tell."
        )
    return (
        "**The paired interval misses 0** for " + ", ".join(apart) + ": look again (a rerun on a "
        "quiet machine; a difference the size of a DynamoDB call would mean the route does "
        "different work for a known account)."
    )


def email_section(results: Results) -> str:
    timing = results.email_timing
    headers = [
        "request",
        "route",
        "median ms, known / unknown",
        "difference of medians, ms",
        "p95 ms, known / unknown",
        "difference of p95s, ms",
        "paired difference, ms (95% interval)",
        "CPU median ms, known / unknown",
        "CPU paired difference, ms (95% interval)",
    ]
    return "\n\n".join(
        [
            "## 6. E-mail: forgot, reset and sign-in by code",
            "**What they cost** (the rows marked † in section 1, warm, summed by service): "
            "the request only records what is to be sent; the mailer, invoked by the "
            "table's stream, finds the account and sends. A request for an unknown account "
            "makes the same calls as one for a known account; only the mailer, afterwards, "
            "finds nobody and sends nothing. SES (`SendEmail`) is never on a request's path.",
            _cost_table(results),
            "**Known against unknown accounts.** Each request through the in-process API "
            "Gateway to the API function over moto, on a stack with e-mail on and one "
            "account with a verified address (`bench/email_timing.py`); the mailer is not "
            f"run. {timing.runs} requests for the account that exists and {timing.runs} for "
            f"one that does not, per row, after {email_timing.WARMUP} untimed rounds; known "
            "and unknown alternate request by request, which goes first swapping every "
            "round, so that drift (the table growing, the machine's other load) falls on "
            "both alike. Wall time of the whole request as the gateway answers it. The "
            "paired difference is the median of each round's known request's time minus "
            "its unknown request's, with a 95% percentile-bootstrap interval "
            f"({email_timing.RESAMPLES} resamples): drift cancels out of it, so it can tell "
            "a smaller difference from noise than the medians side by side can. CPU time is "
            "this process's own, the figure the machine's other load moves least. "
            "Differences are known minus unknown.",
            table(headers, [_timing_row(c) for c in timing.comparisons]),
            verdict(timing),
        ]
    )
