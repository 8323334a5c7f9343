"""What a federated sign-in costs: its AWS calls (counted at botocore's edge) and its
outbound HTTP calls to the provider (counted at the bounded HTTP client), for each of its
three requests (start, callback, exchange), cold (the container's first: KMS unseals the
client secret, discovery and the JWKS are fetched) and warm (all of them cached)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from harness.stack import Stack
from session_service.adapters.bounded_http import BoundedHttp
from tests.federation.upstream import UpstreamProvider
from tests.integration.aws_call_count import AwsCalls
from tests.integration.federation_flow import (
    Browser,
    at_provider,
    callback,
    exchange,
    federated_stack,
    fragment,
    new_subject,
    start,
)


def test_a_federated_sign_in_makes_the_fewest_calls_cold_and_warm(
    stack_with: Callable[..., Stack],
    upstream: UpstreamProvider,
    aws_calls: AwsCalls,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stack = federated_stack(stack_with, upstream)
    http: Counter[str] = Counter()
    for verb in ("get", "post_form"):
        original = getattr(BoundedHttp, verb)

        def counted(self: BoundedHttp, url: str, *args: Any, _o: Any = original) -> Any:
            http[url.removeprefix(upstream.issuer)] += 1
            return _o(self, url, *args)

        monkeypatch.setattr(BoundedHttp, verb, counted)

    def sign_in(subject: str) -> dict[str, dict[str, dict[str, int]]]:
        measured: dict[str, dict[str, dict[str, int]]] = {}
        upstream.sign_in_as(subject)
        browser = Browser()

        def measure(name: str, step: Callable[[], Any]) -> Any:
            aws_calls.clear()
            http.clear()
            result = step()
            measured[name] = {"aws": dict(aws_calls.calls), "http": dict(http)}
            return result

        url = measure("start", lambda: start(stack, browser))
        back = at_provider(upstream, browser, url)
        answer = measure("callback", lambda: callback(stack, browser, back))
        handoff = fragment(answer.headers["location"])["handoff"]
        tokens = measure("exchange", lambda: exchange(stack, handoff))
        assert tokens.status == 200, tokens.json()
        return measured

    cold, warm = sign_in(new_subject()), sign_in(subject := new_subject())
    returning = sign_in(subject)
    discovery, jwks = "/.well-known/openid-configuration", "/jwks"
    print("cold", cold, "warm", warm, "returning", returning)
    # The start: the provider (GetItem), the flow (PutItem); cold, discovery too.
    assert cold["start"]["http"] == {discovery: 1}
    assert warm["start"] == {
        "aws": {"dynamodb.GetItem": 1, "dynamodb.PutItem": 1},
        "http": {},
    }
    # The callback: the flow (GetItem) spent (UpdateItem), the provider (GetItem), its
    # secret unsealed (KMS, once per container), the identity (GetItem), the account made
    # (TransactWriteItems, under a registration place: UpdateItem), the credential
    # (GetItem), the handoff (PutItem); the token endpoint, and cold the JWKS.
    assert cold["callback"]["http"] == {"/token": 1, jwks: 1}
    assert warm["callback"]["http"] == {"/token": 1}
    assert cold["callback"]["aws"]["kms.Decrypt"] == 1
    assert cold["exchange"]["aws"]["secretsmanager.GetSecretValue"] == 1  # the signing key
    assert warm["callback"]["aws"] == {
        "dynamodb.GetItem": 4,
        "dynamodb.UpdateItem": 2,
        "dynamodb.TransactWriteItems": 1,
        "dynamodb.PutItem": 1,
    }
    # The exchange: the handoff, the credential, the provider, the identity (still linked)
    # (GetItem, 4), the user's live sessions (Query), the session with the handoff spent
    # (TransactWriteItems).
    assert warm["exchange"] == {
        "aws": {"dynamodb.GetItem": 4, "dynamodb.Query": 1, "dynamodb.TransactWriteItems": 1},
        "http": {},
    }
    # A returning identity: its account found, nothing made
    assert returning["callback"]["aws"] == {
        "dynamodb.GetItem": 4,
        "dynamodb.UpdateItem": 1,
        "dynamodb.PutItem": 1,
    }
    assert returning["exchange"] == warm["exchange"]
    for step in [*warm.values(), *returning.values()]:
        assert not any(call.startswith(("secretsmanager", "ssm", "kms")) for call in step["aws"])
