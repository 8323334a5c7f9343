"""One Lambda function's execution environments, each in its own process as in a container:
its own environment, its own cold start, the layer and its code on sys.path. Invocations
arrive over local HTTP.

The process the local run starts is a fork server: it imports the third-party libraries
the functions use (most of a cold start's CPU here) once, then forks an environment for
each line it reads on stdin. Each environment imports the handler itself, so its module
state (settings, clients, caches) is its own, as after a cold start on Lambda; only the
libraries' import is shared, and their pages with it."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import json
import os
import signal
import sys
import traceback
import uuid
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

from local_run.lifetime import exit_with_parent

# Imported once by the fork server when present; a library missing from the list is
# imported by each environment instead, which is only slower.
SHARED_LIBRARIES = (
    "boto3",
    "botocore.client",
    "aws_lambda_powertools.logging",
    "aws_lambda_powertools.metrics",
    "aws_lambda_powertools.event_handler",
    "aws_lambda_powertools.event_handler.openapi.params",
    "pydantic",
    "jwt",
    "argon2",
    "cryptography.hazmat.primitives.asymmetric.ec",
    "cryptography.hazmat.primitives.asymmetric.rsa",
    "pyotp",
    "webauthn",
)
READY = "READY"
FAILED = "FAILED"


class LocalContext:
    """The parts of Lambda's context object that handlers and Powertools read."""

    def __init__(self, function_name: str, memory_mb: int, timeout_s: int) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = memory_mb
        self.invoked_function_arn = (
            f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
        )
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "local"
        self._timeout_ms = timeout_s * 1000

    def get_remaining_time_in_millis(self) -> int:
        return self._timeout_ms


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--name", required=True)
    parser.add_argument("--code-dir", required=True)
    parser.add_argument("--layer-dir", action="append", default=[])
    parser.add_argument("--handler", required=True)
    parser.add_argument("--memory", type=int, default=512)
    parser.add_argument("--timeout", type=int, default=10)
    args = parser.parse_args()

    # Lambda's order: the function's code, then the layer (/opt/python).
    sys.path[:0] = [args.code_dir, *args.layer_dir]
    for library in SHARED_LIBRARIES:
        # A library that fails here fails (or not) in the environment that imports it.
        with contextlib.suppress(Exception):
            importlib.import_module(library)
    # Environments are reaped as they end; the server has no thread, so forking is safe.
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    # Ctrl-C reaches the whole process group: the local run stops its functions itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # A line asks for an environment; the end of stdin means the local run has ended.
    while sys.stdin.readline():
        sys.stdout.flush()
        if os.fork() == 0:
            try:
                _environment(args)
            except BaseException as error:
                print(f"{args.name} failed at cold start: {error!r}", file=sys.stderr, flush=True)
                print(f"{FAILED} {os.getpid()}")
            finally:
                os._exit(1)


def _environment(args: argparse.Namespace) -> None:
    """A forked execution environment: its cold start, then invocations until it is stopped
    (or its fork server, and so the local run, ends)."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    if os.environ.get("LOCAL_DYNAMODB_FAULTS"):
        # `make load FAULTS=...`: DynamoDB fails some calls, as on a bad day on AWS (after
        # the fork: each environment draws its own faults).
        from harness.lost_answers import install_from_environment  # noqa: PLC0415

        install_from_environment()
    # The environments share the fork server's stdout: each writes a line at once (even
    # with PYTHONUNBUFFERED set), so that lines of two environments never mix.
    sys.stdout = io.TextIOWrapper(
        io.BufferedWriter(io.FileIO(sys.stdout.fileno(), "w", closefd=False)),
        line_buffering=True,
    )
    exit_with_parent()
    module_name, function_name = args.handler.rsplit(".", 1)
    try:
        handler = getattr(importlib.import_module(module_name), function_name)
    except Exception as error:
        message = f"{args.name} failed at cold start: {type(error).__name__}: {error}"
        print(message, file=sys.stderr, flush=True)
        print(f"{FAILED} {os.getpid()}")
        os._exit(1)

    class Invocation(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            event = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            context = LocalContext(args.name, args.memory, args.timeout)
            answer: dict[str, Any]
            try:
                answer = {"ok": True, "result": handler(event, context)}
            except Exception as error:
                traceback.print_exc(file=sys.stderr)
                answer = {
                    "ok": False,
                    "errorType": type(error).__name__,
                    "errorMessage": str(error),
                }
            payload = json.dumps(answer, default=str).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *_: Any) -> None:
            return

    # One invocation at a time, as in a Lambda execution environment; the pool in
    # local_run.functions asks for more of these when they are all busy.
    server = HTTPServer(("127.0.0.1", 0), Invocation)
    print(f"{READY} {server.server_address[1]} {os.getpid()}")
    server.serve_forever()


if __name__ == "__main__":
    main()
