"""Metrics reach CloudWatch at every LogLevel, and the logs keep what their level says:
each line the functions write, judged by a model of Lambda's documented log filter
(tests/lambda_log_filter.py) under the ApplicationLogLevel the template gives each
LogLevel."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics.provider.base import reset_cold_start_flag_provider
from aws_lambda_powertools.utilities.typing import LambdaContext

from local_run.expansion import expanded_template
from local_run.template import ROOT, Template, load_template
from session_service.domain.activity import signals
from session_service.domain.activity.activity_log import ActivityEntry
from session_service.domain.activity.events import ServiceEvent
from session_service.observability import logger, metric_line_level, metrics
from tests.lambda_log_filter import lambda_keeps, level_of

TEMPLATE = load_template()
LOG_LEVELS: list[str] = TEMPLATE["Parameters"]["LogLevel"]["AllowedValues"]


def _lambda_level(log_level: str) -> str:
    """The ApplicationLogLevel the template sets for a LogLevel."""
    name: str = TEMPLATE["Mappings"]["LambdaLogLevel"][log_level]["Name"]
    return name


class _Context:
    function_name = "session-service-AuthorizerFunction"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:authorizer"
    aws_request_id = "request"


def _metric_lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    reset_cold_start_flag_provider()  # type: ignore[no-untyped-call]

    @metrics.log_metrics(capture_cold_start_metric=True)
    def handler(event: dict[str, Any], context: LambdaContext) -> None:
        # What the stream's consumer counts: a metric of the invocation's set, and a
        # revocation on a line of its own (its reason is a dimension).
        signals.emit(
            [ActivityEntry(user_id="u", entry_id="e", type="login_throttled", at=0)],
            [
                ServiceEvent("RefreshTokenReuseDetected"),
                ServiceEvent("SessionRevoked", {"reason": "reuse_detected"}),
            ],
        )

    handler({}, _Context())
    return [line for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]


@pytest.mark.parametrize("log_level", LOG_LEVELS)
def test_every_metric_line_reaches_cloudwatch_at_every_log_level(
    log_level: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Lambda tells the function its application log level in AWS_LAMBDA_LOG_LEVEL.
    monkeypatch.setenv("AWS_LAMBDA_LOG_LEVEL", _lambda_level(log_level))
    lines = _metric_lines(capsys)
    names = sorted(
        metric["Name"]
        for line in lines
        for metric in json.loads(line)["_aws"]["CloudWatchMetrics"][0]["Metrics"]
    )
    assert names == ["ColdStart", "LoginsThrottled", "RefreshTokenReuseDetected", "SessionsRevoked"]
    assert [lambda_keeps(line, _lambda_level(log_level)) for line in lines] == [True] * 3


def test_no_metric_is_written_past_the_leveled_lines() -> None:
    # Powertools' single_metric writes a line without a level: every metric goes through
    # session_service.observability instead.
    sources = (ROOT / "layers" / "core" / "session_service").rglob("*.py")
    functions = (ROOT / "functions").rglob("*.py")
    found = [
        p.name for p in [*sources, *functions] if re.search(r"\bsingle_metric\b", p.read_text())
    ]
    assert found == []


def test_a_metric_line_says_info_unless_the_function_logs_less() -> None:
    assert [metric_line_level(level) for level in ("DEBUG", "INFO", "WARN", "ERROR")] == [
        "INFO",
        "INFO",
        "WARN",
        "ERROR",
    ]
    assert metric_line_level(None) == "INFO"


def test_the_model_drops_a_plain_powertools_metric_line_at_warn(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # What the functions wrote before: an EMF line with no level, which Lambda reads as INFO.
    plain = Metrics(namespace="SessionService", service="session-service")
    plain.add_metric(name="RefreshTokenReuseDetected", unit="Count", value=1)
    plain.flush_metrics()
    (line,) = capsys.readouterr().out.splitlines()
    assert (lambda_keeps(line, "INFO"), lambda_keeps(line, "WARN")) == (True, False)


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    output = io.StringIO()
    handler = logger.registered_handler
    previous = handler.setStream(output)  # type: ignore[attr-defined]
    level = logger.log_level
    logger.setLevel("DEBUG")
    yield output
    logger.setLevel(level)
    handler.setStream(previous)  # type: ignore[attr-defined]


def test_log_lines_keep_their_level_through_lambdas_filter(log_output: io.StringIO) -> None:
    logger.info("session started")
    logger.warning("refresh token reuse detected; session revoked")
    logger.error("the table did not answer")
    info, warning, error = log_output.getvalue().splitlines()
    assert [level_of(line) for line in (info, warning, error)] == ["INFO", "WARN", "ERROR"]
    assert [lambda_keeps(line, "WARN") for line in (info, warning, error)] == [False, True, True]
    assert [lambda_keeps(line, "ERROR") for line in (info, warning, error)] == [False, False, True]


@pytest.mark.parametrize("system_log_level", ["DEBUG", "INFO", "WARN"])
def test_lambdas_own_lines_are_a_choice_keeping_report_lines_by_default(
    system_log_level: str,
) -> None:
    parameter = TEMPLATE["Parameters"]["SystemLogLevel"]
    # INFO keeps each invocation's REPORT line (duration, init and restore times).
    assert (parameter["Default"], parameter["AllowedValues"]) == ("INFO", ["DEBUG", "INFO", "WARN"])
    # SAM leaves it to CloudFormation: the defaults' expansion, resolved with the value.
    template = Template(expanded_template(), {"SystemLogLevel": system_log_level})
    configs = [
        template.resolve(function["Properties"]["LoggingConfig"])
        for function in template.functions().values()
    ]
    assert {config["SystemLogLevel"] for config in configs} == {system_log_level}
    assert {config["LogFormat"] for config in configs} == {"JSON"}
