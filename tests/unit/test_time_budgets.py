"""Time budgets: the longest an AWS call can take (every attempt timing out, with the
back-off between them) stays under each function's Timeout as deployed, so a degraded
dependency gives the documented 503, never a Lambda timeout. Secrets and parameters are
read through the same client configuration, not botocore's 60 s defaults."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from botocore.config import Config

from local_run.expansion import deployed_template
from local_run.template import ROOT
from session_service import wiring
from session_service.adapters.aws import CLIENT_CONFIG, worst_case_seconds
from session_service.adapters.secrets import secrets_client
from session_service.adapters.ssm import ssm_client

# What a function needs besides its slowest call: its own work (argon2, signing) and the
# answer. A second of room.
ROOM_SECONDS = 1


def test_the_worst_call_is_counted_from_attempts_timeouts_and_back_off() -> None:
    config = Config(
        retries={"mode": "standard", "total_max_attempts": 3}, connect_timeout=1, read_timeout=2
    )
    # three attempts of 3 s, and back-offs of at most 1 s and 2 s between them
    assert worst_case_seconds(config) == 12


def test_every_function_outlasts_its_slowest_aws_call() -> None:
    functions = deployed_template().functions()
    assert functions
    for name, function in functions.items():
        timeout = function["Properties"]["Timeout"]
        assert worst_case_seconds() + ROOM_SECONDS <= timeout, name


def test_secrets_and_parameters_read_through_clients_with_our_timeouts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    wiring.reset()
    for client in (secrets_client(), ssm_client()):
        config = client.meta.config
        assert (config.connect_timeout, config.read_timeout) == (
            CLIENT_CONFIG.connect_timeout,
            CLIENT_CONFIG.read_timeout,
        )
        assert config.retries == CLIENT_CONFIG.retries
    wiring.reset()


def test_no_client_is_made_but_by_the_one_factory() -> None:
    factory = ROOT / "layers" / "core" / "session_service" / "adapters" / "aws.py"
    sources = [*(ROOT / "layers" / "core").rglob("*.py"), *(ROOT / "functions").rglob("*.py")]
    makers = {"client", "resource", "Session"}
    found = []
    for source in sources:
        if source == factory or ".aws-sam" in source.parts:
            continue
        for node in ast.walk(ast.parse(Path(source).read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in makers
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id in ("boto3", "session")
            ):
                found.append(f"{source.relative_to(ROOT)}:{node.lineno}")
    assert found == []
