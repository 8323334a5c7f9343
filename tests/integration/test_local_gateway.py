"""The local gateway's HTTP server and function pools under bursts and failures: a burst
of connections is queued, not reset; its own errors are answered, not dropped; a function
process that dies is replaced."""

from __future__ import annotations

import http.client
import json
import os
import socket
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import requests

from local_run import functions
from local_run.api_definition import HttpRoute
from local_run.functions import FunctionPool, InvocationError, Throttled
from local_run.gateway import Gateway, GatewayConfig, serve
from local_run.responses import GatewayResponse
from local_run.template import ROOT


class StaticGateway:
    def handle(self, *_: Any) -> GatewayResponse:
        return GatewayResponse(200, [("Content-Type", "application/json")], b"{}")


class BrokenGateway:
    def handle(self, *_: Any) -> GatewayResponse:
        raise KeyError("a bug of the local run's own")


def _serving(gateway: Any) -> tuple[str, Any]:
    server = serve(gateway, "127.0.0.1", 0)
    return f"http://127.0.0.1:{server.server_address[1]}", server


def test_a_burst_of_connections_while_the_server_is_busy_is_queued_not_reset() -> None:
    # Given a server whose accept loop is busy (not yet accepting), and 64 clients
    url, server = _serving(StaticGateway())
    outcomes: list[str] = []
    lock = threading.Lock()

    def client() -> None:
        try:
            outcome = str(requests.post(f"{url}/auth/login", json={}, timeout=10).status_code)
        except requests.RequestException as error:
            outcome = type(error).__name__
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=client) for _ in range(64)]
    for thread in threads:
        thread.start()
    # the clients' connections arrive while nothing accepts them: wait until the kernel
    # holds all 64 in the listen queue (or, with too small a backlog, gives up on some)
    port = server.server_address[1]
    deadline = time.monotonic() + 3
    while accept_queue(port) < 64 and time.monotonic() < deadline:
        time.sleep(0.01)
    # When it starts accepting
    threading.Thread(target=server.serve_forever, daemon=True).start()
    for thread in threads:
        thread.join()
    # Then every client got its answer: none was reset
    server.shutdown()
    assert Counter(outcomes) == Counter({"200": 64})


def accept_queue(port: int) -> int:
    """Connections waiting in the listen queue of this port (Linux: /proc/net/tcp)."""
    with open("/proc/net/tcp") as table:
        for line in table.readlines()[1:]:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if local_port == port and fields[3] == "0A":  # LISTEN
                return int(fields[4].split(":")[1], 16)
    return 0


def test_an_error_of_the_gateway_itself_is_answered_500_not_dropped(
    capsys: pytest.CaptureFixture[str],
) -> None:
    url, server = _serving(BrokenGateway())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    answer = requests.post(f"{url}/auth/login", json={}, timeout=10)
    server.shutdown()
    assert answer.status_code == 500
    assert answer.json() == {"message": "Internal Server Error"}
    assert "a bug of the local run's own" in capsys.readouterr().err


def _raw_post(url: str, content_length: str, body: bytes) -> int:
    """POST with a Content-Length of our choosing; the status of the answer."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        head = f"POST /auth/login HTTP/1.1\r\nHost: {host}\r\nContent-Length: {content_length}"
        connection.sendall(head.encode() + b"\r\n\r\n" + body)
        status_line = connection.makefile("rb").readline()
    return int(status_line.split()[1])


@pytest.mark.parametrize(
    ("length", "body", "status"),
    [
        (str(11 * 1024 * 1024), b"x" * (11 * 1024 * 1024), 413),
        ("twelve", b"", 400),
        ("-5", b"", 400),
    ],
    ids=["over-10-MiB", "not-a-number", "negative"],
)
def test_a_body_the_gateway_refuses_is_answered(length: str, body: bytes, status: int) -> None:
    url, server = _serving(StaticGateway())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        assert _raw_post(url, length, body) == status
    finally:
        server.shutdown()


HANDLER = """
import os
import time


def lambda_handler(event, context):
    time.sleep(event.get("sleep", 0))
    if event.get("die"):
        os._exit(1)
    if event.get("raise"):
        raise ValueError("the handler failed")
    return {"pid": os.getpid()}
"""


def _probe_command(tmp_path: Path) -> list[str]:
    (tmp_path / "app.py").write_text(HANDLER)
    return [
        *(sys.executable, "-m", "local_run.function_host", "--name", "probe"),
        *("--code-dir", str(tmp_path), "--layer-dir", str(tmp_path)),
        *("--handler", "app.lambda_handler", "--timeout", "5"),
    ]


PROBE_ENV = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}


@pytest.fixture
def pool(tmp_path: Path) -> Any:
    pool = FunctionPool("probe", _probe_command(tmp_path), PROBE_ENV)
    yield pool
    pool.stop()


@pytest.fixture
def reserved_pool(tmp_path: Path) -> Any:
    """A function whose ReservedConcurrentExecutions is 1."""
    pool = FunctionPool("probe", _probe_command(tmp_path), PROBE_ENV, reserved=1)
    yield pool
    pool.stop()


def _busy(pool: FunctionPool, seconds: float) -> threading.Thread:
    """An invocation holding one of the pool's environments, running once this returns."""
    thread = threading.Thread(target=pool.invoke, args=({"sleep": seconds},), daemon=True)
    thread.start()
    while not pool._all or pool._idle:  # started, and its environment taken
        time.sleep(0.01)
    return thread


