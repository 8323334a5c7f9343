"""One Lambda function in its own process, as in a container: its own environment, its own
cold start, the layer and its code on sys.path. Invocations arrive over local HTTP."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import traceback
import uuid
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

from local_run.lifetime import exit_with_parent


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
    exit_with_parent()

    if os.environ.get("LOCAL_DYNAMODB_FAULTS"):
        # `make load FAULTS=...`: DynamoDB fails some calls, as on a bad day on AWS.
        from harness.lost_answers import install_from_environment  # noqa: PLC0415

        install_from_environment()
    # Lambda's order: the function's code, then the layer (/opt/python).
    sys.path[:0] = [args.code_dir, *args.layer_dir]
    module_name, function_name = args.handler.rsplit(".", 1)
    try:
        handler = getattr(importlib.import_module(module_name), function_name)
    except Exception as error:
        print(
            f"{args.name} failed at cold start: {type(error).__name__}: {error}",
            file=sys.stderr,
            flush=True,
        )
        sys.exit(1)

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
    # local_run.functions starts more of these processes when they are all busy.
    server = HTTPServer(("127.0.0.1", 0), Invocation)
    print(f"READY {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
