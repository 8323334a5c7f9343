"""Each function of the template as Lambda runs it: execution environments (processes)
that take one invocation at a time, a new one started (a cold start) when all are busy, up
to the function's reserved concurrency (a synchronous invocation beyond it is throttled)."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import threading
from collections.abc import Mapping
from typing import IO, Any

from local_run.expansion import artifact_path
from local_run.lifetime import stop_process, stop_processes
from local_run.template import ROOT, Template

# Settings that are not template parameters (those are set through their parameter, see
# template.parameter_overrides) but which a user of `make run` may still want to turn.
OVERRIDABLE = ("SIGNING_KEY_CACHE_SECONDS", "POWERTOOLS_LOG_LEVEL")
# Execution environments per function, at most (Lambda's would be the account's limit).
MAX_INSTANCES = int(os.environ.get("LOCAL_MAX_INSTANCES", "16"))


class InvocationError(RuntimeError):
    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(f"{error_type}: {message}")
        self.error_type = error_type


class Throttled(InvocationError):
    """Lambda's 429 for a synchronous invocation beyond the function's reserved
    concurrency (API Gateway answers it 500)."""

    def __init__(self, name: str, reserved: int) -> None:
        super().__init__(
            "TooManyRequestsException",
            f"{name}: Rate Exceeded (all {reserved} of its reserved concurrency busy)",
        )


class FunctionInstance:
    """One execution environment: a process of local_run.function_host."""

    def __init__(self, name: str, command: list[str], env: Mapping[str, str]) -> None:
        self.name = name
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=dict(env), stdout=subprocess.PIPE, text=True
        )
        self.port = 0

    def await_ready(self) -> None:
        stdout: IO[str] = self.process.stdout  # type: ignore[assignment]
        for line in stdout:
            if line.startswith("READY "):
                self.port = int(line.split()[1])
                threading.Thread(target=_forward, args=(stdout,), daemon=True).start()
                return
            sys.stdout.write(line)
        raise InvocationError("ColdStartError", f"{self.name} did not start (see above)")

    def invoke(self, event: Mapping[str, Any], timeout: float) -> Any:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            connection.request("POST", "/", json.dumps(event), {"Content-Type": "application/json"})
            answer = json.loads(connection.getresponse().read())
        finally:
            connection.close()
        if not answer["ok"]:
            raise InvocationError(answer["errorType"], answer["errorMessage"])
        return answer["result"]

    def stop(self) -> None:
        stop_process(self.process, timeout=5)


class FunctionPool:
    """A function's execution environments. Like Lambda, each serves one invocation at a
    time (handlers and Powertools keep per-request state in module globals), and a
    request that finds them all busy gets a new one, up to `reserved` (the function's
    ReservedConcurrentExecutions): beyond it a synchronous invocation is throttled, and a
    queued one (an event, a stream batch) waits, as Lambda retries those itself."""

    def __init__(
        self, name: str, command: list[str], env: Mapping[str, str], reserved: int | None = None
    ) -> None:
        self.name = name
        self.reserved = reserved
        self._command = command
        self._env = env
        self._idle: list[FunctionInstance] = []
        self._all: list[FunctionInstance] = []
        self._condition = threading.Condition()
        self._starting = 0

    def start(self) -> FunctionInstance:
        """A new execution environment; the pool counts it once it is ready."""
        return FunctionInstance(self.name, self._command, self._env)

    def add_idle(self, instance: FunctionInstance) -> None:
        with self._condition:
            if instance not in self._all:
                self._all.append(instance)
            self._idle.append(instance)
            self._condition.notify()

    def invoke(self, event: Mapping[str, Any], timeout: float = 60, queued: bool = False) -> Any:
        instance = self._acquire(queued)
        try:
            result = instance.invoke(event, timeout)
        except InvocationError:
            # The handler raised: the environment itself is fine, as in Lambda.
            self.add_idle(instance)
            raise
        except (OSError, ValueError):
            # The process died or answered garbage: retire it, the next request starts
            # another instead of meeting the same corpse.
            self._retire(instance)
            raise
        self.add_idle(instance)
        return result

    def _acquire(self, queued: bool) -> FunctionInstance:
        with self._condition:
            while not self._idle:
                busy = len(self._all) + self._starting
                if self.reserved is not None and busy >= self.reserved:
                    if not queued:
                        raise Throttled(self.name, self.reserved)
                elif busy < MAX_INSTANCES:
                    self._starting += 1
                    break
                self._condition.wait()
            else:
                return self._idle.pop()
        instance = None
        try:
            instance = self.start()
            instance.await_ready()
            with self._condition:
                self._all.append(instance)
            return instance
        except BaseException:
            if instance is not None:
                instance.stop()
            raise
        finally:
            with self._condition:
                self._starting -= 1
                self._condition.notify()

    def _retire(self, instance: FunctionInstance) -> None:
        instance.stop()
        with self._condition:
            if instance in self._all:
                self._all.remove(instance)
            self._condition.notify()

    def processes(self) -> list[subprocess.Popen[Any]]:
        with self._condition:
            return [instance.process for instance in self._all]

    def stop(self) -> None:
        stop_processes(self.processes(), timeout=5)


def function_environment(
    template: Template, logical_id: str, base_env: Mapping[str, str]
) -> dict[str, str]:
    properties = template.functions()[logical_id]["Properties"]
    variables = properties.get("Environment", {}).get("Variables", {})
    env = {**base_env}
    for key, value in template.resolve(variables).items():
        env[key] = str(os.environ.get(key, value)) if key in OVERRIDABLE else str(value)
    env["AWS_LAMBDA_FUNCTION_NAME"] = template.physical_name(logical_id)
    env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] = str(
        template.resolve(properties.get("MemorySize", 128))
    )
    return env


def shared_environment(template: Template) -> dict[str, str]:
    """Every function's variables in one environment, for running the functions in one
    process (the tests' in-process stack, the AWS-call benchmark)."""
    merged: dict[str, str] = {}
    for logical_id in template.functions():
        for key, value in function_environment(template, logical_id, {}).items():
            # A variable one function clears (the authorizer's SIGNING_KEY_SECRET_ID)
            # keeps the value the others give it.
            if value or key not in merged:
                merged[key] = value
    return merged


def function_command(template: Template, logical_id: str) -> list[str]:
    """The command that starts one execution environment of the function: its code and
    layers where `sam package` would have uploaded them from, its handler and limits."""
    properties = template.functions()[logical_id]["Properties"]
    layers = template.of_type("AWS::Lambda::LayerVersion")
    layer_dirs = [
        str(artifact_path(layers[layer["Ref"]]["Properties"]["Content"]))
        for layer in properties.get("Layers", [])
    ]
    return [
        *(sys.executable, "-m", "local_run.function_host"),
        *("--name", template.physical_name(logical_id)),
        *("--code-dir", str(artifact_path(properties["Code"]))),
        *(arg for layer_dir in layer_dirs for arg in ("--layer-dir", layer_dir)),
        *("--handler", properties["Handler"]),
        *("--memory", str(template.resolve(properties.get("MemorySize", 128)))),
        *("--timeout", str(properties.get("Timeout", 3))),
    ]


def reserved_concurrency(template: Template, logical_id: str) -> int | None:
    properties = template.resolve(template.functions()[logical_id]["Properties"])
    reserved = properties.get("ReservedConcurrentExecutions")
    return None if reserved is None else int(reserved)


def start_functions(template: Template, base_env: Mapping[str, str]) -> dict[str, FunctionPool]:
    """A pool per function, each with one warm environment (so that a function that cannot
    start stops the local run at once, with its error)."""
    pools: dict[str, FunctionPool] = {}
    first: dict[str, FunctionInstance] = {}
    for logical_id in template.functions():
        pool = FunctionPool(
            logical_id,
            function_command(template, logical_id),
            function_environment(template, logical_id, base_env),
            reserved=reserved_concurrency(template, logical_id),
        )
        pools[logical_id] = pool
        first[logical_id] = pool.start()
    for logical_id, instance in first.items():
        try:
            instance.await_ready()
        except InvocationError:
            for started in first.values():
                started.stop()
            raise
        pools[logical_id].add_idle(instance)
    return pools


def _forward(stream: IO[str]) -> None:
    """Function logs (Powertools JSON) go to the local run's console."""
    for line in stream:
        sys.stdout.write(line)
        sys.stdout.flush()
