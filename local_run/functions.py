"""Each function of the template as Lambda runs it: execution environments (processes)
that take one invocation at a time, a new one started (a cold start) when all are busy, up
to the function's reserved concurrency (a synchronous invocation beyond it is throttled)."""

from __future__ import annotations

import http.client
import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import IO, Any

from local_run.expansion import artifact_path
from local_run.function_host import FAILED, READY
from local_run.lifetime import stop_pids, stop_process, stop_processes
from local_run.template import ROOT, Template

# Settings that are not template parameters (those are set through their parameter, see
# template.parameter_overrides) but which a user of `make run` may still want to turn.
OVERRIDABLE = ("SIGNING_KEY_CACHE_SECONDS", "POWERTOOLS_LOG_LEVEL")
# Execution environments per function, at most (Lambda's would be the account's limit).
MAX_INSTANCES = int(os.environ.get("LOCAL_MAX_INSTANCES", "16"))
# An environment idle this long is reclaimed (one per function stays warm): Lambda does
# the same after some minutes; here sooner, as a burst's processes hold memory.
IDLE_SECONDS = 30.0
# A cold start that has not answered by then has failed (Lambda's own limit is 10 s; a
# loaded machine gets more).
COLD_START_TIMEOUT_SECONDS = 30.0


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
    """One execution environment: a process forked by the function's fork server."""

    def __init__(self, name: str, pid: int, port: int) -> None:
        self.name = name
        self.pid = pid
        self.port = port
        self.idle_since = time.monotonic()

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

    def stop(self, timeout: float = 5) -> None:
        stop_pids([self.pid], timeout)


class ForkServer:
    """A function's local_run.function_host: it forks an execution environment for each
    line written to it, and their logs come back on its stdout with their READY lines."""

    def __init__(self, name: str, command: list[str], env: Mapping[str, str]) -> None:
        self.name = name
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=dict(env),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            errors="replace",
        )
        self._started: queue.Queue[tuple[int, int] | None] = queue.Queue()
        self._write = threading.Lock()
        # Set once its stdout ends: it forks no more (asked or not)
        self._ended = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        """READY lines to whoever waits for an environment, the rest (function logs,
        Powertools JSON) to the local run's console."""
        stdout: IO[str] = self.process.stdout  # type: ignore[assignment]
        try:
            for line in stdout:
                words = line.split()
                if len(words) == 3 and words[0] == READY and all(n.isdigit() for n in words[1:]):
                    self._started.put((int(words[1]), int(words[2])))
                elif len(words) == 2 and words[0] == FAILED:
                    self._started.put(None)
                else:
                    sys.stdout.write(line)
                    sys.stdout.flush()
        finally:
            # Whatever ended the reading, no waiter may wait for a line that cannot come.
            self._ended.set()
            self._started.put(None)

    def alive(self) -> bool:
        return not self._ended.is_set() and self.process.poll() is None

    def fork(self) -> FunctionInstance:
        """A new execution environment (a cold start), once it is ready."""
        try:
            with self._write:
                stdin: IO[str] = self.process.stdin  # type: ignore[assignment]
                stdin.write("start\n")
                stdin.flush()
        except (OSError, ValueError) as ended:
            message = f"{self.name} did not start (see above)"
            raise InvocationError("ColdStartError", message) from ended
        try:
            started = self._started.get(timeout=COLD_START_TIMEOUT_SECONDS)
        except queue.Empty:
            started = None
        if started is None:
            if self._ended.is_set():
                self._started.put(None)  # for the others waiting on this server
            raise InvocationError("ColdStartError", f"{self.name} did not start (see above)")
        port, pid = started
        return FunctionInstance(self.name, pid, port)

    def stop(self) -> None:
        stop_process(self.process, timeout=5)


