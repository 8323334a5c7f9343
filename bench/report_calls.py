"""Section 1 of docs/performance.md: the AWS calls of each operation and the DynamoDB
request units they spend (bench/aws_calls.py, bench/email_calls.py)."""

from __future__ import annotations

from bench import aws_calls
from bench.aws_calls import Calls, FunctionUnits, OperationCalls, total
from bench.markdown import table
from bench.request_units import Units
from bench.results import Results

SERVICE_COLUMNS = tuple(aws_calls.SERVICES)
MARK = "†"  # an operation measured on a stack with other settings than the defaults


def services(calls: Calls) -> str:
    counts = aws_calls.by_service(calls)
    if not counts:
        return "none"
    return ", ".join(
        f"{aws_calls.SERVICES.get(service, service)} {count}"
        for service, count in sorted(counts.items())
    )


def detail(calls: Calls) -> str:
    by_function: dict[str, list[str]] = {}
    for call, count in sorted(calls.items()):
        suffix = f" x{count}" if count > 1 else ""
        by_function.setdefault(call.function, []).append(f"{call}{suffix}")
    if not by_function:
        return "—"
    return "; ".join(f"{function}: {', '.join(names)}" for function, names in by_function.items())


def varies(samples: list[Calls] | list[FunctionUnits] | list[int]) -> str:
    return "" if aws_calls.steady(samples) else " (varied between repetitions)"


def units(samples: list[FunctionUnits]) -> Units:
    return total(samples[0]) if samples else Units()


def _name(result: OperationCalls) -> str:
    return f"{result.name} {MARK}" if result.settings else result.name


def aws_section(results: Results) -> str:
    rows = []
    for result in results.aws_calls:
        warm = result.warm[0]
        counts = aws_calls.by_service(warm)
        other = sum(n for s, n in counts.items() if s not in aws_calls.SERVICES)
        rows.append(
            [
                _name(result),
                f"`{result.route}`",
                *(counts.get(service, 0) for service in SERVICE_COLUMNS),
                other,
                sum(counts.values()),
                f"{result.warm_trips[0] if result.warm_trips else '—'}"
                f"{varies(result.warm_trips) if result.warm_trips else ''}",
                f"{units(result.warm_units)}{varies(result.warm_units)}",
                detail(warm) + varies(result.warm),
            ]
        )
    headers = [
        "operation",
        "route",
        *(aws_calls.SERVICES[s] for s in SERVICE_COLUMNS),
        "other",
        "total",
        "round trips",
        "DynamoDB RRU / WRU",
        "calls, by function",
    ]
    later = [
        [
            _name(result),
            services(result.asynchronous[0]) + varies(result.asynchronous),
            f"{units(result.asynchronous_units)}{varies(result.asynchronous_units)}",
            detail(result.asynchronous[0]),
            services(result.cold),
            detail(result.cold),
        ]
        for result in results.aws_calls
    ]
    marked = sorted({result.settings for result in results.aws_calls if result.settings})
    return "\n\n".join(
        [
            "## 1. AWS calls per operation",
            "Counted at botocore's edge (`BaseClient._make_api_call`) against moto, with "
            "everything `template.yaml` declares provisioned by `local_run.provision` and the "
            "requests routed through the in-process API Gateway of `tests/integration` "
            "(authorizer first where the route has one). The functions run with the "
            "template's environment, so they read the issuer from SSM as deployed; a "
            "function whose Condition is false (the mailer while `EmailSender` is empty) is "
            "not deployed and not invoked. Each "
            f"operation ran once to warm the containers, then {aws_calls.REPETITIONS} more "
            "times; the counts below are those of the warm repetitions.",
            "*Round trips* are the calls a request waits for one after another: the "
            "longest chain of calls each sent after the one before it had answered. Calls "
            "sent at once (a login's reads and writes that do not depend on each other, "
            "`domain/concurrency.py`) overlap, and count once. To make that visible on "
            f"one machine, each call takes {aws_calls.ROUND_TRIP_SECONDS * 1000:.0f} ms "
            "more, as the network would make it; on AWS a round trip inside the region "
            "is a few milliseconds, so a request's time outside its own work is about its "
            "round trips times that.",
            f"Operations marked {MARK} ran on a stack deployed with "
            + "; ".join(marked)
            + " (`EMAIL_SENDER` set, `EMAIL_SIGN_IN=on`, the mailing limits raised out of "
            "reach so that every request records its message), on an account with a "
            "verified address and no second factor; the others with the template's defaults.",
            "DynamoDB request units (on-demand: RRU read, WRU write) are worked out from the "
            "items each call read or wrote by DynamoDB's arithmetic (`bench/request_units.py`: "
            "4 KB per strongly consistent read unit, half for an eventually consistent one; "
            "1 KB per write unit on the larger of the item before and after; transactions "
            "double; a key with no item or a failed condition still costs its unit); moto's "
            "own ConsumedCapacity is a constant.",
            "**Warm request path** (authorizer + API function):",
            table(headers, rows),
            "**After the request, and from a cold start.** *Asynchronous*: what the request "
            "sets off, the table's stream into the functions whose event source mappings' "
            "filters pass the records (the event publisher; the mailer for mail requests) "
            "and the events the publisher puts on the bus into their consumers (the mailer's "
            "security notices among them). *Cold*: the request path when every function it "
            "reaches starts with empty caches.",
            table(
                [
                    "operation",
                    "asynchronous",
                    "asynchronous RRU / WRU",
                    "asynchronous, by function",
                    "cold request path",
                    "cold, by function",
                ],
                later,
            ),
        ]
    )
