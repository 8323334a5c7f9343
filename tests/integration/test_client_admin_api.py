"""Single sign-on's clients through the admin API (IAM/SigV4 in front, the admin function
behind, on moto): a secret shown once and never again, PATCH semantics, a new secret that
voids the old, each invalid field a 400 in the contract's shape, and the events of
registrations and deletions, which carry no secret."""

from __future__ import annotations

from typing import Any

import pytest

from harness.stack import Stack
from session_service.adapters.client_store import DynamoClientStore
from session_service.adapters.dynamo import dynamodb_client
from session_service.domain.sso.clients import OAuthClient, secret_digest
from tests.helpers import admin_headers, assert_error, stream_records
from tests.integration.client_admin import (
    NATIVE_APP,
    WEB_APP,
    admin_call,
    client_events,
    registered,
)

VIEW = {
    "client_id",
    "name",
    "type",
    "redirect_uris",
    "post_logout_redirect_uris",
    "backchannel_logout_uri",
    "created_at",
    "updated_at",
}


def stored(stack: Stack, client_id: str) -> OAuthClient:
    """The client as the table holds it."""
    client = DynamoClientStore(dynamodb_client(), stack.table).find_client(client_id)
    assert client is not None
    return client


def test_a_secret_is_shown_once_and_never_again(stack: Stack) -> None:
    answer = admin_call(stack, "POST", "/admin/clients", WEB_APP)
    assert answer.status == 201
    body = answer.json()
    client_id, secret = body["client_id"], body["client_secret"]
    assert set(body) == {*VIEW, "client_secret"}
    assert {key: body[key] for key in WEB_APP if key != "type"} == {
        key: value for key, value in WEB_APP.items() if key != "type"
    }
    assert body["type"] == "confidential"
    assert body["created_at"] == body["updated_at"]
    assert answer.headers["cache-control"] == "no-store"
    # The table keeps its digest only; the secret verifies against it
    client = stored(stack, client_id)
    assert client.verify_secret(secret)
    items = str(stack.items())
    assert secret not in items
    assert secret_digest(secret) in items
    # Neither the secret nor its digest is in any later answer
    one = admin_call(stack, "GET", f"/admin/clients/{client_id}")
    listed = admin_call(stack, "GET", "/admin/clients")
    assert (one.status, listed.status) == (200, 200)
    assert one.json() == {key: value for key, value in body.items() if key != "client_secret"}
    assert listed.json() == {"clients": [one.json()]}
    for answer in (one, listed):
        assert secret.encode() not in answer.raw.body
        assert secret_digest(secret).encode() not in answer.raw.body


def test_a_public_client_has_no_secret_to_show_nor_renew(stack: Stack) -> None:
    body = registered(stack, NATIVE_APP)
    assert set(body) == VIEW
    assert (body["type"], body["post_logout_redirect_uris"], body["backchannel_logout_uri"]) == (
        "public",
        [],
        None,
    )
    assert stored(stack, body["client_id"]).secret_digest is None
    renewed = admin_call(stack, "POST", f"/admin/clients/{body['client_id']}/secret")
    assert_error(renewed, 409, "conflict")
    assert renewed.json()["error_description"] == "A public client has no secret."


def test_a_change_sets_what_is_sent_and_keeps_the_rest_and_the_secret(stack: Stack) -> None:
    body = registered(stack, WEB_APP)
    client_id, secret = body["client_id"], body["client_secret"]
    path = f"/admin/clients/{client_id}"
    other = "https://billing.example.test/other"
    change = {"name": "Billing v2", "redirect_uris": [other], "type": "confidential"}
    changed = admin_call(stack, "PATCH", path, change)
    assert changed.status == 200, changed.json()
    expected = {key: value for key, value in body.items() if key != "client_secret"}
    expected |= {"name": "Billing v2", "redirect_uris": [other]}
    assert changed.json() == {**expected, "updated_at": changed.json()["updated_at"]}
    assert changed.json()["updated_at"] > body["updated_at"]
    assert admin_call(stack, "GET", path).json() == changed.json()
    assert stored(stack, client_id).verify_secret(secret)
    # null removes the back-channel URI; the type never changes
    cleared = admin_call(stack, "PATCH", path, {"backchannel_logout_uri": None})
    assert cleared.json()["backchannel_logout_uri"] is None
    retyped = admin_call(stack, "PATCH", path, {"type": "public"})
    assert_error(retyped, 400, "invalid_request")
    assert retyped.json()["error_description"] == (
        "type: a client's type cannot change; register a new client."
    )
    assert admin_call(stack, "GET", path).json() == cleared.json()