def test_a_synchronous_invocation_beyond_reserved_concurrency_is_throttled(
    reserved_pool: FunctionPool,
) -> None:
    # Given the one reserved environment busy
    busy = _busy(reserved_pool, 1.0)
    # When a synchronous invocation arrives, it is throttled as Lambda throttles it
    with pytest.raises(Throttled) as throttled:
        reserved_pool.invoke({})
    assert throttled.value.error_type == "TooManyRequestsException"
    # and API Gateway answers it 500, as it answers Lambda's 429
    gateway = Gateway(
        GatewayConfig(
            [HttpRoute("GET", "/probe", "probe", None)], {}, {}, functions={"probe": reserved_pool}
        )
    )
    answer = gateway.handle("GET", "/probe", [], b"", "203.0.113.9")
    assert (answer.status, json.loads(answer.body)) == (500, {"message": "Internal Server Error"})
    busy.join()
    # and no second environment was started for it
    assert len(reserved_pool._all) == 1


def test_a_queued_invocation_beyond_reserved_concurrency_waits_for_its_turn(
    reserved_pool: FunctionPool,
) -> None:
    # Given the one reserved environment busy
    busy = _busy(reserved_pool, 0.5)
    first_pid = reserved_pool._all[0].pid
    # When an event (asynchronous, or a stream batch) arrives, Lambda queues it
    answer = reserved_pool.invoke({}, queued=True)
    busy.join()
    # Then it ran once the environment was free, in that same environment
    assert answer["pid"] == first_pid
    assert len(reserved_pool._all) == 1


def test_a_function_process_that_dies_is_replaced_by_a_cold_start(pool: FunctionPool) -> None:
    first = pool.invoke({})["pid"]
    with pytest.raises(http.client.RemoteDisconnected):
        pool.invoke({"die": True})
    second = pool.invoke({})["pid"]
    assert second != first
    assert len(pool._all) == 1


def test_environments_left_idle_are_reclaimed_but_one(pool: FunctionPool) -> None:
    # Given a burst that needed three environments (each busy when the next was asked for)
    busy = [_busy_as_the_nth(pool, n, 2.0) for n in (1, 2, 3)]
    for thread in busy:
        thread.join()
    pids = set(pool.pids())
    assert len(pids) == 3
    # When they have been idle long enough, all but one are reclaimed
    assert pool.reclaim_idle(0.0) == 2
    (kept,) = pool.pids()
    assert kept in pids
    # and their processes have ended
    assert [pid for pid in pids - {kept} if _running(pid)] == []
    # and the one kept still answers, warm
    assert pool.invoke({})["pid"] == kept
    # and environments idle for less than the time given are kept
    assert pool.reclaim_idle(3600.0) == 0


def _busy_as_the_nth(pool: FunctionPool, n: int, seconds: float) -> threading.Thread:
    """An invocation holding the pool's nth environment, running once this returns."""
    thread = threading.Thread(target=pool.invoke, args=({"sleep": seconds},), daemon=True)
    thread.start()
    deadline = time.monotonic() + seconds
    while (len(pool._all) < n or pool._idle) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(pool._all) == n, "the environments before it were no longer busy"
    return thread


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_handler_error_keeps_its_warm_process(pool: FunctionPool) -> None:
    first = pool.invoke({})["pid"]
    with pytest.raises(InvocationError):
        pool.invoke({"raise": True})
    assert pool.invoke({})["pid"] == first


def test_a_cold_start_that_fails_is_not_counted_as_an_instance(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(functions, "MAX_INSTANCES", 1)
    command = [sys.executable, "-c", "raise SystemExit(3)"]
    broken = FunctionPool("broken", command, {"PATH": "/usr/bin:/bin"})
    for _ in range(3):
        with pytest.raises(InvocationError):
            broken.invoke({}, timeout=5)
    assert broken._all == []


class Echo:
    """A function that answers every invocation 200 with its route key."""

    name = "Echo"

    def invoke(self, event: dict[str, Any]) -> Any:
        return {"statusCode": 200, "body": event["routeKey"]}


CORS = {
    "allowOrigins": ["https://app.example"],
    "allowMethods": ["GET", "POST"],
    "allowHeaders": ["content-type"],
    "maxAge": 600,
}
PREFLIGHT = [("origin", "https://app.example"), ("access-control-request-method", "POST")]


def gateway(*routes: HttpRoute) -> Gateway:
    config = GatewayConfig(list(routes), {}, {}, cors=CORS, functions={"Echo": Echo()})  # type: ignore[dict-item]
    return Gateway(config)


def test_a_preflight_no_route_takes_is_answered_by_the_gateway_itself() -> None:
    answer = gateway(HttpRoute("POST", "/auth/login", "Echo", None)).handle(
        "OPTIONS", "/auth/login", PREFLIGHT, b"", "203.0.113.9"
    )
    assert (answer.status, answer.body) == (204, b"")
    assert ("Access-Control-Allow-Methods", "GET,POST") in answer.headers


@pytest.mark.parametrize(
    ("route", "route_key"),
    [
        (HttpRoute("OPTIONS", "/{proxy+}", "Echo", None), "OPTIONS /{proxy+}"),
        (HttpRoute("ANY", "/auth/login", "Echo", None), "ANY /auth/login"),
        (HttpRoute("ANY", "$default", "Echo", None), "$default"),
    ],
)
def test_a_preflight_a_route_takes_reaches_its_function_and_gets_the_cors_headers(
    route: HttpRoute, route_key: str
) -> None:
    answer = gateway(HttpRoute("POST", "/auth/login", "Echo", None), route).handle(
        "OPTIONS", "/auth/login", PREFLIGHT, b"", "203.0.113.9"
    )
    assert (answer.status, answer.body) == (200, route_key.encode())
    assert ("Access-Control-Allow-Origin", "https://app.example") in answer.headers
    assert ("Access-Control-Allow-Headers", "content-type") in answer.headers