class FunctionPool:
    """A function's execution environments. Like Lambda, each serves one invocation at a
    time (handlers and Powertools keep per-request state in module globals), and a
    request that finds them all busy gets a new one, up to `reserved` (the function's
    ReservedConcurrentExecutions): beyond it a synchronous invocation is throttled, and a
    queued one (an event, a stream batch) waits, as Lambda retries those itself. As
    Lambda does, it reclaims environments left idle (`reclaim_idle`), keeping one warm."""

    def __init__(
        self, name: str, command: list[str], env: Mapping[str, str], reserved: int | None = None
    ) -> None:
        self.name = name
        self.reserved = reserved
        self._command = command
        self._env = env
        self._server: ForkServer | None = None
        self._idle: list[FunctionInstance] = []
        self._all: list[FunctionInstance] = []
        self._condition = threading.Condition()
        self._starting = 0

    def start(self) -> FunctionInstance:
        """A new execution environment; the pool counts it once it is ready. The fork
        server starts with the first, and again should it have ended."""
        with self._condition:
            if self._server is None or not self._server.alive():
                self._server = ForkServer(self.name, self._command, self._env)
            server = self._server
        return server.fork()

    def add_idle(self, instance: FunctionInstance) -> None:
        with self._condition:
            if instance not in self._all:
                self._all.append(instance)
            instance.idle_since = time.monotonic()
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
                # The most recently used: the others age towards being reclaimed.
                return self._idle.pop()
        try:
            instance = self.start()
            with self._condition:
                self._all.append(instance)
            return instance
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

    def reclaim_idle(self, idle_seconds: float, now: float | None = None) -> int:
        """Stop the environments idle for `idle_seconds` or more, all but one: a burst's
        environments do not stay for the rest of the run. Returns how many stopped."""
        now = time.monotonic() if now is None else now
        with self._condition:
            stale = [i for i in self._idle if now - i.idle_since >= idle_seconds]
            if len(stale) == len(self._all):
                stale = sorted(stale, key=lambda i: i.idle_since)[:-1]
            for instance in stale:
                self._idle.remove(instance)
                self._all.remove(instance)
        stop_pids([instance.pid for instance in stale], timeout=5)
        return len(stale)

    def pids(self) -> list[int]:
        with self._condition:
            return [instance.pid for instance in self._all]

    def stop(self) -> None:
        stop_functions([self])

    def _release(self) -> tuple[list[int], subprocess.Popen[str] | None]:
        """Forget every environment and the fork server; their processes, to stop."""
        with self._condition:
            pids = [instance.pid for instance in self._all]
            server, self._server, self._all, self._idle = self._server, None, [], []
        return pids, None if server is None else server.process


def stop_functions(pools: Iterable[FunctionPool], timeout: float = 5) -> None:
    """Stop every environment of these pools at once, then their fork servers: one after
    another took a timeout each on a loaded machine."""
    released = [pool._release() for pool in pools]
    stop_pids([pid for pids, _ in released for pid in pids], timeout)
    stop_processes([server for _, server in released if server is not None], timeout)


def reclaim_idle_environments(
    pools: Mapping[str, FunctionPool], stop: threading.Event, idle_seconds: float = IDLE_SECONDS
) -> threading.Thread:
    """A thread that reclaims every pool's idle environments until `stop` is set."""

    def run() -> None:
        while not stop.wait(min(idle_seconds, 5.0)):
            for pool in pools.values():
                pool.reclaim_idle(idle_seconds)

    thread = threading.Thread(target=run, daemon=True, name="reclaim-idle")
    thread.start()
    return thread


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
    pools = {
        logical_id: FunctionPool(
            logical_id,
            function_command(template, logical_id),
            function_environment(template, logical_id, base_env),
            reserved=reserved_concurrency(template, logical_id),
        )
        for logical_id in template.functions()
    }
    try:
        with ThreadPoolExecutor(len(pools) or 1) as starting:
            first = dict(zip(pools, starting.map(FunctionPool.start, pools.values()), strict=True))
    except InvocationError:
        for pool in pools.values():
            pool.stop()
        raise
    for logical_id, instance in first.items():
        pools[logical_id].add_idle(instance)
    return pools
