"""The template's functions in process, as Lambda loads them, behind the local run's
API Gateway routing: a stack the integration tests and the benchmarks drive over moto (or
DynamoDB Local), its functions' AWS calls recorded."""

from __future__ import annotations

import functools
import importlib.util
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from harness.recording import RUNNING, CallRecorder
from local_run import moto_fixes, moto_kms
from local_run.expansion import artifact_path, deployed_template
from local_run.gateway import Gateway, gateway_config
from local_run.provision import Provisioned
from local_run.responses import GatewayResponse
from local_run.template import ROOT, Template

ISSUER = "https://sessions.example.test"
# moto's cancelled transactions orphan stream readers and copy whole tables; fixed here as
# in the local run's emulator; so is KMS's signing of a digest.
moto_fixes.install()
moto_kms.install()
# Each function of the template (logical id) and its folder under functions/, read from
# the template as deployed, so that a new function needs no edit here.
FUNCTIONS = {
    logical_id: artifact_path(function["Properties"]["Code"]).name
    for logical_id, function in deployed_template().functions().items()
}


class LambdaContext:
    function_name = "test"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:test"
    log_group_name = "/aws/lambda/test"
    log_stream_name = "test"

    def __init__(self) -> None:
        self.aws_request_id = str(uuid.uuid4())

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


def load_function(folder: str) -> ModuleType:
    """A fresh import of functions/<folder>/app.py, as a cold start would do it."""
    path = ROOT / "functions" / folder / "app.py"
    spec = importlib.util.spec_from_file_location(f"function_{folder}_{uuid.uuid4().hex}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class InProcessFunction:
    """A function of the stack, loaded (its cold start) when it is first invoked, as Lambda
    does: a test that never reaches a function never pays for its import."""

    def __init__(self, load: Callable[[], ModuleType]) -> None:
        self._load = load

    def invoke(self, event: dict[str, Any]) -> Any:
        # Through JSON both ways, as Lambda does.
        handler = self._load().lambda_handler
        answer = handler(json.loads(json.dumps(event)), LambdaContext())
        return json.loads(json.dumps(answer))


@dataclass
class Stack:
    template: Template
    provisioned: Provisioned
    clients: Callable[[str], Any]
    modules: dict[str, ModuleType] = field(default_factory=dict)
    gateway: Gateway | None = None
    # The AWS calls its functions made, checked against their deployed roles at the end
    calls: CallRecorder = field(default_factory=CallRecorder)

    @property
    def table(self) -> str:
        return self.template.names.refs["SessionTable"]

    def function(self, logical_id: str) -> ModuleType:
        """The function's module, loaded as a cold start does; its AWS calls, at import
        and in each invocation, are recorded as this function's."""
        if logical_id not in self.modules:
            token = RUNNING.set(logical_id)
            try:
                module = load_function(FUNCTIONS[logical_id])
            finally:
                RUNNING.reset(token)
            module.lambda_handler = _running_as(logical_id, module.lambda_handler)  # type: ignore[attr-defined]
            self.modules[logical_id] = module
        return self.modules[logical_id]

    def http(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        source_ip: str = "198.51.100.1",
    ) -> HttpAnswer:
        if self.gateway is None:
            functions = {
                name: InProcessFunction(functools.partial(self.function, name))
                for name in FUNCTIONS
            }
            self.gateway = Gateway(gateway_config(self.template, functions))  # type: ignore[arg-type]
        raw = body if isinstance(body, bytes | str) or body is None else json.dumps(body)
        data = raw.encode() if isinstance(raw, str) else (raw or b"")
        merged = {"content-type": "application/json", "user-agent": "pytest", **(headers or {})}
        response = self.gateway.handle(method, path, list(merged.items()), data, source_ip)
        return HttpAnswer(response)

    def items(self) -> list[dict[str, Any]]:
        """Every item in the table (DynamoDB JSON), for asserting what was written."""
        client = self.clients("dynamodb")
        return list(client.scan(TableName=self.table, ConsistentRead=True)["Items"])


def _running_as(logical_id: str, handler: Callable[..., Any]) -> Callable[..., Any]:
    def invoke(event: Any, context: Any) -> Any:
        token = RUNNING.set(logical_id)
        try:
            return handler(event, context)
        finally:
            RUNNING.reset(token)

    return invoke


@dataclass
class HttpAnswer:
    raw: GatewayResponse

    @property
    def status(self) -> int:
        return self.raw.status

    @property
    def headers(self) -> dict[str, str]:
        return {name.lower(): value for name, value in self.raw.headers}

    @property
    def cookies(self) -> list[str]:
        return [value for name, value in self.raw.headers if name.lower() == "set-cookie"]

    def json(self) -> Any:
        return json.loads(self.raw.body) if self.raw.body else None


EVENTS_DIR = ROOT / "events"


def sample_event(name: str) -> dict[str, Any]:
    return dict(json.loads((EVENTS_DIR / name).read_text()))
