"""Cost does not grow with a user's history: after 200 logins (limit 5), login, the session
list, signing out everywhere else and a password change read exactly what they read for
a user who has only ever had 5 sessions: items, and read units by DynamoDB's arithmetic."""

from __future__ import annotations

from typing import Any

from harness.stack import Stack
from tests.helpers import PASSWORD, bearer, login, register
from tests.integration.aws_call_count import AwsCalls


def reads_of_each_route(stack: Stack, aws_calls: AwsCalls, username: str) -> dict[str, Any]:
    """Items and read units of the user's next login, list, sign-out-elsewhere and
    password change (the authorizer's read included)."""
    measured: dict[str, Any] = {}

    def measure(name: str, method: str, path: str, **kwargs: Any) -> Any:
        aws_calls.clear()
        answer = stack.http(method, path, **kwargs)
        assert answer.status < 300, answer.json()
        measured[name] = (aws_calls.items_read, aws_calls.read_units)
        return answer.json()

    body = {"username": username, "password": PASSWORD}
    tokens = measure("login", "POST", "/auth/login", body=body)
    auth = bearer(tokens["access_token"])
    measure("list", "GET", "/auth/sessions", headers=auth)
    measure("sign out elsewhere", "DELETE", "/auth/sessions", headers=auth)
    change = {"current_password": PASSWORD, "new_password": "another long passphrase"}
    measure("password change", "POST", "/auth/password", body=change, headers=auth)
    return measured


def test_routes_read_no_more_after_200_logins_than_for_a_user_with_5_sessions(
    stack: Stack, aws_calls: AwsCalls
) -> None:
    # Given a user with a long history, and one who has only ever had five sessions
    register(stack, "veteran")
    for _ in range(200):
        login(stack, "veteran")
    # whose partition holds the profile and the five live sessions only
    partition = [item["sk"]["S"] for item in stack.items() if item["pk"]["S"].startswith("USER#")]
    assert sorted(sort_key.split("#")[0] for sort_key in partition) == ["PROFILE"] + ["SESSION"] * 5
    register(stack, "newcomer")
    for _ in range(5):
        login(stack, "newcomer")
    # When each runs the same routes
    veteran = reads_of_each_route(stack, aws_calls, "veteran")
    newcomer = reads_of_each_route(stack, aws_calls, "newcomer")
    # Then they read the same items and the same read units, route by route
    print(f"reads (items, read units) after 200 logins: {veteran}; fresh user: {newcomer}")
    assert veteran == newcomer
    # and what that is: the profile and the five live sessions for login
    assert newcomer["login"][0] == 1 + 1 + 5  # credential, profile, sessions
    assert newcomer["list"][0] == 2 + 1 + 5  # authorizer's two, profile, sessions
