"""The measured sections of docs/performance.md: cold starts, CPU per operation, argon2
and JWT (the AWS calls: bench/report_calls.py; e-mail: bench/report_email.py)."""

from __future__ import annotations

from bench import argon2_cost, coldstart
from bench.argon2_cost import LambdaCost
from bench.coldstart import DocumentCheck, ImportFigures
from bench.markdown import ms, table, us, yes
from bench.results import Results, comparisons

# -- cold start ----------------------------------------------------------------------------


def goal(folder: str, ratio: float) -> str:
    goal = coldstart.GOALS.get(folder)
    if goal is None:
        return "—"
    verdict = "met" if ratio <= goal else "**missed**"
    return f"≤ {goal} ({verdict})"


def _import_row(figures: ImportFigures, ratio: float | None, fastest: float | None) -> list[object]:
    flags = [yes(figures.imported.get(m, False)) for m in coldstart.AUTHORIZER_UNWANTED]
    return [
        f"`{figures.folder}`" if ratio is not None else "reference: boto3 + DynamoDB client",
        ms(figures.median_ms),
        f"{min(figures.seconds) * 1000:.1f} to {max(figures.seconds) * 1000:.1f}",
        f"{ratio:.2f}" if ratio is not None else "1.00",
        goal(figures.folder, ratio) if ratio is not None else "",
        f"{fastest:.2f}" if fastest is not None else "1.00",
        figures.modules,
        *flags,
    ]


def cold_start_section(results: Results) -> str:
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
        table(headers, rows),
    ]
    if cold.document_check is not None:
        parts.append(_document_check_paragraph(cold.document_check, cold.runs))
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


def _document_check_paragraph(check: DocumentCheck, runs: int) -> str:
    return (
        "**The authorizer's first request**, beyond its import, also checks the published "
        "keys' signature (docs/security.md): it makes a KMS client, asks KMS for the "
        "document key's public part (`GetPublicKey`, one network round trip, once per "
        "container: not measured here), loads it and verifies the document. Median over "
        f"{runs} fresh processes, after the authorizer's import, its clients made in its "
        f"first request's order: KMS client {ms(check.kms_client_ms)} ms (range "
        f"{min(check.kms_client_seconds) * 1000:.1f} to "
        f"{max(check.kms_client_seconds) * 1000:.1f}; the DynamoDB client, made the same "
        f"way in the same processes, {ms(check.dynamodb_client_ms)} ms), public part "
        f"loaded and a two-key document verified {ms(check.check_ms)} ms (range "
        f"{min(check.check_seconds) * 1000:.2f} to {max(check.check_seconds) * 1000:.2f})."
    )


# -- CPU per operation ---------------------------------------------------------------------


def operations_section(results: Results) -> str:
    floors = {row.name: row for row in comparisons(results) if row.group == "in-memory"}
    rows = []
    for operation in results.operations:
        timing, floor = operation.timing, floors[operation.name]
        rows.append(
            [
                operation.name,
                operation.description,
                timing.runs,
                ms(timing.median_cpu_ms),
                ms(timing.mean_cpu_ms),
                ms(timing.p95_cpu_ms),
                ms(timing.median_wall_ms),
                f"{ms(floor.floor_ms)} ({floor.floor})",
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
            table(
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
        ms(cost.lambda_ms),
        f"{cost.gb_seconds_per_million:,.0f}",
        f"${cost.compute_dollars_per_million:.2f}",
        f"${cost.dollars_per_million:.2f}",
    ]


def argon2_section(results: Results) -> str:
    memory = argon2_cost.api_memory_mb()
    share = LambdaCost(memory, 1.0).vcpu_share
    rows = []
    for figures in results.argon2:
        p = figures.parameters
        cost = LambdaCost(memory, figures.verify.median_cpu_ms)
        rows.append(
            [
                f"{figures.label}: m={p.memory_cost_kib} KiB, t={p.time_cost}, p={p.parallelism}",
                ms(figures.hash.median_cpu_ms),
                ms(figures.verify.median_cpu_ms),
                *_cost_cells(cost),
            ]
        )
    login = results.operation("login, real argon2").timing
    rows.append(
        [
            "whole login with the service default (section 3, in-memory)",
            "",
            ms(login.median_cpu_ms),
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
            table(
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


def jwt_section(results: Results) -> str:
    rows = []
    for jwt in results.jwt:
        rows.append(
            [
                jwt.algorithm,
                jwt.token_bytes,
                us(jwt.mint),
                us(jwt.floor_sign),
                f"{jwt.mint.median_cpu_ms / jwt.floor_sign.median_cpu_ms:.1f}",
                f"{(jwt.mint.median_cpu_ms - jwt.floor_sign.median_cpu_ms) * 1000:.0f}",
                us(jwt.verify),
                us(jwt.floor_verify),
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
            table(
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
            table(
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
                        us(jwt.verify),
                        us(jwt.pyjwt_decode),
                        us(jwt.header_parse),
                        us(jwt.floor_verify),
                    ]
                    for jwt in results.jwt
                ],
            ),
        ]
    )


# -- summary -------------------------------------------------------------------------------
