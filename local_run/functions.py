"""Starts each function of the template in its own process and invokes it."""

from __future__ import annotations

import ctypes
import http.client
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import IO, Any

from local_run.template import ROOT, Template

# Settings that are not template parameters (those are set through their parameter, see
# template.parameter_overrides) but which a user of `make run` may still want to turn.
OVERRIDABLE = ("SIGNING_KEY_CACHE_SECONDS", "POWERTOOLS_LOG_LEVEL")


def die_with_parent() -> None:
    """Children end when the local run ends, even if it is killed outright (Linux)."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class InvocationError(RuntimeError):
    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(f"{error_type}: {message}")
        self.error_type = error_type


@dataclass
class FunctionProcess:
    name: str
    process: subprocess.Popen[str]
    port: int = 0

    def invoke(self, event: Mapping[str, Any], timeout: float = 60) -> Any:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            body = json.dumps(event)
            connection.request("POST", "/", body, {"Content-Type": "application/json"})
            answer = json.loads(connection.getresponse().read())
        finally:
            connection.close()
        if not answer["ok"]:
            raise InvocationError(answer["errorType"], answer["errorMessage"])
        return answer["result"]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()


def function_environment(
    template: Template, logical_id: str, base_env: Mapping[str, str]
) -> dict[str, str]:
    properties = template.function_properties(logical_id)
    variables = properties.get("Environment", {}).get("Variables", {})
    env = {**base_env}
    for key, value in template.resolve(variables).items():
        env[key] = str(os.environ.get(key, value)) if key in OVERRIDABLE else str(value)
    env["AWS_LAMBDA_FUNCTION_NAME"] = template.physical_name(logical_id)
    env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] = str(properties.get("MemorySize", 128))
    return env


def start_functions(template: Template, base_env: Mapping[str, str]) -> dict[str, FunctionProcess]:
    layer = template.resolve(template.resources["CoreLayer"]["Properties"]["ContentUri"])
    started: dict[str, FunctionProcess] = {}
    for logical_id in template.of_type("AWS::Serverless::Function"):
        properties = template.function_properties(logical_id)
        command = [
            sys.executable,
            "-m",
            "local_run.function_host",
            "--name",
            template.physical_name(logical_id),
            "--code-dir",
            str(ROOT / properties["CodeUri"]),
            "--layer-dir",
            str(ROOT / layer),
            "--handler",
            properties["Handler"],
            "--memory",
            str(properties.get("MemorySize", 128)),
            "--timeout",
            str(properties.get("Timeout", 3)),
        ]
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=function_environment(template, logical_id, base_env),
            stdout=subprocess.PIPE,
            text=True,
            preexec_fn=die_with_parent,  # noqa: PLW1509 - started before any thread
        )
        started[logical_id] = FunctionProcess(name=logical_id, process=process)
    for function in started.values():
        function.port = _await_ready(function)
    return started


def _await_ready(function: FunctionProcess) -> int:
    stdout: IO[str] = function.process.stdout  # type: ignore[assignment]
    for line in stdout:
        if line.startswith("READY "):
            threading.Thread(target=_forward, args=(stdout,), daemon=True).start()
            return int(line.split()[1])
        sys.stdout.write(line)
    raise RuntimeError(f"function {function.name} did not start (see the error above)")


def _forward(stream: IO[str]) -> None:
    """Function logs (Powertools JSON) go to the local run's console."""
    for line in stream:
        sys.stdout.write(line)
        sys.stdout.flush()
