"""Every AWS call a function's code makes is allowed by the role `sam deploy` gives it: the
integration stack records each call made while a function runs and, at the end of every
test, holds it against the roles of the expanded template (resources included). These
cases make sure the check sees what it must, and can fail."""

from __future__ import annotations

import copy
from collections.abc import Callable

import pytest

from session_service import wiring
from tests.deployed_shape import (
    Call,
    Permission,
    expanded_template,
    missing_permissions,
    permissions_for,
    stack_arns,
)
from tests.helpers import authorize, login, register
from tests.integration.conftest import Stack


def actions(stack: Stack, function: str) -> set[str]:
    arns = stack_arns(stack.template)
    return {
        needed.action
        for call in stack.calls.calls
        if call.function == function
        for needed in permissions_for(call.service, call.operation, call.params, arns)
    }


def test_cold_functions_read_their_configuration_with_their_own_roles(
    stack_with: Callable[..., Stack],
) -> None:
    # Given the issuer read from SSM, as a deployed stack without TokenIssuer does
    stack = stack_with(TOKEN_ISSUER="")
    register(stack)
    tokens = login(stack)
    # When the authorizer starts cold, after the API function
    wiring.reset()
    assert authorize(stack, tokens["access_token"])["isAuthorized"] is True
    # Then each read the secret and the parameter itself (the check at the end of this
    # test holds them against each role)
    assert {"secretsmanager:GetSecretValue", "ssm:GetParameter"} <= actions(stack, "ApiFunction")
    assert actions(stack, "AuthorizerFunction") == {
        "secretsmanager:GetSecretValue",
        "ssm:GetParameter",
        "dynamodb:BatchGetItem",
    }


def test_a_role_missing_a_statement_is_caught(stack: Stack) -> None:
    register(stack)
    login(stack)
    # A deployed role without UpdateItem (the throttle's counters, a refresh)
    expanded = copy.deepcopy(expanded_template())
    policy = expanded["Resources"]["ApiFunctionRole"]["Properties"]["Policies"][0]
    for statement in policy["PolicyDocument"]["Statement"]:
        if isinstance(statement["Action"], list) and "dynamodb:UpdateItem" in statement["Action"]:
            statement["Action"].remove("dynamodb:UpdateItem")
    missing = missing_permissions(stack.calls.calls, stack.template, expanded)
    table = stack.template.names.attributes[("SessionTable", "Arn")]
    assert ("ApiFunction", Permission("dynamodb:UpdateItem", table)) in missing
    assert {function for function, _ in missing} == {"ApiFunction"}


def test_a_call_the_check_cannot_map_fails_loudly(stack: Stack) -> None:
    unknown = Call("ApiFunction", "kms", "Decrypt", {})
    with pytest.raises(ValueError, match=r"kms\.Decrypt"):
        missing_permissions([unknown], stack.template)
