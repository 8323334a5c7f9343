"""docs/performance.md from one run's results: the summary, the machine and the caveats
around the measured sections (bench/report_sections.py)."""

from __future__ import annotations

from collections import Counter

from bench import argon2_cost, coldstart, load, login_wall
from bench.argon2_cost import LambdaCost
from bench.aws_calls import OperationCalls
from bench.markdown import ms, table, us
from bench.report_calls import aws_section, services
from bench.report_email import email_section, summary_rows
from bench.report_sections import (
    argon2_section,
    cold_start_section,
    goal,
    jwt_section,
    operations_section,
)
from bench.report_sso import sso_section
from bench.results import Results, comparisons


def _summary(results: Results) -> str:
    calls = {result.name: result for result in results.aws_calls}

    def warm(name: str) -> str:
        result: OperationCalls = calls[name]
        total = sum(result.warm[0].values())
        return f"{total} ({services(result.warm[0])})"

    secret_calls: Counter[str] = Counter()
    for result in results.aws_calls:
        for sample in result.warm:
            for call, count in sample.items():
                if call.service in ("secretsmanager", "ssm", "kms"):
                    secret_calls[result.name] += count
    cold = results.cold_start
    by_folder = {f.folder: f for f in cold.functions}
    authorizer, api = by_folder["authorizer"], by_folder["api"]
    unwanted = " / ".join(
        "yes" if authorizer.imported.get(m) else "no" for m in coldstart.AUTHORIZER_UNWANTED
    )
    default = results.argon2_named("service default")
    owasp = results.argon2_named("OWASP minimum")
    memory = argon2_cost.api_memory_mb()
    login_cost = LambdaCost(memory, default.verify.median_cpu_ms)
    login = calls["login"]
    wall = results.login_wall
    emulated = results.login_round_trips
    rows: list[list[object]] = [
        ["AWS calls, warm authorized request", warm("authorized request"), "—"],
        ["AWS calls, warm login", warm("login"), "—"],
        ["DynamoDB round trips, warm login", login.warm_trips[0], "at most 3"],
        [
            "login on the local run over DynamoDB Local: median / p95 ms",
            f"{wall.median_ms:.0f} / {wall.p95_ms:.0f}",
            f"before: {login_wall.BEFORE.median_ms:.0f} / {login_wall.BEFORE.p95_ms:.0f}",
        ],
        [
            f"login with a {emulated.round_trip_ms:.0f} ms round trip: calls at once / one "
            "after another, median ms",
            f"{emulated.at_once_ms:.0f} / {emulated.one_after_another_ms:.0f}",
            "—",
        ],
        ["AWS calls, warm refresh", warm("refresh"), "—"],
        [
            "warm requests calling Secrets Manager, SSM or KMS",
            ", ".join(secret_calls) or "none",
            "none",
        ],
        [
            "cold-start import ratio, authorizer",
            f"{cold.ratio(authorizer):.2f}",
            goal("authorizer", cold.ratio(authorizer)),
        ],
        [
            "cold-start import ratio, API function",
            f"{cold.ratio(api):.2f}",
            goal("api", cold.ratio(api)),
        ],
        [
            "authorizer imports " + " / ".join(coldstart.AUTHORIZER_UNWANTED),
            unwanted,
            "no / no / no",
        ],
    ]
    if cold.document_check is not None:
        rows.append(
            [
                "authorizer's first request: KMS client / document key and signature, ms",
                f"{ms(cold.document_check.kms_client_ms)} / {ms(cold.document_check.check_ms)}"
                " (+ one GetPublicKey round trip)",
                "—",
            ]
        )
    for row in comparisons(results):
        if row.group in ("in-memory", "argon2"):
            rows.append(
                [
                    f"{row.name}, CPU ms",
                    ms(row.measured_ms),
                    f"floor {ms(row.floor_ms)} ({row.floor})",
                ]
            )
    rows.append(
        [
            f"Lambda cost per million logins (argon2 verify only, {memory} MB)",
            f"${login_cost.dollars_per_million:.2f}",
            f"at OWASP's minimum: "
            f"${LambdaCost(memory, owasp.verify.median_cpu_ms).dollars_per_million:.2f}",
        ]
    )
    for jwt in results.jwt:
        rows.append(
            [
                f"{jwt.algorithm} mint / verify, µs",
                f"{us(jwt.mint)} / {us(jwt.verify)}",
                f"floor {us(jwt.floor_sign)} / {us(jwt.floor_verify)} (cryptography)",
            ]
        )
    rows += summary_rows(results.email_timing)
    backchannel = results.backchannel
    rows.append(
        [
            "logout in one app → the other's back-channel receipt (local run): median / p95 ms",
            f"{backchannel.median_ms:.0f} / {backchannel.p95_ms:.0f}",
            "within 5 s (the contract) "
            + ("(met)" if backchannel.max_ms < 5000 else "(**missed**)"),
        ]
    )
    return "\n\n".join(
        [
            "## Summary",
            table(["figure", "measured", "goal or floor"], rows),
            "![Median CPU time per operation against its floor](performance.png)",
        ]
    )


