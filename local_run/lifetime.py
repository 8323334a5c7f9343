"""Child processes of the local run end with it, even when it is killed outright."""

from __future__ import annotations

import os
import signal
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


def stop_pids(pids: Iterable[int], timeout: float) -> None:
    """Stop processes this one did not start itself (a fork server's environments, which
    it reaps): ask each at once, kill those still running after `timeout`."""
    running = [pid for pid in pids if _signal(pid, signal.SIGTERM)]
    deadline = time.monotonic() + timeout
    while running and time.monotonic() < deadline:
        time.sleep(0.01)
        running = [pid for pid in running if _signal(pid, 0)]
    for pid in running:
        _signal(pid, signal.SIGKILL)


def _signal(pid: int, number: int) -> bool:
    """Whether the process was there to signal (gone, or reaped: False)."""
    try:
        os.kill(pid, number)
    except ProcessLookupError:
        return False
    return True
