"""Who may call the admin API, and what its audit line says: the signer's account, the
allow-list of principals (a role's ARN admits its sessions), and no secret in the record."""

from __future__ import annotations

import json
from typing import Any

import pytest

from session_service.domain.errors import Forbidden
from session_service.edge.admin_audit import audit_record
from session_service.edge.authorization import AdminCaller, admin_caller, function_account
from session_service.edge.principals import allow_list, principal

ACCOUNT = "123456789012"
OTHER = "210987654321"
SESSION = f"arn:aws:sts::{ACCOUNT}:assumed-role/support/alice"


def event(arn: str = SESSION, account: str = ACCOUNT) -> dict[str, Any]:
    return {
        "routeKey": "GET /admin/users",
        "rawPath": "/admin/users",
        "rawQueryString": "username=ada&X-Amz-Signature=abc&X-Amz-Security-Token=tok",
        "queryStringParameters": {"username": "ada", "X-Amz-Security-Token": "tok"},
        "headers": {"authorization": "AWS4-HMAC-SHA256 Credential=AKIA/..., Signature=abc"},
        "requestContext": {
            "accountId": ACCOUNT,
            "http": {"method": "GET", "path": "/admin/users"},
            "authorizer": {
                "iam": {"accessKey": "ASIAEXAMPLE", "accountId": account, "userArn": arn}
            },
        },
    }


def admits(entry: str, caller: str) -> bool:
    (listed,) = allow_list(entry)
    signer = principal(caller)
    assert signer is not None
    return listed.admits(signer)


@pytest.mark.parametrize(
    ("entry", "caller", "admitted"),
    [
        # a role admits each of its sessions, whatever the role's path
        (f"arn:aws:iam::{ACCOUNT}:role/support", SESSION, True),
        (f"arn:aws:iam::{ACCOUNT}:role/teams/ops/support", SESSION, True),
        (f"arn:aws:iam::{ACCOUNT}:role/Support", SESSION, True),
        (f"arn:aws:iam::{ACCOUNT}:role/support", f"arn:aws:iam::{ACCOUNT}:role/support", False),
        (f"arn:aws:iam::{ACCOUNT}:role/support", f"arn:aws:iam::{ACCOUNT}:user/support", False),
        (
            f"arn:aws:iam::{ACCOUNT}:role/support",
            f"arn:aws:sts::{OTHER}:assumed-role/support/a",
            False,
        ),
        (f"arn:aws-cn:iam::{ACCOUNT}:role/support", SESSION, False),
        (f"arn:aws:iam::{ACCOUNT}:role/supp", SESSION, False),
        # a session admits itself only
        (SESSION, SESSION, True),
        (SESSION, f"arn:aws:sts::{ACCOUNT}:assumed-role/support/mallory", False),
        # a user admits that user, whatever the path either names
        (f"arn:aws:iam::{ACCOUNT}:user/alice", f"arn:aws:iam::{ACCOUNT}:user/staff/alice", True),
        (
            f"arn:aws:iam::{ACCOUNT}:user/alice",
            f"arn:aws:sts::{ACCOUNT}:assumed-role/alice/x",
            False,
        ),
        (f"arn:aws:iam::{ACCOUNT}:user/alice", f"arn:aws:iam::{ACCOUNT}:user/alice2", False),
    ],
)
def test_an_entry_admits_its_principal_and_a_role_its_sessions(
    entry: str, caller: str, admitted: bool
) -> None:
    assert admits(entry, caller) is admitted


def test_the_signer_of_the_functions_own_account_is_served() -> None:
    assert admin_caller(event(), ACCOUNT) == AdminCaller(SESSION, "ASIAEXAMPLE", ACCOUNT)


@pytest.mark.parametrize(
    ("arn", "account", "own"),
    [
        (f"arn:aws:sts::{OTHER}:assumed-role/support/alice", OTHER, ACCOUNT),
        (f"arn:aws:sts::{OTHER}:assumed-role/support/alice", ACCOUNT, ACCOUNT),
        (SESSION, OTHER, ACCOUNT),
        (SESSION, ACCOUNT, ""),
        ("not-an-arn", ACCOUNT, ACCOUNT),
    ],
    ids=["another-account", "arn-elsewhere", "account-elsewhere", "own-unknown", "no-arn"],
)
def test_a_signer_not_of_the_functions_account_is_forbidden(
    arn: str, account: str, own: str
) -> None:
    with pytest.raises(Forbidden, match="its own AWS account only"):
        admin_caller(event(arn, account), own)


def test_a_request_that_never_passed_iam_is_forbidden() -> None:
    unsigned = event()
    del unsigned["requestContext"]["authorizer"]
    with pytest.raises(Forbidden, match="signed with AWS credentials"):
        admin_caller(unsigned, ACCOUNT)


def test_with_an_allow_list_only_its_principals_are_served() -> None:
    listed = allow_list(f"arn:aws:iam::{ACCOUNT}:user/bob,arn:aws:iam::{ACCOUNT}:role/support")
    assert admin_caller(event(), ACCOUNT, listed).user_arn == SESSION
    for outsider in (
        f"arn:aws:sts::{ACCOUNT}:assumed-role/developer/alice",
        f"arn:aws:iam::{ACCOUNT}:user/alice",
        # the account's root user is a principal of the account, never an entry
        f"arn:aws:iam::{ACCOUNT}:root",
    ):
        with pytest.raises(Forbidden, match="ADMIN_PRINCIPALS"):
            admin_caller(event(outsider), ACCOUNT, listed)


@pytest.mark.parametrize(
    ("arn", "account"),
    [
        ("arn:aws:lambda:eu-west-1:123456789012:function:stack-AdminFunction-abc", ACCOUNT),
        ("arn:aws:lambda:eu-west-1:123456789012:function:stack-AdminFunction-abc:live", ACCOUNT),
        ("arn:aws:iam::210987654321:role/x", ""),
        ("", ""),
    ],
)
def test_the_functions_account_is_read_from_the_arn_lambda_invoked(arn: str, account: str) -> None:
    assert function_account(arn) == account


def test_the_audit_record_names_the_signer_the_call_and_the_answer_and_no_secret() -> None:
    answer = {"statusCode": 403, "body": json.dumps({"error": "forbidden"})}
    record = audit_record(event(), answer)
    assert record == {
        "caller": SESSION,
        "caller_account": ACCOUNT,
        "access_key_id": "ASIAEXAMPLE",
        "method": "GET",
        "route": "GET /admin/users",
        "path": "/admin/users",
        "username": "ada",
        "status": 403,
        "error": "forbidden",
    }
    # a presigned request's signature and session token stay out of it
    assert "abc" not in json.dumps(record)
    assert "tok" not in json.dumps(record)


def test_the_audit_record_of_a_call_without_iam_names_no_caller() -> None:
    unsigned = event()
    del unsigned["requestContext"]["authorizer"]
    record = audit_record(unsigned, {"statusCode": 204})
    assert (record["caller"], record["caller_account"], record["status"]) == (None, None, 204)
    assert "error" not in record
