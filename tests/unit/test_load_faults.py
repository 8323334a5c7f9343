"""`make load FAULTS=...`: its fault specs, and the figures that make a fault run fail."""

from __future__ import annotations

import dataclasses

import pytest

from bench.load import LoadResult, report
from bench.load_faults import fault_figures_fail, injected_faults, reuse_events
from harness.lost_answers import STRIKE_LINE, faults_from_environment, parse_faults

CLEAN = LoadResult(
    clients=8,
    seconds=30,
    requests=2522,
    flows=300,
    requests_per_second=84.1,
    p50_ms=40.0,
    p95_ms=90.0,
    p99_ms=120.0,
    max_ms=900.0,
    errors={},
    commit="abc1234",
    measured_at="2026-12-06 21:00 UTC",
    faults="post:0.05",
    statuses={"200": 2400, "204": 100, "401": 11, "503": 11},
    injected={"TransactWriteItems": 20, "UpdateItem": 41},
)


def test_a_fault_spec_names_its_mode_and_rate() -> None:
    faults = parse_faults("post:0.05")
    assert (faults.mode, faults.rate) == ("post", 0.05)
    assert parse_faults("pre:0.5").mode == "pre"
    for wrong in ("post", "during:0.1", "pre:2", "pre:"):
        with pytest.raises(ValueError, match="fault"):
            parse_faults(wrong)


@pytest.mark.parametrize(
    ("change", "fails"),
    [
        ({}, False),
        ({"ended_under_clients": 1}, True),
        ({"reuse_events": 1}, True),
        ({"no_retry_after": 1}, True),
        ({"statuses": {"200": 10, "500": 1}}, True),
        ({"injected": {}}, True),
        ({"errors": {"refused after logout: 200 instead of 401": 1}}, True),
        ({"errors": {"timeout": 1}}, True),
        ({"errors": {"503 on refresh": 2}}, False),
    ],
)
def test_a_fault_run_fails_on_any_broken_promise(change: dict[str, object], fails: bool) -> None:
    assert fault_figures_fail(dataclasses.replace(CLEAN, **change)) is fails  # type: ignore[arg-type]


def test_the_report_gives_the_fault_figures() -> None:
    text = report(dataclasses.replace(CLEAN, ended_under_clients=2, reuse_events=3))
    assert "faults injected: post:0.05, 61 calls (TransactWriteItems 20, UpdateItem 41)" in text
    assert "answers by status: 200: 2400, 204: 100, 401: 11, 503: 11" in text
    assert "503 without Retry-After: 0, other 5xx: 0" in text
    assert "sessions ended under clients: 2" in text
    assert "reuse reported: 3" in text


def test_reuse_is_counted_from_the_functions_warnings() -> None:
    logs = '{"level":"WARNING","message":"refresh token reuse detected; session revoked"}\n' * 2
    assert reuse_events(logs + '{"message":"other"}\n') == 2


def test_the_functions_print_each_fault_and_the_load_counts_them(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LOCAL_DYNAMODB_FAULTS", "pre:1")
    faults = faults_from_environment()
    assert faults is not None
    assert [faults.strikes(op) for op in ("GetItem", "UpdateItem", "GetItem")] == [True] * 3
    printed = capsys.readouterr().err
    assert printed.count(STRIKE_LINE) == 3
    assert injected_faults(printed + "other lines\n") == {"GetItem": 2, "UpdateItem": 1}
