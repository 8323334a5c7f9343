"""`python -m local_run`: serve template.yaml's API on 127.0.0.1:$PORT (3000) against moto's
server on 127.0.0.1:$EMULATOR_PORT (5000), or against $AWS_ENDPOINT_URL when it is set.

DynamoDB (and its streams) may live elsewhere: LOCAL_DYNAMODB=dynamodb-local starts AWS's
DynamoDB Local for them, and botocore's per-service variables (AWS_ENDPOINT_URL_DYNAMODB,
AWS_ENDPOINT_URL_DYNAMODB_STREAMS) name an endpoint already running. Provisioning, the
functions and the stream pump all resolve their endpoints from these variables."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
from botocore.config import Config

from local_run import dynamodb_local
from local_run.api_definition import http_api
from local_run.demo_providers import providers
from local_run.demo_qr import qr_svg
from local_run.expansion import ExpansionError, deployed_template
from local_run.functions import (
    FunctionPool,
    reclaim_idle_environments,
    start_functions,
    stop_functions,
)
from local_run.gateway import Gateway, gateway_config, serve
from local_run.lifetime import stop_processes
from local_run.mailbox import mailbox
from local_run.provision import provision
from local_run.pumps import QueuePump, StreamPump
from local_run.template import ROOT, UnsupportedTemplate, load_template, parameter_overrides
from local_run.ttl import TtlSweeper

HOST = "127.0.0.1"
# The browser demo (docs/frontend.md), served at /demo/ by the local run only.
DEMO = Path(__file__).parent / "demo"


def _port(name: str, default: int) -> int:
    raw = os.environ.get(name, str(default))
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        sys.exit(f"{name} must be a TCP port number, not {raw!r}")
    return int(raw)


def _free(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex((HOST, port)) != 0


def _start_emulator(port: int) -> subprocess.Popen[str]:
    if not _free(port):
        sys.exit(
            f"port {port} is taken; set EMULATOR_PORT to another port, or AWS_ENDPOINT_URL "
            "to use an emulator that is already running"
        )
    process = subprocess.Popen(
        [sys.executable, "-m", "local_run.emulator", "--host", HOST, "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    line = process.stdout.readline() if process.stdout else ""
    if not line.startswith("READY"):
        sys.exit("the AWS emulator (moto) did not start")
    return process


def _clients(region: str) -> Callable[[str], Any]:
    """Clients whose endpoints botocore resolves from AWS_ENDPOINT_URL and its per-service
    variables, as the functions' own clients do."""
    config = Config(retries={"mode": "standard", "max_attempts": 5})

    def client(service: str) -> Any:
        return boto3.client(service, region_name=region, config=config)

    return client


DYNAMODB_BACKENDS = ("moto", "dynamodb-local")


def _dynamodb_backend() -> str:
    backend = os.environ.get("LOCAL_DYNAMODB") or "moto"
    if backend not in DYNAMODB_BACKENDS:
        sys.exit(f"LOCAL_DYNAMODB must be one of {', '.join(DYNAMODB_BACKENDS)}, not {backend!r}")
    return backend


def _start_dynamodb_local(reserved: set[int]) -> dynamodb_local.DynamoDbLocal:
    """DynamoDB Local on a free port, never one the run has chosen for itself but not bound
    yet (the OS may hand it out again meanwhile)."""
    try:
        return dynamodb_local.start(HOST, avoid=reserved)
    except RuntimeError as error:  # not installed, or did not start
        sys.exit(str(error))


def _ports_of(url: str) -> set[int]:
    port = urlsplit(url).port
    return {port} if port else set()


def _dynamodb_endpoints(dynamodb: str) -> dict[str, str]:
    """DynamoDB's endpoint, and its streams' (the same server unless set apart)."""
    return {
        "AWS_ENDPOINT_URL_DYNAMODB": dynamodb,
        "AWS_ENDPOINT_URL_DYNAMODB_STREAMS": os.environ.get(
            "AWS_ENDPOINT_URL_DYNAMODB_STREAMS", dynamodb
        ),
    }


def _demo_hint(base_url: str) -> str:
    cookie_mode = os.environ.get("REFRESH_TOKEN_TRANSPORT") in ("cookie", "both")
    if cookie_mode and base_url in os.environ.get("ALLOWED_ORIGINS", "").split(","):
        return f"demo page on {base_url}/demo/"
    # (passkeys need a domain for their relying party: localhost, not 127.0.0.1)
    named = base_url.replace("127.0.0.1", "localhost")
    return (
        f"demo page on {named}/demo/ once started with "
        f"REFRESH_TOKEN_TRANSPORT=cookie ALLOWED_ORIGINS={named}"
    )


# E-mail on, as far as the template offers it: sent through the emulator's SES (the sender
# verified there by provisioning) and read in the demo's mailbox (GET /demo/mailbox?to=),
# its links opening the demo page. A setting in the environment wins: EMAIL_SENDER= (empty)
# turns e-mail off.
LOCAL_EMAIL_SENDER = "no-reply@session-service.localhost"


def local_email_settings(base_url: str, env: Mapping[str, str]) -> dict[str, str]:
    return {
        "EMAIL_SENDER": LOCAL_EMAIL_SENDER,
        "EMAIL_SIGN_IN": "on",
        "EMAIL_LINK_URL": f"{demo_origin(base_url, env)}/demo/",
    }


