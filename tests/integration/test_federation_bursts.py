"""Federation's single uses under bursts, over the HTTP API on moto and on DynamoDB Local,
against Node's oidc-provider: one handoff exchanged 8 times at once gives one session;
one callback replayed 8 times at once goes on once; 8 first sign-ins of one new identity
at once make one account."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qsl, urlsplit

import pytest

from harness.domain import CLIENT
from harness.stack import Stack
from session_service import federation_wiring
from session_service.domain.federation.sign_in import CallbackRequest
from tests.federation.upstream import UpstreamProvider
from tests.helpers import burst, serialize_aws_calls
from tests.integration.federation_flow import (
    Browser,
    at_provider,
    callback,
    exchange,
    federated_stack,
    fragment,
    new_subject,
    sign_in,
    start,
)

pytestmark = pytest.mark.parametrize("backend", ["moto", "dynamodb-local"], indirect=True)


@pytest.fixture(autouse=True)
def _moto_one_call_at_a_time(backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """moto's in-process backend is not thread-safe: its calls take turns (each request's
    calls still interleave with the others', which is what the bursts race on)."""
    if backend == "moto":
        serialize_aws_calls(monkeypatch)


def sessions(stack: Stack) -> int:
    return len([i for i in stack.items() if i.get("kind", {}).get("S") == "session"])


def test_one_handoff_exchanged_eight_times_at_once_gives_one_session(
    stack_with: Callable[..., Stack], upstream: UpstreamProvider
) -> None:
    stack = federated_stack(stack_with, upstream)
    answer = sign_in(stack, upstream, sub=new_subject())
    handoff = fragment(answer.headers["location"])["handoff"]
    assert burst(8, lambda _: exchange(stack, handoff).status) == {200: 1, 401: 7}
    assert sessions(stack) == 1


def test_one_callback_replayed_eight_times_at_once_goes_on_once(
    stack_with: Callable[..., Stack], upstream: UpstreamProvider
) -> None:
    stack = federated_stack(stack_with, upstream)
    upstream.sign_in_as(new_subject())
    browser = Browser()
    url = at_provider(upstream, browser, start(stack, browser))
    assert burst(8, lambda _: callback(stack, browser, url).status) == {303: 1, 400: 7}
    handoffs = [i for i in stack.items() if i.get("kind", {}).get("S") == "federation_handoff"]
    assert len(handoffs) == 1


def test_eight_first_sign_ins_of_one_identity_at_once_make_one_account(
    stack_with: Callable[..., Stack], upstream: UpstreamProvider
) -> None:
    # Eight browsers back from the provider at once, each with its own flow: the domain's
    # callback in eight threads (in process, Powertools keeps the request in one global:
    # different requests at once through the in-process gateway would read each other's)
    stack = federated_stack(stack_with, upstream)
    upstream.sign_in_as(new_subject())
    browsers = [Browser() for _ in range(8)]
    urls = [at_provider(upstream, b, start(stack, b)) for b in browsers]
    federation = federation_wiring.federated_sign_in()

    def finish(index: int) -> str:
        params = dict(parse_qsl(urlsplit(urls[index]).query))
        request = CallbackRequest("upstream", params, browsers[index].binding, CLIENT, handoff=True)
        outcome = federation.callback(request)
        assert outcome.error is None, outcome.error
        assert outcome.handoff is not None
        return federation.exchange(outcome.handoff, CLIENT).session.user_id

    users = burst(8, finish)
    assert len(users) == 1
    assert sum(users.values()) == 8
    profiles = [i for i in stack.items() if i["sk"]["S"] == "PROFILE"]
    assert len(profiles) == 1
