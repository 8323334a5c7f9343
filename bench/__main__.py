"""`python -m bench` (with layers/core and the repository root on PYTHONPATH, as
`make bench` sets them): run every measurement, then write docs/performance.md and
docs/performance.png."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

from bench import (
    argon2_cost,
    aws_calls,
    backchannel_timing,
    chart,
    coldstart,
    email_calls,
    email_timing,
    jwt_signing,
    login_wall,
    machine,
    operations,
    sso_calls,
)
from bench.report import render
from bench.results import Results
from session_service.observability import logger

DOCS = Path(__file__).resolve().parent.parent / "docs"


def _phase[T](title: str, step: Callable[[], T]) -> T:
    print(f"bench: {title}…", file=sys.stderr, flush=True)
    start = time.perf_counter()
    result = step()
    print(f"bench: {title}: {time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--runs",
        type=int,
        default=coldstart.RUNS,
        help=f"fresh processes per cold-start figure (default {coldstart.RUNS})",
    )
    parser.add_argument(
        "--email-runs",
        type=int,
        default=email_timing.RUNS,
        help="requests per side of each known/unknown e-mail comparison "
        f"(default {email_timing.RUNS})",
    )
    parser.add_argument(
        "--backchannel-rounds",
        type=int,
        default=backchannel_timing.ROUNDS,
        help="logouts timed to the other app's back-channel receipt "
        f"(default {backchannel_timing.ROUNDS})",
    )
    parser.add_argument("--out", type=Path, default=DOCS, help="where to write (docs/)")
    args = parser.parse_args()
    logger.setLevel("WARNING")  # evictions and the like would flood the console

    started = time.perf_counter()
    cold_start = _phase("cold-start imports", lambda: coldstart.run(args.runs))
    jwt = _phase("JWT sign and verify", jwt_signing.run)
    argon2 = _phase("argon2id", argon2_cost.run)
    in_memory = _phase("CPU per operation, in-memory", operations.run)
    calls = _phase("AWS calls against moto", aws_calls.run)
    calls += _phase("AWS calls of e-mail against moto", email_calls.run)
    email = _phase(
        "e-mail, known against unknown accounts", lambda: email_timing.run(args.email_runs)
    )
    sso, _ = _phase("AWS calls of single sign-on against moto", sso_calls.run)
    backchannel = _phase(
        "logout to back-channel receipt, on a local run",
        lambda: backchannel_timing.run(args.backchannel_rounds),
    )
    wall = _phase("a login's wall time, on a local run over DynamoDB Local", login_wall.run)
    emulated = _phase("a login's wall time, with a region's round trip", login_wall.emulated)
    results = Results(
        machine=machine.describe(),
        cold_start=cold_start,
        operations=in_memory,
        argon2=argon2,
        jwt=jwt,
        aws_calls=calls,
        email_timing=email,
        sso_calls=sso,
        backchannel=backchannel,
        login_wall=wall,
        login_round_trips=emulated,
    )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "performance.md").write_text(render(results))
    chart.draw(results, args.out / "performance.png")
    elapsed = time.perf_counter() - started
    print(f"bench: wrote {args.out}/performance.md and performance.png in {elapsed:.0f} s")


if __name__ == "__main__":
    main()
