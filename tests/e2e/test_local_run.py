"""The local run itself: configuration errors, another AWS endpoint, and Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable

import boto3
import pytest
import requests

from local_run import dynamodb_local, launcher
from local_run.launcher import free_port
from local_run.template import ROOT
from tests.e2e.service import (
    DEPLOYED_URL,
    BusListener,
    Service,
    descendants,
    start_local_run,
    stop,
)
from tests.helpers import PASSWORD

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.xdist_group("e2e"),
    pytest.mark.skipif(bool(DEPLOYED_URL), reason="about the local run"),
]


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        (
            "SESSION_IDLE_TIMEOUT_SECONDS",
            "a week",
            "SESSION_IDLE_TIMEOUT_SECONDS must be a whole number",
        ),
        (
            "LOCAL_DYNAMODB",
            "dynamo",
            "LOCAL_DYNAMODB must be one of moto, dynamodb-local, not 'dynamo'",
        ),
    ],
)
def test_an_invalid_setting_stops_the_local_run_with_a_clear_message(
    setting: str, value: str, message: str
) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
        "PORT": str(free_port()),
        "EMULATOR_PORT": str(free_port()),
        setting: value,
    }
    run = subprocess.run(
        [sys.executable, "-m", "local_run"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode != 0
    assert message in run.stdout + run.stderr


def test_aws_endpoint_url_points_the_local_run_at_another_endpoint() -> None:
    # Given an emulator someone else started
    port = free_port()
    emulator = subprocess.Popen(
        [sys.executable, "-m", "local_run.emulator", "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert emulator.stdout is not None
        assert emulator.stdout.readline().startswith("READY")
        endpoint = f"http://127.0.0.1:{port}"
        # When the local run is pointed at it
        service = start_local_run(
            {
                "AWS_ENDPOINT_URL": endpoint,
                "AWS_ACCESS_KEY_ID": "x",
                "AWS_SECRET_ACCESS_KEY": "x",
                "LOCAL_DYNAMODB": "moto",
            }
        )
        try:
            answer = service.post("/auth/register", {"username": "elsewhere", "password": PASSWORD})
            assert answer.status_code == 201
            # Then the resources and the data live there
            dynamodb = boto3.client(
                "dynamodb",
                endpoint_url=endpoint,
                region_name="us-east-1",
                aws_access_key_id="x",
                aws_secret_access_key="x",
            )
            (table,) = dynamodb.list_tables()["TableNames"]
            assert dynamodb.scan(TableName=table)["Count"] >= 2
            assert not service.logs().count("did not start")
        finally:
            stop(service)
    finally:
        emulator.terminate()
        emulator.wait(timeout=10)


def _tables(endpoint: str) -> list[str]:
    client = boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    return list(client.list_tables()["TableNames"])


def test_local_dynamodb_serves_dynamodb_from_aws_dynamodb_local_and_stops_with_the_run() -> None:
    # Given a local run asked for DynamoDB Local
    service = start_local_run({"LOCAL_DYNAMODB": "dynamodb-local"})
    assert service.process is not None
    try:
        dynamodb, emulator = service.aws_endpoint("dynamodb"), service.aws_endpoint("sqs")
        assert dynamodb != emulator
        # Then the table and its data live in DynamoDB Local, and nothing of it in moto
        answer = service.post("/auth/register", {"username": "local-ddb", "password": PASSWORD})
        assert answer.status_code == 201
        (table,) = _tables(dynamodb)
        assert _tables(emulator) == []
        items = service.aws("dynamodb").scan(TableName=table)["Items"]
        assert {item["pk"]["S"] for item in items} >= {"LOGIN#local-ddb"}
        # DynamoDB Local is AWS's (Jetty answers), not moto's
        server = requests.get(dynamodb, timeout=5).headers.get("Server", "")
        assert server.startswith("Jetty")
        java = [pid for pid in descendants(service.process.pid) if "java" in _command(pid)]
        assert len(java) == 1
    finally:
        stop(service)
    # And it stops with the run
    assert not _wait_until_gone(java)
    assert not _listening(int(dynamodb.rsplit(":", 1)[1]))


def test_aws_endpoint_url_dynamodb_points_dynamodb_at_a_server_already_running() -> None:
    # Given a DynamoDB Local someone else started
    server = dynamodb_local.start()
    try:
        # When the local run is pointed at it by botocore's per-service variable
        service = start_local_run({"AWS_ENDPOINT_URL_DYNAMODB": server.endpoint})
        try:
            answer = service.post("/auth/register", {"username": "there", "password": PASSWORD})
            assert answer.status_code == 201
            # Then the table is there, and the run started no DynamoDB of its own
            assert service.aws_endpoint("dynamodb") == server.endpoint
            assert len(_tables(server.endpoint)) == 1
            assert service.process is not None
            assert not any("java" in _command(p) for p in descendants(service.process.pid))
            # And the stream pump reads that table's stream: a login reaches the bus
            listener = BusListener(service, [answer.json()["user_id"]])
            try:
                service.login("there")
                # (the user's first sign-in from this device is a new device too)
                started = Counter({("SessionStarted", ""): 1, ("NewDeviceSignIn", ""): 1})
                assert listener.until(started) == started
            finally:
                listener.close()
        finally:
            stop(service)
    finally:
        server.stop()


def _command(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _wait_until_gone(pids: list[int]) -> list[int]:
    """The processes still alive after up to 10 s."""
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    return [pid for pid in pids if _alive(pid)]


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_ctrl_c_stops_the_server_the_emulator_and_the_functions() -> None:
    # Given a local run with its emulator, and a fork server and an environment (a
    # process each) per function: 6 of them
    # (faulthandler: should it not stop, SIGABRT makes it print where each thread is)
    service = start_local_run({"PYTHONFAULTHANDLER": "1"})
    assert service.process is not None
    port = int(service.base_url.rsplit(":", 1)[1])
    children = set(descendants(service.process.pid))
    assert len(children) >= 1 + 2 * 6
    # When Ctrl-C reaches it
    service.process.send_signal(signal.SIGINT)
    try:
        service.process.wait(timeout=60)  # a bound on a loaded machine, not a timing goal
    except subprocess.TimeoutExpired:
        service.process.send_signal(signal.SIGABRT)
        service.process.wait(timeout=10)
        pytest.fail("the local run did not stop on Ctrl-C:\n" + "".join(service.output)[-8000:])
    # Then nothing it started is left
    assert not _listening(port)
    for _ in range(50):
        if not any(_alive(pid) for pid in children):
            break
        subprocess.run(["sleep", "0.1"], check=True)
    assert not any(_alive(pid) for pid in children)


def test_the_local_run_serves_the_openapi_document_and_a_swagger_ui(
    local_services: Callable[..., Service],
) -> None:
    service = local_services()
    ui = service.get("/docs")
    assert ui.status_code == 200
    assert "SwaggerUIBundle" in ui.text  # served from Powertools' bundle, no CDN
    served = service.get("/docs", params={"format": "json"}).json()
    committed = json.loads((ROOT / "docs" / "openapi.json").read_text())
    # The API function's document: the committed one holds the admin API's routes too
    api_paths = {p: v for p, v in committed["paths"].items() if not p.startswith("/admin/")}
    assert served["paths"] == api_paths
    assert any(p.startswith("/admin/") for p in committed["paths"])


def test_the_local_run_deletes_expired_items_as_dynamodbs_ttl_would(
    on_each_backend: Callable[..., Service],
) -> None:
    # Given an item whose TTL has passed, and one whose TTL has not
    service = on_each_backend()
    dynamodb = service.aws("dynamodb")
    (table,) = dynamodb.list_tables()["TableNames"]
    now = int(time.time())
    for pk, ttl in (("EXPIRED#e2e", now - 1), ("LIVE#e2e", now + 3600)):
        item = {"pk": {"S": pk}, "sk": {"S": "X"}, "ttl": {"N": str(ttl)}}
        dynamodb.put_item(TableName=table, Item=item)
    # Then within a few of the sweeper's rounds the expired one is gone, the other stays
    key = {"pk": {"S": "EXPIRED#e2e"}, "sk": {"S": "X"}}
    deadline = time.monotonic() + 15
    while "Item" in dynamodb.get_item(TableName=table, Key=key) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert "Item" not in dynamodb.get_item(TableName=table, Key=key)
    live = dynamodb.get_item(TableName=table, Key={"pk": {"S": "LIVE#e2e"}, "sk": {"S": "X"}})
    assert "Item" in live


def test_a_port_taken_before_the_run_binds_it_is_retried_on_new_ports(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a port that was free when chosen, and that another process holds by the time
    # the run binds it
    real_free_port = launcher.free_port
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        chosen = iter([taken])
        monkeypatch.setattr(
            launcher, "free_port", lambda avoid=(): next(chosen, None) or real_free_port(avoid)
        )
        # When a run is started
        run = launcher.start({})
        try:
            # Then it came up on other ports, and answers there
            assert run.base_url != f"http://127.0.0.1:{taken}"
            answer = requests.get(f"{run.base_url}/.well-known/jwks.json", timeout=30)
            assert answer.status_code == 200
        finally:
            run.stop()
