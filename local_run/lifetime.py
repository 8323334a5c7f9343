"""Child processes of the local run end with it, even when it is killed outright."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Iterable
from typing import Any


def exit_with_parent(interval: float = 0.5) -> None:
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval)
        os._exit(0)

    threading.Thread(target=watch, daemon=True, name="exit-with-parent").start()


def stop_processes(processes: Iterable[subprocess.Popen[Any]], timeout: float) -> None:
    """Ask every child to stop at once, then kill those still running after `timeout`:
    stopping them one after another took a timeout each on a loaded machine."""
    running = [process for process in processes if process.poll() is None]
    for process in running:
        process.terminate()
    deadline = time.monotonic() + timeout
    for process in running:
        try:
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()


def stop_process(process: subprocess.Popen[Any], timeout: float) -> None:
    """Ask a child to stop; kill it if it has not within `timeout` seconds."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