def test_a_new_secret_voids_the_old_one(stack: Stack) -> None:
    body = registered(stack, WEB_APP)
    client_id, old = body["client_id"], body["client_secret"]
    answer = admin_call(stack, "POST", f"/admin/clients/{client_id}/secret")
    assert answer.status == 200
    new = answer.json()["client_secret"]
    assert answer.json() == {"client_id": client_id, "client_secret": new}
    assert answer.headers["cache-control"] == "no-store"
    assert new != old
    client = stored(stack, client_id)
    assert client.verify_secret(new)
    assert not client.verify_secret(old)


def test_a_deleted_client_is_gone(stack: Stack) -> None:
    kept = registered(stack, NATIVE_APP)
    client_id = registered(stack, WEB_APP)["client_id"]
    path = f"/admin/clients/{client_id}"
    deleted = admin_call(stack, "DELETE", path)
    assert (deleted.status, deleted.raw.body) == (204, b"")
    assert_error(admin_call(stack, "GET", path), 404, "not_found")
    assert_error(admin_call(stack, "DELETE", path), 404, "not_found")
    assert admin_call(stack, "GET", "/admin/clients").json() == {"clients": [kept]}


@pytest.mark.parametrize(
    ("method", "suffix"),
    [("GET", ""), ("PATCH", ""), ("DELETE", ""), ("POST", "/secret")],
)
@pytest.mark.parametrize(
    "client_id",
    ["not-a-client", "7d0c3b52-8c1e-4f0a-9a7e-2f4b7c9d1e60", "x" * 2000],
    ids=["not-an-id", "unknown", "long"],
)
def test_a_client_id_that_names_no_client_is_not_found(
    stack: Stack, method: str, suffix: str, client_id: str
) -> None:
    body = {"name": "Renamed"} if method == "PATCH" else None
    answer = admin_call(stack, method, f"/admin/clients/{client_id}{suffix}", body)
    assert_error(answer, 404, "not_found")
    assert answer.json()["error_description"] == "No such client."


CLIENT_ROUTES = [
    ("POST", "/admin/clients"),
    ("GET", "/admin/clients"),
    ("GET", "/admin/clients/{client_id}"),
    ("PATCH", "/admin/clients/{client_id}"),
    ("DELETE", "/admin/clients/{client_id}"),
    ("POST", "/admin/clients/{client_id}/secret"),
]


@pytest.mark.parametrize(("method", "route"), CLIENT_ROUTES)
@pytest.mark.parametrize("signature", ["unsigned", "wrong-secret"])
def test_a_request_not_signed_by_an_administrator_is_forbidden(
    stack: Stack, method: str, route: str, signature: str
) -> None:
    client_id = registered(stack, WEB_APP)["client_id"]
    path = route.format(client_id=client_id)
    headers = {} if signature == "unsigned" else admin_headers(method, path, "not-the-secret")
    body = {"name": "Taken over"} if method in ("POST", "PATCH") else None
    assert_error(stack.http(method, path, body, headers=headers), 403, "forbidden")
    # Nothing changed, nothing new
    (only,) = admin_call(stack, "GET", "/admin/clients").json()["clients"]
    assert (only["client_id"], only["name"], only["updated_at"]) == (
        client_id,
        WEB_APP["name"],
        only["created_at"],
    )


