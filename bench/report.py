"""docs/performance.md from one run's results."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

from bench import argon2_cost, aws_calls, coldstart, load
from bench.argon2_cost import LambdaCost
from bench.aws_calls import Calls, OperationCalls
from bench.coldstart import ImportFigures
from bench.results import Results, comparisons
from bench.timing import Timing

SERVICE_COLUMNS = tuple(aws_calls.SERVICES)


def _table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _ms(value: float) -> str:
    if value >= 10:
        return f"{value:.1f}"
    if value >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def _us(timing: Timing) -> str:
    return f"{timing.median_cpu_ms * 1000:.1f}"


def _yes(value: bool) -> str:
    return "**yes**" if value else "no"


# -- AWS calls -----------------------------------------------------------------------------


def _services(calls: Calls) -> str:
    counts = aws_calls.by_service(calls)
    if not counts:
        return "none"
    return ", ".join(
        f"{aws_calls.SERVICES.get(service, service)} {count}"
        for service, count in sorted(counts.items())
    )


def _detail(calls: Calls) -> str:
    by_function: dict[str, list[str]] = {}
    for call, count in sorted(calls.items()):
        suffix = f" x{count}" if count > 1 else ""
        by_function.setdefault(call.function, []).append(f"{call}{suffix}")
    if not by_function:
        return "—"
    return "; ".join(f"{function}: {', '.join(names)}" for function, names in by_function.items())


def _varies(samples: list[Calls]) -> str:
    return "" if aws_calls.steady(samples) else " (varied between repetitions)"


def _aws_section(results: Results) -> str:
    rows = []
    for result in results.aws_calls:
        warm = result.warm[0]
        counts = aws_calls.by_service(warm)
        other = sum(n for s, n in counts.items() if s not in aws_calls.SERVICES)
        rows.append(
            [
                result.name,
                f"`{result.route}`",
                *(counts.get(service, 0) for service in SERVICE_COLUMNS),
                other,
                sum(counts.values()),
                _detail(warm) + _varies(result.warm),
            ]
        )
    headers = [
        "operation",
        "route",
        *(aws_calls.SERVICES[s] for s in SERVICE_COLUMNS),
        "other",
        "total",
        "calls, by function",
    ]
    later = [
        [
            result.name,
            _services(result.asynchronous[0]) + _varies(result.asynchronous),
            _detail(result.asynchronous[0]),
            _services(result.cold),
            _detail(result.cold),
        ]
        for result in results.aws_calls
    ]
    return "\n\n".join(
        [
            "## 1. AWS calls per operation",
            "Counted at botocore's edge (`BaseClient._make_api_call`) against moto, with "
            "everything `template.yaml` declares provisioned by `local_run.provision` and the "
            "requests routed through the in-process API Gateway of `tests/integration` "
            "(authorizer first where the route has one). The functions run with the "
            "template's environment, so they read the issuer from SSM as deployed. Each "
            f"operation ran once to warm the containers, then {aws_calls.REPETITIONS} more "
            "times; the counts below are those of the warm repetitions.",
            "**Warm request path** (authorizer + API function):",
            _table(headers, rows),
            "**After the request, and from a cold start.** *Asynchronous*: what the request "
            "sets off, the table's stream into the event publisher (with the template's "
            "filter) and the events it puts on the bus into their consumers. *Cold*: the "
            "request path when every function it reaches starts with empty caches.",
            _table(
                [
                    "operation",
                    "asynchronous",
                    "asynchronous, by function",
                    "cold request path",
                    "cold, by function",
                ],
                later,
            ),
        ]
    )


# -- cold start ----------------------------------------------------------------------------


def _goal(folder: str, ratio: float) -> str:
    goal = coldstart.GOALS.get(folder)
    if goal is None:
        return "—"
    verdict = "met" if ratio <= goal else "**missed**"
    return f"≤ {goal} ({verdict})"


def _import_row(figures: ImportFigures, ratio: float | None, fastest: float | None) -> list[object]:
    flags = [_yes(figures.imported.get(m, False)) for m in coldstart.AUTHORIZER_UNWANTED]
    return [
        f"`{figures.folder}`" if ratio is not None else "reference: boto3 + DynamoDB client",
        _ms(figures.median_ms),
        f"{min(figures.seconds) * 1000:.1f} to {max(figures.seconds) * 1000:.1f}",
        f"{ratio:.2f}" if ratio is not None else "1.00",
        _goal(figures.folder, ratio) if ratio is not None else "",
        f"{fastest:.2f}" if fastest is not None else "1.00",
        figures.modules,
        *flags,
    ]


def _cold_start_section(results: Results) -> str:
    cold = results.cold_start
    rows = [_import_row(cold.reference, None, None)]
    rows += [_import_row(f, cold.ratio(f), cold.ratio_of_fastest(f)) for f in cold.functions]
    headers = [
        "function",
        "import, median ms",
        "range ms",
        "ratio",
        "goal",
        "ratio of fastest runs",
        "modules",
        *(f"imports {m}" for m in coldstart.AUTHORIZER_UNWANTED),
    ]
    parts = [
        "## 2. Cold-start imports",
        f"Median over {cold.runs} fresh `python -I -S` processes of the time to import the "
        "function's handler module (`app`), with Lambda's `sys.path` (the function's code, "
        "then the layer: `layers/core` and its pinned dependencies, installed on their own "
        "from `layers/core/requirements.txt` into `.venv/bench-layer`) and the environment "
        "`template.yaml` gives the function. The ratio divides it by the median time of "
        '`import boto3; boto3.client("dynamodb", region_name="us-east-1")` in fresh '
        "processes of the same run; the ratio of the fastest runs beside it shows how much "
        "of a difference is noise. Bytecode caches are warm (one untimed round first); "
        "interpreter start-up is not included in either figure.",
        _table(headers, rows),
    ]
    by_folder = {f.folder: f for f in cold.functions}
    for folder in ("authorizer", "api"):
        figures = by_folder.get(folder)
        if figures is None:
            continue
        heavy = ", ".join(f"{name} {ms:.0f}" for name, ms in figures.heaviest)
        lines = [
            f"**`{folder}`**, from one run under `-X importtime`: heaviest top-level "
            f"packages, cumulative ms (nested figures overlap): {heavy}."
        ]
        for module, chain in figures.chains.items():
            if module in coldstart.AUTHORIZER_UNWANTED:
                lines.append(f"- `{module}` comes in through " + " → ".join(chain))
        parts.append("\n".join(lines))
    return "\n\n".join(parts)


# -- CPU per operation ---------------------------------------------------------------------


def _operations_section(results: Results) -> str:
    floors = {row.name: row for row in comparisons(results) if row.group == "in-memory"}
    rows = []
    for operation in results.operations:
        timing, floor = operation.timing, floors[operation.name]
        rows.append(
            [
                operation.name,
                operation.description,
                timing.runs,
                _ms(timing.median_cpu_ms),
                _ms(timing.mean_cpu_ms),
                _ms(timing.p95_cpu_ms),
                _ms(timing.median_wall_ms),
                f"{_ms(floor.floor_ms)} ({floor.floor})",
                f"{floor.ratio:.1f}",
            ]
        )
    return "\n\n".join(
        [
            "## 3. CPU time per operation, in-memory store",
            "The domain over `harness/fakes.py` (`InMemoryStore`, `FixedClock`, "
            "`key_ring_source`), built as `harness/domain.py` builds it for the unit tests (RS256,"
            " the default session policy): what the service itself spends on a request, without "
            "any AWS round trip. Each call timed with `time.process_time_ns` (CPU) and "
            "`time.perf_counter_ns` (wall). The floor is the cryptography the operation cannot "
            "avoid, measured in sections 4 and 5.",
            _table(
                [
                    "operation",
                    "what it does",
                    "runs",
                    "median CPU ms",
                    "mean CPU ms",
                    "p95 CPU ms",
                    "median wall ms",
                    "floor ms",
                    "x floor",
                ],
                rows,
            ),
        ]
    )


# -- argon2 and cost -----------------------------------------------------------------------


def _cost_cells(cost: LambdaCost) -> list[str]:
    return [
        _ms(cost.lambda_ms),
        f"{cost.gb_seconds_per_million:,.0f}",
        f"${cost.compute_dollars_per_million:.2f}",
        f"${cost.dollars_per_million:.2f}",
    ]


def _argon2_section(results: Results) -> str:
    memory = argon2_cost.api_memory_mb()
    share = LambdaCost(memory, 1.0).vcpu_share
    rows = []
    for figures in results.argon2:
        p = figures.parameters
        cost = LambdaCost(memory, figures.verify.median_cpu_ms)
        rows.append(
            [
                f"{figures.label}: m={p.memory_cost_kib} KiB, t={p.time_cost}, p={p.parallelism}",
                _ms(figures.hash.median_cpu_ms),
                _ms(figures.verify.median_cpu_ms),
                *_cost_cells(cost),
            ]
        )
    login = results.operation("login, real argon2").timing
    rows.append(
        [
            "whole login with the service default (section 3, in-memory)",
            "",
            _ms(login.median_cpu_ms),
            *_cost_cells(LambdaCost(memory, login.median_cpu_ms)),
        ]
    )
    default = results.argon2_named("service default").hash.median_cpu_ms
    owasp = results.argon2_named("OWASP minimum").hash.median_cpu_ms
    return "\n\n".join(
        [
            "## 4. argon2id and the Lambda bill",
            "Median CPU time of `Passwords(parameters).hash` and `.verify` on one core. "
            f"The service's parameters (`DEFAULT_PARAMETERS`) cost {default / owasp:.2f} times "
            "OWASP's minimum (m=19456 KiB, t=2, p=1).",
            f"Cost per million logins, login being one verification: the API function has "
            f"{memory} MB (`MemorySize` in `template.yaml`). Lambda gives a function CPU in "
            f"proportion to its memory, one vCPU at {argon2_cost.MB_PER_VCPU} MB, so at "
            f"{memory} MB it gets about {share:.2f} of a vCPU: single-core times are divided "
            f"by {share:.2f} to estimate Lambda's duration. Then GB-seconds = duration x "
            f"{memory / 1024:g} GB, at ${argon2_cost.PRICE_PER_GB_SECOND:.10f} per GB-second "
            f"(x86), plus ${argon2_cost.PRICE_PER_MILLION_REQUESTS:.2f} per million requests. "
            "Lambda rounds each invocation up to the next millisecond; API Gateway, DynamoDB "
            "and the authorizer are billed on top and not counted here.",
            _table(
                [
                    "parameters",
                    "hash ms",
                    "verify ms",
                    "on Lambda, ms",
                    "GB-s per million",
                    "compute $ per million",
                    "with requests, $ per million",
                ],
                rows,
            ),
        ]
    )


# -- JWT -----------------------------------------------------------------------------------


def _jwt_section(results: Results) -> str:
    rows = []
    for jwt in results.jwt:
        rows.append(
            [
                jwt.algorithm,
                jwt.token_bytes,
                _us(jwt.mint),
                _us(jwt.floor_sign),
                f"{jwt.mint.median_cpu_ms / jwt.floor_sign.median_cpu_ms:.1f}",
                f"{(jwt.mint.median_cpu_ms - jwt.floor_sign.median_cpu_ms) * 1000:.0f}",
                _us(jwt.verify),
                _us(jwt.floor_verify),
                f"{jwt.verify.median_cpu_ms / jwt.floor_verify.median_cpu_ms:.1f}",
                f"{(jwt.verify.median_cpu_ms - jwt.floor_verify.median_cpu_ms) * 1000:.0f}",
            ]
        )
    return "\n\n".join(
        [
            "## 5. JWT signing and verification",
            "`AccessTokens.mint` and `AccessTokens.verify` (PyJWT, with the service's header "
            "and claim checks) beside the bare `cryptography` operation on the same signing "
            "input with the same key: PKCS#1 v1.5 with SHA-256 (RSA 2048), ECDSA P-256 with "
            "SHA-256, Ed25519. Median CPU time per call, µs.",
            _table(
                [
                    "algorithm",
                    "token bytes",
                    "mint µs",
                    "sign floor µs",
                    "x floor",
                    "overhead µs",
                    "verify µs",
                    "verify floor µs",
                    "x floor",
                    "overhead µs",
                ],
                rows,
            ),
            "Where verification's time goes: PyJWT's `jwt.decode` alone (public key ready, "
            "same options) and `jwt.get_unverified_header`, both of which "
            "`AccessTokens.verify` calls, beside the bare signature check. Median CPU µs.",
            _table(
                [
                    "algorithm",
                    "AccessTokens.verify",
                    "jwt.decode",
                    "jwt.get_unverified_header",
                    "cryptography verify",
                ],
                [
                    [
                        jwt.algorithm,
                        _us(jwt.verify),
                        _us(jwt.pyjwt_decode),
                        _us(jwt.header_parse),
                        _us(jwt.floor_verify),
                    ]
                    for jwt in results.jwt
                ],
            ),
        ]
    )


# -- summary -------------------------------------------------------------------------------


def _summary(results: Results) -> str:
    calls = {result.name: result for result in results.aws_calls}

    def warm(name: str) -> str:
        result: OperationCalls = calls[name]
        total = sum(result.warm[0].values())
        return f"{total} ({_services(result.warm[0])})"

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
    rows: list[list[object]] = [
        ["AWS calls, warm authorized request", warm("authorized request"), "—"],
        ["AWS calls, warm login", warm("login"), "—"],
        ["AWS calls, warm refresh", warm("refresh"), "—"],
        [
            "warm requests calling Secrets Manager, SSM or KMS",
            ", ".join(secret_calls) or "none",
            "none",
        ],
        [
            "cold-start import ratio, authorizer",
            f"{cold.ratio(authorizer):.2f}",
            _goal("authorizer", cold.ratio(authorizer)),
        ],
        [
            "cold-start import ratio, API function",
            f"{cold.ratio(api):.2f}",
            _goal("api", cold.ratio(api)),
        ],
        [
            "authorizer imports " + " / ".join(coldstart.AUTHORIZER_UNWANTED),
            unwanted,
            "no / no / no",
        ],
    ]
    for row in comparisons(results):
        if row.group in ("in-memory", "argon2"):
            rows.append(
                [
                    f"{row.name}, CPU ms",
                    _ms(row.measured_ms),
                    f"floor {_ms(row.floor_ms)} ({row.floor})",
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
                f"{_us(jwt.mint)} / {_us(jwt.verify)}",
                f"floor {_us(jwt.floor_sign)} / {_us(jwt.floor_verify)} (cryptography)",
            ]
        )
    return "\n\n".join(
        [
            "## Summary",
            _table(["figure", "measured", "goal or floor"], rows),
            "![Median CPU time per operation against its floor](performance.png)",
        ]
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
    return "\n\n".join(["## Machine", _table(["", ""], rows)])


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
        _aws_section(results),
        _cold_start_section(results),
        _operations_section(results),
        _argon2_section(results),
        _jwt_section(results),
        load.saved_section(),
        _caveats(),
    ]
    return "\n\n".join(section for section in sections if section) + "\n"
