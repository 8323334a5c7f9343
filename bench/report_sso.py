"""Section 7 of docs/performance.md: what single sign-on's operations cost in AWS calls
(bench/sso_calls.py), and the time from a logout in one app to another app's
back-channel receipt (bench/backchannel_timing.py)."""

from __future__ import annotations

from bench.markdown import ms, table
from bench.report_calls import detail, services, units
from bench.results import Results


def _cost_table(results: Results) -> str:
    rows = [
        [
            result.name,
            f"`{result.route}`",
            services(result.warm[0]),
            detail(result.warm[0]),
            str(units(result.warm_units)),
            services(result.asynchronous[0]) if result.asynchronous else "none",
            detail(result.asynchronous[0]) if result.asynchronous else "—",
            result.note,
        ]
        for result in results.sso_calls
    ]
    headers = [
        "operation",
        "route",
        "request path: calls",
        "which",
        "RRU / WRU",
        "afterwards: calls",
        "which (back-channel logout's HTTP POSTs to the apps not counted)",
        "what happens",
    ]
    return table(headers, rows)


def sso_section(results: Results) -> str:
    timing = results.backchannel
    return "\n\n".join(
        [
            "## 7. Single sign-on",
            "**What they cost** (warm, through the in-process API Gateway over moto, "
            "`bench/sso_calls.py`). Authorize reads the client twice (Authlib asks for it "
            "once to check the request and once to issue the code). The logout's back-channel "
            "part runs afterwards: the table's stream brings the session's removal to "
            "BackchannelLogoutFunction, which reads the session's grants and POSTs each app "
            "its logout token.",
            _cost_table(results),
            "**From a logout in one app to the other app's back-channel receipt** "
            f"(`bench/backchannel_timing.py`, {timing.rounds} rounds on a local run over "
            f"{timing.backend}): each round signs in on the hosted page, takes a grant for two "
            "apps, and sends an RP-initiated logout from the first; the time runs from "
            "sending that logout to the second app's server receiving its logout token. "
            "Locally the stream is read by the local run's poller (every 0.1 s while busy, "
            "0.5 s at most while idle), which is most of the figure; on AWS the stream's "
            "delivery to Lambda takes its place.",
            table(
                ["median ms", "p95 ms", "max ms", "contract"],
                [
                    [
                        ms(timing.median_ms),
                        ms(timing.p95_ms),
                        ms(timing.max_ms),
                        "within 5 s " + ("(met)" if timing.max_ms < 5000 else "(**missed**)"),
                    ]
                ],
            ),
        ]
    )
