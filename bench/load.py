"""`make load`: a bounded load test of the local run, on loopback only.

It starts a local run of its own (or uses LOAD_URL, which must be a loopback address),
then N clients each register a user and repeat the flow a frontend runs (log in, refresh
twice, read the session and the session list, log out, and see the session refused)
until the time is up. It prints requests per second, latency percentiles and errors by
kind, writes docs/load.json, and refreshes the load section of docs/performance.md.
LOCAL_DYNAMODB=dynamodb-local measures the local run on DynamoDB Local; each backend keeps
its own column. Exit status 1 when any request failed or got an answer the flow does not
expect."""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from bench.load_faults import fault_figures_fail, fault_lines, injected_faults, reuse_events
from harness.lost_answers import FAULTS_VARIABLE, parse_faults

DOCS = Path(__file__).resolve().parent.parent / "docs"
PASSWORD = "correct horse battery"
LOOPBACK = ("127.0.0.1", "localhost", "::1")
SECTION_START = "<!-- make load: begin -->"
SECTION_END = "<!-- make load: end -->"


@dataclass
class Tally:
    """What the clients saw, merged under a lock."""

    latencies_ms: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    flows: int = 0
    # Every answer by status (retries included); 503s without Retry-After; a session
    # found ended (401) before its client logged out.
    statuses: Counter[int] = field(default_factory=Counter)
    no_retry_after: int = 0
    ended_under_client: int = 0

    def add(self, other: Tally) -> None:
        self.latencies_ms.extend(other.latencies_ms)
        self.errors.update(other.errors)
        self.flows += other.flows
        self.statuses.update(other.statuses)
        self.no_retry_after += other.no_retry_after
        self.ended_under_client += other.ended_under_client


@dataclass(frozen=True)
class LoadResult:
    clients: int
    seconds: float
    requests: int
    flows: int
    requests_per_second: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    errors: dict[str, int]
    commit: str
    measured_at: str
    # The local run's DynamoDB: moto's server (make run's default) or DynamoDB Local.
    backend: str = "moto"
    # With FAULTS (bench/load_faults.py): what was injected, and what the clients met.
    faults: str = ""
    statuses: dict[str, int] = field(default_factory=dict)
    no_retry_after: int = 0
    ended_under_clients: int = 0
    reuse_events: int = 0
    injected: dict[str, int] = field(default_factory=dict)


BACKEND_NAMES = {
    "moto": "moto's server",
    "dynamodb-local": "DynamoDB Local",
    "load-url": "the server at LOAD_URL",
}


class Client:
    """One frontend: a user of its own and the flow, repeated."""

    def __init__(self, base_url: str, tally: Tally, timeout: float = 30) -> None:
        self.base_url = base_url
        self.tally = tally
        self.timeout = timeout
        self.http = requests.Session()
        self.username = f"load-{uuid.uuid4().hex[:16]}"

    def call(
        self, step: str, method: str, path: str, expected: int, **kwargs: Any
    ) -> dict[str, Any] | None:
        answer = self._send(method, path, **kwargs)
        if answer is not None and answer.status_code == 503:
            # As a client does: the same request once more, after Retry-After.
            time.sleep(min(float(answer.headers.get("Retry-After", "1")), 2))
            answer = self._send(method, path, **kwargs)
        if answer is None:
            return None
        if answer.status_code == 401 and expected == 200 and step != "login":
            self.tally.ended_under_client += 1
        if answer.status_code >= 500:
            self.tally.errors[f"{answer.status_code} on {step}"] += 1
            return None
        if answer.status_code != expected:
            self.tally.errors[f"{step}: {answer.status_code} instead of {expected}"] += 1
            return None
        return dict(answer.json()) if answer.content else {}

    def _send(self, method: str, path: str, **kwargs: Any) -> requests.Response | None:
        started = time.perf_counter()
        try:
            answer = self.http.request(method, self.base_url + path, timeout=self.timeout, **kwargs)
        except requests.ConnectionError as error:
            reset = "reset" in str(error).lower() or "aborted" in str(error).lower()
            self.tally.errors["connection reset" if reset else "connection error"] += 1
            return None
        except requests.Timeout:
            self.tally.errors["timeout"] += 1
            return None
        self.tally.latencies_ms.append((time.perf_counter() - started) * 1000)
        self.tally.statuses[answer.status_code] += 1
        if answer.status_code == 503 and "Retry-After" not in answer.headers:
            self.tally.no_retry_after += 1
        return answer

    def register(self) -> bool:
        body = {"username": self.username, "password": PASSWORD}
        return self.call("register", "POST", "/auth/register", 201, json=body) is not None

    def flow(self) -> bool:
        """One round; False at the first unexpected answer."""
        body = {"username": self.username, "password": PASSWORD}
        tokens = self.call("login", "POST", "/auth/login", 200, json=body)
        for step in ("refresh 1", "refresh 2"):
            if tokens is None:
                return False
            refresh = {"refresh_token": tokens["refresh_token"]}
            tokens = self.call(step, "POST", "/auth/refresh", 200, json=refresh)
        if tokens is None:
            return False
        bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
        steps: list[tuple[str, str, str, int]] = [
            ("session", "GET", "/auth/session", 200),
            ("sessions", "GET", "/auth/sessions", 200),
            ("logout", "POST", "/auth/logout", 204),
            ("refused after logout", "GET", "/auth/session", 401),
        ]
        for step, method, path, expected in steps:
            if self.call(step, method, path, expected, headers=bearer) is None:
                return False
        self.tally.flows += 1
        return True