def _login_wall(results: Results) -> str:
    login = next(result for result in results.aws_calls if result.name == "login")
    return login_wall.section(
        results.login_wall,
        results.login_round_trips,
        login.warm_trips[0],
        sum(login.warm[0].values()),
    )


def _machine(results: Results) -> str:
    machine = results.machine
    packages = ", ".join(f"{name} {version}" for name, version in machine.packages.items())
    rows = [
        ["CPU", f"{machine.cpu_model} (`/proc/cpuinfo`)"],
        ["cores", f"{machine.cores} ({machine.usable_cores} usable by this process)"],
        ["Python", machine.python],
        ["system", machine.system],
        ["date", machine.date],
        ["commit measured", f"`{machine.commit}`"],
        ["packages", packages],
    ]
    return "\n\n".join(["## Machine", table(["", ""], rows)])


def _caveats() -> str:
    return "\n".join(
        [
            "## Method and caveats",
            "",
            "- One run on one machine, which may be shared: compare figures with figures "
            "from the same machine. Ratios (to a floor, to the boto3 reference) travel "
            "better than absolute times.",
            "- Times are medians of per-call CPU time unless a column says otherwise; the "
            "operations are single-threaded, so CPU and wall time agree closely. Floors are "
            "measured separately from the operations they bound, so an operation that is all "
            "floor (a login is almost all argon2) can come out a few percent under it.",
            "- Moto stands in for AWS: it counts calls faithfully but says nothing about "
            "their latency, which dominates a real request (a DynamoDB read is milliseconds; "
            "the service's own CPU per authorized request is a fraction of one).",
            "- The Lambda figures scale this machine's single-core time by the vCPU share "
            "of the function's memory; Lambda's CPUs are not this machine's.",
            "- Cold-start figures cover the handler module's import only: not the "
            "runtime's own start, nor the first invocation's client creation and secret "
            "fetch (section 1 counts those calls). They assume compiled bytecode is there: "
            "Lambda's code directories are read-only, so modules shipped without `.pyc` "
            "files are compiled again at every cold start.",
            "- On a shared machine the cold-start medians move from one run to the next by "
            "a few hundredths of a ratio; read a ratio close to its goal together with the "
            "ratio of the fastest runs, which is steadier.",
        ]
    )


def render(results: Results) -> str:
    header = "\n\n".join(
        [
            "# Performance",
            "Generated by `make bench` (the `bench/` package); run it again rather than "
            "editing this file. Figures, method and the machine they came from are below; "
            "the chart is `performance.png`.",
        ]
    )
    sections = [
        header,
        _machine(results),
        _summary(results),
        aws_section(results),
        cold_start_section(results),
        operations_section(results),
        argon2_section(results),
        jwt_section(results),
        email_section(results),
        sso_section(results),
        _login_wall(results),
        load.saved_section(),
        _caveats(),
    ]
    return "\n\n".join(section for section in sections if section) + "\n"
