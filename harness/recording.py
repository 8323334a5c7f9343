"""The AWS calls a function's code makes, at botocore's edge, attributed to the function
whose handler (or cold start) is running: what the deployed-permission check holds against
each role, and what the benchmarks count."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

# The function whose code is running (set around each invocation by the test harness).
RUNNING: ContextVar[str | None] = ContextVar("running_function", default=None)


@dataclass(frozen=True)
class Call:
    function: str
    service: str
    operation: str
    params: Mapping[str, Any]


class CallRecorder:
    """AWS calls at botocore's edge made while a function's code runs, by function."""

    def __init__(self) -> None:
        self.calls: list[Call] = []

    def wrap(self, original: Callable[..., Any]) -> Callable[..., Any]:
        def recording(client: Any, operation: str, params: Any) -> Any:
            function = RUNNING.get()
            if function is not None:
                service = client.meta.service_model.service_name
                self.calls.append(Call(function, service, operation, copy.deepcopy(params)))
            return original(client, operation, params)

        return recording