def demo_origin(base_url: str, env: Mapping[str, str]) -> str:
    """The origin the demo page is opened on: this run's, as ALLOWED_ORIGINS names it (a
    page on localhost may use passkeys), else the run's own."""
    port = urlsplit(base_url).port
    for origin in env.get("ALLOWED_ORIGINS", "").split(","):
        parts = urlsplit(origin.strip())
        if parts.hostname in ("localhost", "127.0.0.1") and parts.port == port:
            return origin.strip().rstrip("/")
    return base_url


def _interrupt(_signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt


def main() -> None:
    signal.signal(signal.SIGTERM, _interrupt)
    # Ctrl-C stops the run even when whatever started it ignored SIGINT (a child inherits
    # that, and Python then installs no handler of its own: a test runner's worker did).
    signal.signal(signal.SIGINT, _interrupt)
    port = _port("PORT", 3000)
    if not _free(port):
        sys.exit(f"port {port} is taken; set PORT to another port")
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
    os.environ["AWS_DEFAULT_REGION"] = region

    backend = _dynamodb_backend()
    emulator = local_dynamodb = None
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    if not endpoint:
        emulator_port = _port("EMULATOR_PORT", 5000)
        emulator = _start_emulator(emulator_port)
        endpoint = f"http://{HOST}:{emulator_port}"
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    # Every client of the run and of its functions resolves its endpoint from these
    # variables; a profile's `ignore_configured_endpoint_urls` must not send it to AWS.
    os.environ["AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"] = "false"
    functions: dict[str, FunctionPool] = {}
    stop = threading.Event()
    try:
        dynamodb = os.environ.get("AWS_ENDPOINT_URL_DYNAMODB")
        if not dynamodb and backend == "dynamodb-local":
            local_dynamodb = _start_dynamodb_local({port, *_ports_of(endpoint)})
            dynamodb = local_dynamodb.endpoint
        if dynamodb:
            os.environ.update(_dynamodb_endpoints(dynamodb))
        _serve(port, region, functions, stop)
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        stop_functions(functions.values())
        if emulator is not None:
            stop_processes([emulator], timeout=5)
        if local_dynamodb is not None:
            local_dynamodb.stop()


def _serve(
    port: int,
    region: str,
    functions: dict[str, FunctionPool],
    stop: threading.Event,
) -> None:
    base_url = f"http://{HOST}:{port}"
    document = load_template()
    overrides = {
        **parameter_overrides(document, local_email_settings(base_url, os.environ)),
        **parameter_overrides(document, os.environ),
    }
    # Tokens name the local run as their issuer, unless TOKEN_ISSUER says otherwise.
    overrides.setdefault("TokenIssuer", base_url)
    try:
        template = deployed_template(overrides, region=region)
    except ExpansionError as error:
        sys.exit(str(error))
    clients = _clients(region)
    try:
        provisioned = provision(template, clients, base_url)
        http_api(template)
    except UnsupportedTemplate as error:
        sys.exit(f"the local run cannot run template.yaml as deployed: {error}")

    base_env = {
        key: value
        for key, value in os.environ.items()
        if key.startswith(("PATH", "HOME", "LANG", "LC_", "PYTHON", "TMP", "TZ", "POWERTOOLS_"))
    }
    base_env.update(
        {
            key: value
            for key, value in os.environ.items()
            if key.startswith(
                ("AWS_ENDPOINT_URL", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "LOCAL_DYNAMODB_FAULTS")
            )
        }
    )
    base_env.update(
        AWS_ACCESS_KEY_ID=os.environ["AWS_ACCESS_KEY_ID"],
        AWS_SECRET_ACCESS_KEY=os.environ["AWS_SECRET_ACCESS_KEY"],
        AWS_DEFAULT_REGION=region,
        AWS_REGION=region,
        POWERTOOLS_DEV=os.environ.get("POWERTOOLS_DEV", "false"),
        # Swagger UI at /docs, for the local run only.
        API_DOCS=os.environ.get("API_DOCS", "on"),
        # The apps of the local run listen on loopback: back-channel logouts go there
        # (on AWS, loopback is the Lambda environment itself, and nothing is sent there).
        BACKCHANNEL_LOOPBACK=os.environ.get("BACKCHANNEL_LOOPBACK", "on"),
        # ...and so does an identity provider of the local run: its issuer may be
        # http://127.0.0.1:PORT (anywhere else, an issuer is https).
        FEDERATION_LOOPBACK=os.environ.get("FEDERATION_LOOPBACK", "on"),
    )
    functions.update(start_functions(template, base_env))
    for trigger in provisioned.stream_triggers:
        StreamPump(
            trigger, functions[trigger.function], clients("dynamodbstreams"), stop, clients("sqs")
        ).start()
    for route in provisioned.rule_routes:
        QueuePump(route, functions[route.function], clients("sqs"), stop).start()
    TtlSweeper(provisioned.ttl_tables, clients("dynamodb"), stop).start()
    reclaim_idle_environments(functions, stop)
    config = gateway_config(template, functions)
    config.domain = f"{HOST}:{port}"
    config.static = {"/demo/": DEMO}
    config.local_posts = {"/demo/qr": qr_svg}
    table = next(t.table_name for t in provisioned.ttl_tables if "SessionTable" in t.table_name)
    config.local_gets = {
        "/demo/mailbox": mailbox(clients("sesv2").meta.endpoint_url),
        "/demo/providers": providers(clients("dynamodb"), table),
    }
    server = serve(Gateway(config), HOST, port)
    endpoint, dynamodb = os.environ["AWS_ENDPOINT_URL"], clients("dynamodb").meta.endpoint_url
    print(
        f"session service ready on {base_url} (AWS endpoint {endpoint}; DynamoDB {dynamodb})",
        flush=True,
    )
    print(_demo_hint(base_url), flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
