"""The authorizer's bill levers as deployed: the share of allows it writes a metric line
for, and how consistently it reads (docs/capacity.md, section 5)."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from harness.stack import LambdaContext, Stack
from tests.helpers import authorize, authorizer_event, emf_metrics, login, register


def test_the_authorizer_writes_every_denial_and_the_set_share_of_allows(
    stack_with: Callable[..., Stack],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given an authorizer that writes a metric line for a quarter of the allows
    stack = stack_with(AUTHORIZER_ALLOW_LOG_PERCENT="25")
    register(stack)
    tokens = login(stack)
    authorizer = stack.function("AuthorizerFunction")
    draws = iter([0.0, 0.25, 0.5, 0.75] * 5)
    monkeypatch.setattr(authorizer, "sample_draw", lambda: next(draws))
    authorizer.lambda_handler(authorizer_event(tokens["access_token"]), LambdaContext())  # warm
    capsys.readouterr()
    # When it allows 16 requests and denies 3
    for _ in range(16):
        answer = authorizer.lambda_handler(
            authorizer_event(tokens["access_token"]), LambdaContext()
        )
        assert answer["isAuthorized"] is True
    for _ in range(3):
        answer = authorizer.lambda_handler(authorizer_event("not-a-token"), LambdaContext())
        assert answer["isAuthorized"] is False
    # Then 4 allows and every denial were written, and the allows still sum to 16
    printed = capsys.readouterr().out
    lines = [line for line in printed.splitlines() if '"_aws"' in line]
    assert sum('"AuthorizerAllows"' in line for line in lines) == 4
    assert sum('"AuthorizerDenies"' in line for line in lines) == 3
    assert emf_metrics(printed) == {"AuthorizerAllows": 16, "AuthorizerDenies": 3}
    assert all(json.loads(line).get("verdict") == "deny" for line in lines if "Denies" in line)


@pytest.mark.parametrize("consistent", ["true", "false"])
def test_the_authorizer_reads_as_consistently_as_it_is_set_to(
    stack_with: Callable[..., Stack], consistent: str
) -> None:
    stack = stack_with(AUTHORIZER_CONSISTENT_READ=consistent)
    register(stack)
    tokens = login(stack)
    assert authorize(stack, tokens["access_token"])["isAuthorized"] is True
    reads = [
        call.params["RequestItems"]
        for call in stack.calls.calls
        if call.function == "AuthorizerFunction" and call.operation == "BatchGetItem"
    ]
    assert [next(iter(read.values()))["ConsistentRead"] for read in reads] == [consistent == "true"]
