"""The end-to-end suite's local runs, one per configuration, kept between modules within a
bound: each holds some 16 processes and close to 1 GB, and the suite asks for over 20
configurations (19 kept for a whole session filled a 24 GB machine, and the kernel killed a
test worker)."""

from __future__ import annotations

import itertools
import os
from collections import OrderedDict
from collections.abc import Callable

from tests.e2e.service import LOCAL_DEFAULTS, Service, pause, start_local_run, stop

Configuration = tuple[tuple[str, str], ...]
# Runs kept per test worker, the least recently used stopped beyond it.
KEPT_RUNS = int(os.environ.get("E2E_KEPT_RUNS", "4"))


class LocalRuns:
    """Local runs by configuration, started on first use. Those a module has not asked
    for are paused (SIGSTOP: an idle run's pollers would spend the cores) and, beyond
    `kept`, stopped; a run the current module asked for is never stopped under it, as
    module-scoped fixtures hold theirs."""

    def __init__(self, dynamodb_local_endpoint: Callable[[], str], kept: int = KEPT_RUNS) -> None:
        self._dynamodb_local_endpoint = dynamodb_local_endpoint
        self._kept = kept
        self._runs: OrderedDict[Configuration, Service] = OrderedDict()
        self._paused: set[Configuration] = set()
        self._this_module: set[Configuration] = set()
        # A database of its own on DynamoDB Local for every run, a restarted one included
        self._access_keys = (f"e2erun{n}" for n in itertools.count())

    def __call__(self, **settings: str) -> Service:
        settings = {**LOCAL_DEFAULTS, **settings}
        key = tuple(sorted(settings.items()))
        self._this_module.add(key)
        if key in self._runs:
            self._runs.move_to_end(key)
            if key in self._paused:
                pause(self._runs[key], False)
                self._paused.discard(key)
            return self._runs[key]
        self._stop_beyond(self._kept - 1)
        if settings["LOCAL_DYNAMODB"] == "dynamodb-local":
            settings |= {
                "AWS_ENDPOINT_URL_DYNAMODB": self._dynamodb_local_endpoint(),
                "AWS_ACCESS_KEY_ID": next(self._access_keys),  # letters and digits only
            }
        self._runs[key] = start_local_run(settings)
        return self._runs[key]

    def new_module(self) -> None:
        """A module begins: every run is paused until asked for again."""
        self._this_module.clear()
        for key, service in self._runs.items():
            if key not in self._paused:
                pause(service, True)
                self._paused.add(key)

    def stop_all(self) -> None:
        self._this_module.clear()
        self._stop_beyond(0)

    def _stop_beyond(self, count: int) -> None:
        """Stop the least recently used runs the current module has not asked for, until
        `count` remain (or only the module's own)."""
        stoppable = [key for key in self._runs if key not in self._this_module]
        for key in stoppable[: max(0, len(self._runs) - count)]:
            service = self._runs.pop(key)
            if key in self._paused:
                pause(service, False)  # a stopped process would not hear SIGTERM
                self._paused.discard(key)
            stop(service)