def run(base_url: str, clients: int, seconds: float) -> Tally:
    """`clients` threads, released together, each looping over the flow for `seconds`."""
    merged = Tally()
    lock = threading.Lock()
    start = threading.Barrier(clients)

    def work() -> None:
        tally = Tally()
        client = Client(base_url, tally)
        start.wait()
        deadline = time.monotonic() + seconds
        if client.register():
            while time.monotonic() < deadline:
                client.flow()
        with lock:
            merged.add(tally)

    threads = [threading.Thread(target=work, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return merged


def summarize(
    tally: Tally, clients: int, seconds: float, backend: str = "moto", faults: str = ""
) -> LoadResult:
    ordered = sorted(tally.latencies_ms) or [0.0]

    def percentile(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(len(ordered) * p))], 1)

    return LoadResult(
        clients=clients,
        seconds=seconds,
        requests=len(tally.latencies_ms) + sum(tally.errors.values()),
        flows=tally.flows,
        requests_per_second=round(len(tally.latencies_ms) / seconds, 1),
        p50_ms=percentile(0.50),
        p95_ms=percentile(0.95),
        p99_ms=percentile(0.99),
        max_ms=round(ordered[-1], 1),
        errors=dict(tally.errors),
        commit=_commit(),
        measured_at=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        backend=backend,
        faults=faults,
        statuses={str(status): n for status, n in sorted(tally.statuses.items())},
        no_retry_after=tally.no_retry_after,
        ended_under_clients=tally.ended_under_client,
    )


def _commit() -> str:
    head = Path(__file__).resolve().parent.parent / ".git" / "HEAD"
    try:
        ref = head.read_text().strip()
        if ref.startswith("ref: "):
            return (head.parent / ref[5:]).read_text().strip()[:7]
        return ref[:7]
    except OSError:
        return "unknown"


def report(result: LoadResult) -> str:
    errors = ", ".join(f"{kind}: {n}" for kind, n in sorted(result.errors.items())) or "none"
    return "\n".join(
        [
            f"load: {result.clients} clients for {result.seconds:.0f} s against the local run"
            f" on {BACKEND_NAMES.get(result.backend, result.backend)}",
            f"  requests {result.requests}, flows completed {result.flows}",
            f"  {result.requests_per_second} requests/s",
            f"  latency p50 {result.p50_ms} ms, p95 {result.p95_ms} ms, p99 {result.p99_ms} ms,"
            f" max {result.max_ms} ms",
            f"  errors: {errors}",
            *fault_lines(result),
        ]
    )


