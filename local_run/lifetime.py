"""Child processes of the local run end with it, even when it is killed outright."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from typing import Any


def exit_with_parent(interval: float = 0.5) -> None:
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval)
        os._exit(0)

    threading.Thread(target=watch, daemon=True, name="exit-with-parent").start()


def stop_process(process: subprocess.Popen[Any], timeout: float) -> None:
    """Ask a child to stop; kill it if it has not within `timeout` seconds."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
