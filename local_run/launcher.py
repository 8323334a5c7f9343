"""Start a local run in a child process on free ports and wait until it serves: what the
end-to-end tests and `make load` share."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from local_run.lifetime import stop_process
from local_run.template import ROOT

READY_TIMEOUT_SECONDS = 120
PORT_ATTEMPTS = 3


def free_port(avoid: Collection[int] = (), host: str = "127.0.0.1") -> int:
    """A port free now, and not one of `avoid` (chosen already, not yet bound)."""
    while True:
        with socket.socket() as probe:
            probe.bind((host, 0))
            port = int(probe.getsockname()[1])
        if port not in avoid:
            return port


@dataclass
class LocalRun:
    """A running `python -m local_run` and what it has printed so far."""

    base_url: str
    process: subprocess.Popen[str]
    output: list[str] = field(default_factory=list)

    def logs(self) -> str:
        return "".join(self.output)

    def stop(self) -> None:
        stop_process(self.process, timeout=10)


def start(settings: Mapping[str, str]) -> LocalRun:
    """A local run with these settings (environment variables, as `make run` reads them);
    a PORT among them is kept, and AWS_ variables of the caller's environment are not
    inherited (they would point it elsewhere). Ports chosen here are free when chosen, and
    another process may take one before the run binds it: then it is started again on new
    ports (twice at most)."""
    for attempt in range(PORT_ATTEMPTS):
        try:
            return _start(settings)
        except PortTaken:
            if "PORT" in settings or attempt == PORT_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


class PortTaken(RuntimeError):
    pass


def _start(settings: Mapping[str, str]) -> LocalRun:
    port = int(settings.get("PORT") or free_port())
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
        "PORT": str(port),
        "EMULATOR_PORT": str(free_port(avoid={port})),
        **settings,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "local_run"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    run = LocalRun(base_url=f"http://127.0.0.1:{port}", process=process)
    ready = threading.Event()

    def collect() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            run.output.append(line)
            if "ready on" in line:
                ready.set()

    reader = threading.Thread(target=collect, daemon=True)
    reader.start()
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while not ready.wait(0.2):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            process.wait(timeout=10)
            reader.join(timeout=5)  # all it printed, to tell why
            logs = run.logs()
            taken = "Address already in use" in logs or " is taken;" in logs
            failure = PortTaken if taken else RuntimeError
            raise failure("the local run did not start:\n" + logs)
    return run