def section(results: list[LoadResult]) -> str:
    """The load section of docs/performance.md: a column per backend measured."""

    def errors(result: LoadResult) -> str:
        kinds = sorted(result.errors.items())
        return ", ".join(f"{kind}: {n}" for kind, n in kinds) or "none"

    rows: list[tuple[str, Callable[[LoadResult], str]]] = [
        ("clients, duration", lambda r: f"{r.clients}, {r.seconds:.0f} s"),
        ("requests (flows completed)", lambda r: f"{r.requests} ({r.flows})"),
        ("requests/s", lambda r: str(r.requests_per_second)),
        (
            "latency p50 / p95 / p99 / max",
            lambda r: f"{r.p50_ms} / {r.p95_ms} / {r.p99_ms} / {r.max_ms} ms",
        ),
        ("errors", errors),
        ("measured", lambda r: f"{r.measured_at}, commit `{r.commit}`"),
    ]
    header = "| DynamoDB | " + " | ".join(BACKEND_NAMES.get(r.backend, r.backend) for r in results)
    lines = [header + " |", "|---|" + "---|" * len(results)]
    lines += [f"| {name} | " + " | ".join(cell(r) for r in results) + " |" for name, cell in rows]
    return "\n\n".join(
        [
            SECTION_START,
            "## Load (`make load`)",
            "Each client registers a user, then repeats the flow a frontend runs: log in, "
            "refresh twice, read the session and the session list, log out, and see the "
            "session refused (7 requests). The local run with its defaults (one function "
            "process per concurrent request) on the machine above, DynamoDB served by moto's "
            "server (`make load`) or by AWS's DynamoDB Local (`LOCAL_DYNAMODB=dynamodb-local "
            "make load`); the clients run on the same two cores. Every answer is checked: an "
            "error is a reset, a timeout, a 5xx, or any status the flow does not expect.",
            "\n".join(lines),
            SECTION_END,
        ]
    )


def saved_results(docs: Path = DOCS) -> list[LoadResult]:
    """The last `make load` of each backend, moto's first."""
    saved = docs / "load.json"
    if not saved.exists():
        return []
    by_backend = json.loads(saved.read_text())
    if "clients" in by_backend:  # one result, as `make load` saved it before backends
        by_backend = {"moto": by_backend}
    return [LoadResult(**by_backend[name]) for name in sorted(by_backend, key=_backend_order)]


def _backend_order(name: str) -> tuple[bool, str]:
    return (name != "moto", name)


def write_docs(result: LoadResult, docs: Path = DOCS) -> None:
    results = {r.backend: r for r in saved_results(docs)} | {result.backend: result}
    by_backend = {name: asdict(r) for name, r in results.items()}
    (docs / "load.json").write_text(json.dumps(by_backend, indent=2) + "\n")
    shown = sorted(results.values(), key=lambda r: _backend_order(r.backend))
    page = docs / "performance.md"
    text = page.read_text() if page.exists() else "# Performance\n"
    if SECTION_START in text and SECTION_END in text:
        before, rest = text.split(SECTION_START, 1)
        after = rest.split(SECTION_END, 1)[1]
        text = before + section(shown) + after
    else:
        text = text.rstrip("\n") + "\n\n" + section(shown) + "\n"
    page.write_text(text)


def saved_section(docs: Path = DOCS) -> str | None:
    """The load section from the last `make load`s, for `make bench`'s page."""
    results = saved_results(docs)
    return section(results) if results else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--no-docs", action="store_true", help="print only")
    parser.add_argument(
        "--faults",
        default="",
        help="pre:RATE or post:RATE: DynamoDB fails that share of calls before they are "
        "applied, or of writes after (print only)",
    )
    args = parser.parse_args(argv)
    if args.faults:
        parse_faults(args.faults)  # refuses a bad spec before anything starts
    url = os.environ.get("LOAD_URL", "").rstrip("/")
    # A server at LOAD_URL is none of ours: its column says so, whatever LOCAL_DYNAMODB is.
    backend = "load-url" if url else (os.environ.get("LOCAL_DYNAMODB") or "moto")
    local = None
    if url:
        if urlsplit(url).hostname not in LOOPBACK:
            parser.error("LOAD_URL must be a loopback address: this load is for the local run")
    else:
        from local_run import launcher  # noqa: PLC0415

        print("load: starting a local run…", file=sys.stderr, flush=True)
        # Every client registers from 127.0.0.1: room for them all (REGISTRATIONS_PER_IP).
        local = launcher.start(
            {
                "POWERTOOLS_LOG_LEVEL": "WARNING",
                "LOCAL_DYNAMODB": backend,
                "REGISTRATIONS_PER_IP": "100000",
                **({FAULTS_VARIABLE: args.faults} if args.faults else {}),
            }
        )
        url = local.base_url
    try:
        tally = run(url, args.clients, args.seconds)
    finally:
        if local is not None:
            local.stop()
    result = summarize(tally, args.clients, args.seconds, backend, args.faults)
    if local is not None:
        logs = local.logs()
        result = replace(result, reuse_events=reuse_events(logs), injected=injected_faults(logs))
    print(report(result), flush=True)
    if args.faults:
        return 1 if fault_figures_fail(result) else 0
    if not args.no_docs:
        write_docs(result)
    return 1 if result.errors else 0


if __name__ == "__main__":
    sys.exit(main())