LONG = "https://billing.example.test/" + "a" * 2000
INVALID_REGISTRATIONS: dict[str, tuple[dict[str, Any], str]] = {
    "no name": ({"name": None}, "name: Input should be a valid string"),
    "empty name": ({"name": ""}, "name: String should have at least 1 character"),
    "blank name": ({"name": "  "}, "name: must be 1 to 100 characters."),
    "control in name": ({"name": "Bill\u0007ing"}, "name: must be printable text."),
    "no redirect": (
        {"redirect_uris": []},
        "redirect_uris: List should have at least 1 item after validation, not 0",
    ),
    "redirect not a list": (
        {"redirect_uris": "https://billing.example.test/cb"},
        "redirect_uris: Input should be a valid list",
    ),
    "javascript redirect": (
        {"redirect_uris": ["javascript:alert(1)"]},
        "redirect_uris[0]: has the scheme javascript: only https is allowed (http on loopback "
        "only).",
    ),
    "plain http redirect": (
        {"redirect_uris": ["http://evil.example/cb"]},
        "redirect_uris[0]: uses http on a host that is not loopback: use https (http is allowed "
        "only on 127.0.0.1, [::1] and localhost).",
    ),
    "fragment": (
        {"redirect_uris": ["https://app.example/cb#frag"]},
        "redirect_uris[0]: has a fragment (#), which the URI must not have.",
    ),
    "user information": (
        {"redirect_uris": ["https://user@app.example/cb"]},
        "redirect_uris[0]: has user information (user@) before its host.",
    ),
    "relative": (
        {"redirect_uris": ["/cb"]},
        "redirect_uris[0]: is not absolute: it needs a scheme and a host, as "
        "https://app.example/callback.",
    ),
    "wildcard": (
        {"redirect_uris": ["*"]},
        "redirect_uris[0]: has a wildcard (*): URIs match exactly, so list each one.",
    ),
    "oversized": (
        {"redirect_uris": [LONG]},
        "redirect_uris.0: String should have at most 2000 characters",
    ),
    "too many": (
        {"redirect_uris": [f"https://app.example/{i}" for i in range(21)]},
        "redirect_uris: List should have at most 20 items after validation, not 21",
    ),
    "post-logout fragment": (
        {"post_logout_redirect_uris": ["https://app.example/#top"]},
        "post_logout_redirect_uris[0]: has a fragment (#), which the URI must not have.",
    ),
    "back-channel over http": (
        {"backchannel_logout_uri": "http://billing.example.test/logout"},
        "backchannel_logout_uri: uses http on a host that is not loopback: use https (http is "
        "allowed only on 127.0.0.1, [::1] and localhost).",
    ),
    "unknown type": ({"type": "trusted"}, "type: Input should be 'confidential' or 'public'"),
    "a secret of one's choosing": (
        {"client_secret": "chosen"},
        "client_secret: Extra inputs are not permitted",
    ),
}


@pytest.mark.parametrize("case", sorted(INVALID_REGISTRATIONS))
def test_an_invalid_registration_is_a_400_naming_the_field(stack: Stack, case: str) -> None:
    fields, description = INVALID_REGISTRATIONS[case]
    answer = admin_call(stack, "POST", "/admin/clients", {**WEB_APP, **fields})
    assert_error(answer, 400, "invalid_request")
    assert answer.json()["error_description"] == description
    assert admin_call(stack, "GET", "/admin/clients").json() == {"clients": []}


# A PATCH may send null (it removes the back-channel URI): the domain refuses it elsewhere.
CHANGE_DESCRIPTIONS = {"no name": "name: must be a string."}


@pytest.mark.parametrize("case", sorted(INVALID_REGISTRATIONS))
def test_an_invalid_change_is_a_400_and_changes_nothing(stack: Stack, case: str) -> None:
    body = registered(stack, WEB_APP)
    path = f"/admin/clients/{body['client_id']}"
    fields, description = INVALID_REGISTRATIONS[case]
    answer = admin_call(stack, "PATCH", path, fields)
    assert_error(answer, 400, "invalid_request")
    assert answer.json()["error_description"] == CHANGE_DESCRIPTIONS.get(case, description)
    unchanged = {key: value for key, value in body.items() if key != "client_secret"}
    assert admin_call(stack, "GET", path).json() == unchanged


def test_registrations_and_deletions_are_published_without_a_secret(stack: Stack) -> None:
    body = registered(stack, WEB_APP)
    client_id, secret = body["client_id"], body["client_secret"]
    admin_call(stack, "PATCH", f"/admin/clients/{client_id}", {"name": "Billing v2"})
    renewed = admin_call(stack, "POST", f"/admin/clients/{client_id}/secret").json()
    assert admin_call(stack, "DELETE", f"/admin/clients/{client_id}").status == 204
    registered_event, deleted_event = client_events(stack)
    assert registered_event.detail_type == "ClientRegistered"
    assert registered_event.detail == {
        "event_id": registered_event.detail["event_id"],
        "client_id": client_id,
        "name": "Billing",
        "type": "confidential",
        "registered_at": body["created_at"],
    }
    assert deleted_event.detail_type == "ClientDeleted"
    assert set(deleted_event.detail) == {"event_id", "client_id", "name", "type", "deleted_at"}
    assert (deleted_event.detail["client_id"], deleted_event.detail["name"]) == (
        client_id,
        "Billing v2",
    )
    # No record the publisher reads holds a secret or a digest of one
    records = [
        record["dynamodb"]["NewImage"]
        for record in stream_records(stack)
        if record["dynamodb"].get("NewImage", {}).get("kind", {}).get("S") == "client_event"
    ]
    assert len(records) == 2
    assert {frozenset(image) for image in records} == {
        frozenset(
            {"pk", "sk", "kind", "event_type", "client_id", "name", "client_type", "at", "ttl"}
        )
    }
    for value in (secret, renewed["client_secret"]):
        assert value not in str(records)
        assert secret_digest(value) not in str(records)
