"""An app's access token at the Lambda authorizer once its grant alone has ended, through
the in-process stack: a revoked refresh token (RFC 7009 §2.1) or a replayed code (RFC 6749
§4.1.2) ends the grant's access tokens at once, as an ended session ends all of its own.
The authorizer reads the grant in the same BatchGetItem as the session and the profile (3
keys for an app's token, still 2 for the service's own), with its one consistent read
again before refusing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import jwt
import pytest

from harness.stack import Stack
from tests.helpers import authorize, bearer, login
from tests.integration.client_admin import NATIVE_APP, registered
from tests.integration.oauth2_flow import FORM, code_of, exchange, signed_in

REFUSED = {"isAuthorized": False}


def app_tokens(stack: Stack, client_id: str, cookie: str) -> dict[str, Any]:
    answer = exchange(stack, client_id, code_of(stack, client_id, cookie))
    assert answer.status == 200, answer.json()
    return dict(answer.json())


def allowed(stack: Stack, access_token: str) -> bool:
    return bool(authorize(stack, access_token)["isAuthorized"])


def authorizer_reads(stack: Stack, since: int) -> list[tuple[bool, list[str]]]:
    """The authorizer's AWS calls from the `since`-th recorded one: each a BatchGetItem,
    given as its ConsistentRead and the sort keys it asked for."""
    calls = [call for call in stack.calls.calls[since:] if call.function == "AuthorizerFunction"]
    assert {call.operation for call in calls} == {"BatchGetItem"}
    reads = [next(iter(call.params["RequestItems"].values())) for call in calls]
    return [(read["ConsistentRead"], [key["sk"]["S"] for key in read["Keys"]]) for read in reads]


def userinfo_status(stack: Stack, access_token: str) -> int:
    return stack.http("GET", "/oauth2/userinfo", headers=bearer(access_token)).status


def test_revoking_an_apps_refresh_token_refuses_its_access_token_at_once_and_no_other(
    stack: Stack,
) -> None:
    # Given two apps signed in on one central session, each token allowed
    revoking = registered(stack, NATIVE_APP)
    other = registered(stack, {**NATIVE_APP, "name": "Other"})
    cookie = signed_in(stack)
    revoked = app_tokens(stack, revoking["client_id"], cookie)
    kept = app_tokens(stack, other["client_id"], cookie)
    assert (allowed(stack, revoked["access_token"]), allowed(stack, kept["access_token"])) == (
        True,
        True,
    )
    # When the first app revokes its refresh token
    form = {"token": revoked["refresh_token"], "client_id": revoking["client_id"]}
    assert stack.http("POST", "/oauth2/revoke", urlencode(form), FORM).status == 200
    # Then the authorizer refuses its access token at once, as it refuses an ended session's
    assert authorize(stack, revoked["access_token"]) == REFUSED
    assert userinfo_status(stack, revoked["access_token"]) == 401
    # And the other app's grant, its token and the central session live on
    assert allowed(stack, kept["access_token"]) is True
    assert userinfo_status(stack, kept["access_token"]) == 200
    assert allowed(stack, login(stack)["access_token"]) is True


def test_a_replayed_code_refuses_the_access_token_of_its_first_exchange(stack: Stack) -> None:
    client = registered(stack, NATIVE_APP)
    cookie = signed_in(stack)
    code = code_of(stack, client["client_id"], cookie)
    first = exchange(stack, client["client_id"], code)
    assert first.status == 200, first.json()
    assert allowed(stack, first.json()["access_token"]) is True
    # When the code is presented again
    replayed = exchange(stack, client["client_id"], code)
    assert (replayed.status, replayed.json()["error"]) == (400, "invalid_grant")
    # Then the first exchange's access token is refused at once
    assert authorize(stack, first.json()["access_token"]) == REFUSED
    # And the app's next sign-in on the same central session gets a token that is allowed
    again = app_tokens(stack, client["client_id"], cookie)
    assert allowed(stack, again["access_token"]) is True


@pytest.mark.parametrize("consistent", ["true", "false"])
def test_an_apps_token_is_checked_in_one_read_of_three_keys_and_the_services_own_of_two(
    stack_with: Callable[..., Stack], consistent: str
) -> None:
    # Given an app's token and the service's own, with the authorizer's reads as set
    stack = stack_with(AUTHORIZER_CONSISTENT_READ=consistent)
    eventual = consistent == "false"
    client = registered(stack, NATIVE_APP)
    cookie = signed_in(stack)
    app = app_tokens(stack, client["client_id"], cookie)
    own = login(stack)
    session_id = jwt.decode(own["access_token"], options={"verify_signature": False})["sid"]
    claims = jwt.decode(app["access_token"], options={"verify_signature": False})
    grant_keys = [
        f"SESSION#{claims['sid']}",
        "PROFILE",
        f"GRANT#{claims['sid']}#{claims['grant_id']}",
    ]
    assert allowed(stack, own["access_token"]) is True  # warm: its keys read at cold start
    mark = len(stack.calls.calls)
    # When each is checked while it lives
    assert (allowed(stack, app["access_token"]), allowed(stack, own["access_token"])) == (
        True,
        True,
    )
    # Then each is one BatchGetItem: the app's with its grant, the service's own without
    assert authorizer_reads(stack, mark) == [
        (not eventual, grant_keys),
        (not eventual, [f"SESSION#{session_id}", "PROFILE"]),
    ]
    # And once the grant has ended, an eventual read is confirmed by a consistent one
    form = {"token": app["refresh_token"], "client_id": client["client_id"]}
    assert stack.http("POST", "/oauth2/revoke", urlencode(form), FORM).status == 200
    mark = len(stack.calls.calls)
    assert authorize(stack, app["access_token"]) == REFUSED
    confirmed = [(False, grant_keys), (True, grant_keys)] if eventual else [(True, grant_keys)]
    assert authorizer_reads(stack, mark) == confirmed
