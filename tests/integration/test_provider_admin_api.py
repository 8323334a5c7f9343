"""Federation's identity providers through the admin API (IAM/SigV4 in front, the admin
function behind, on moto with its KMS): a provider registered without its secret in any
answer, the stored item holding only the secret sealed with the key the template makes
(bound to the provider's id), reads, deletion, each invalid field a 400 in the contract's
shape, a taken id and the limit 409, and callers who are not administrators 403."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from harness.recording import RUNNING
from harness.stack import Stack
from session_service import federation_wiring
from session_service.adapters.kms import KmsSealer
from session_service.adapters.provider_items import provider_from_item
from session_service.domain.errors import Unavailable
from session_service.domain.federation.records import MAX_PROVIDERS
from tests.helpers import admin_headers, assert_error
from tests.integration.client_admin import admin_call

PATH = "/admin/identity-providers"
SECRET = "GOCSPX-a-google-client-secret"
GOOGLE = {
    "provider_id": "google",
    "issuer": "https://accounts.google.com",
    "client_id": "1234567890-abc.apps.googleusercontent.com",
    "client_secret": SECRET,
    "name": "Google",
}
ENTRA = {
    "provider_id": "entra",
    "issuer": "https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0",
    "client_id": "00000000-0000-0000-0000-000000000001",
    "client_secret": "an~entra.secret",
    "scopes": ["openid", "email", "offline_access", "email"],
    "name": "Microsoft Entra ID",
}
VIEW = {"provider_id", "issuer", "client_id", "scopes", "name", "created_at"}


def registered(stack: Stack, body: dict[str, Any]) -> dict[str, Any]:
    answer = admin_call(stack, "POST", PATH, body)
    assert answer.status == 201, answer.json()
    return dict(answer.json())


def stored_items(stack: Stack) -> list[dict[str, Any]]:
    return [item for item in stack.items() if item["pk"]["S"] == "IDPS"]


def test_a_provider_is_registered_and_its_secret_is_in_no_answer(stack: Stack) -> None:
    answer = admin_call(stack, "POST", PATH, GOOGLE)
    assert answer.status == 201, answer.json()
    body = answer.json()
    assert set(body) == VIEW
    assert {key: body[key] for key in VIEW - {"created_at", "scopes"}} == {
        key: GOOGLE[key] for key in VIEW - {"created_at", "scopes"}
    }
    assert body["scopes"] == ["openid", "email", "profile"]
    one = admin_call(stack, "GET", f"{PATH}/google")
    assert (one.status, one.json()) == (200, body)
    entra = registered(stack, ENTRA)
    # the scopes as given, once each
    assert entra["scopes"] == ["openid", "email", "offline_access"]
    listed = admin_call(stack, "GET", PATH)
    assert listed.status == 200
    assert listed.json() == {"identity_providers": [entra, body]}
    for each in (answer, one, listed):
        assert SECRET.encode() not in each.raw.body
        assert b"sealed" not in each.raw.body


def test_the_table_holds_the_secret_sealed_for_its_provider_only(stack: Stack) -> None:
    registered(stack, GOOGLE)
    registered(stack, ENTRA)
    (google,) = [item for item in stored_items(stack) if item["sk"]["S"] == "IDP#google"]
    sealed = google["sealed_secret"]["B"]
    assert SECRET not in str(stack.items())
    assert SECRET.encode() not in sealed
    # It unseals to the secret where the API function unseals it (with its role: the
    # deployed-permission check holds this call against ApiFunction's kms:Decrypt)
    provider = provider_from_item(google)
    token = RUNNING.set("ApiFunction")
    try:
        assert federation_wiring.provider_registry().client_secret(provider) == SECRET
    finally:
        RUNNING.reset(token)
    # ...and for that provider only: moved to another one, it does not open
    sealer = federation_wiring.secret_sealer()
    with pytest.raises(Unavailable):
        sealer.unseal(sealed, "entra")
    # nor under another key
    kms = stack.clients("kms")
    other = kms.create_key()["KeyMetadata"]["KeyId"]
    with pytest.raises(Unavailable):
        KmsSealer(kms, other).unseal(sealed, "google")
    # and the count of providers is kept beside them
    assert sorted(item["sk"]["S"] for item in stored_items(stack)) == [
        "COUNT",
        "IDP#entra",
        "IDP#google",
    ]


def test_a_deleted_provider_is_gone(stack: Stack) -> None:
    kept = registered(stack, ENTRA)
    registered(stack, GOOGLE)
    deleted = admin_call(stack, "DELETE", f"{PATH}/google")
    assert (deleted.status, deleted.raw.body) == (204, b"")
    assert_error(admin_call(stack, "GET", f"{PATH}/google"), 404, "not_found")
    assert_error(admin_call(stack, "DELETE", f"{PATH}/google"), 404, "not_found")
    assert admin_call(stack, "GET", PATH).json() == {"identity_providers": [kept]}
    # Its id is free again
    assert registered(stack, GOOGLE)["provider_id"] == "google"


@pytest.mark.parametrize("method", ["GET", "DELETE"])
@pytest.mark.parametrize(
    "provider_id",
    ["okta", "Not-An-Id", "x" * 2000, "%2E%2E"],
    ids=["unknown", "upper", "long", "dots"],
)
def test_an_id_that_names_no_provider_is_not_found(
    stack: Stack, method: str, provider_id: str
) -> None:
    answer = admin_call(stack, method, f"{PATH}/{provider_id}")
    assert_error(answer, 404, "not_found")
    assert answer.json()["error_description"] == "No such identity provider."


def test_a_taken_id_and_the_limit_are_conflicts(stack: Stack) -> None:
    first = registered(stack, GOOGLE)
    again = admin_call(stack, "POST", PATH, {**GOOGLE, "name": "Google again"})
    assert_error(again, 409, "conflict")
    assert again.json()["error_description"] == (
        "provider_id: google is registered already (delete it first to register it anew)."
    )
    assert admin_call(stack, "GET", f"{PATH}/google").json() == first
    for index in range(MAX_PROVIDERS - 1):
        registered(stack, {**GOOGLE, "provider_id": f"p{index}"})
    beyond = admin_call(stack, "POST", PATH, {**GOOGLE, "provider_id": "one-too-many"})
    assert_error(beyond, 409, "conflict")
    assert beyond.json()["error_description"] == (
        "At most 20 identity providers can be registered: delete one first."
    )
    assert len(admin_call(stack, "GET", PATH).json()["identity_providers"]) == MAX_PROVIDERS


INVALID_REGISTRATIONS: dict[str, tuple[dict[str, Any], str]] = {
    "no provider_id": ({"provider_id": None}, "provider_id: Input should be a valid string"),
    "upper-case provider_id": (
        {"provider_id": "Google"},
        "provider_id: must be 1 to 32 characters of a-z, 0-9, _ and -, starting with a "
        "letter or digit.",
    ),
    "provider_id with a slash": (
        {"provider_id": "a/b"},
        "provider_id: must be 1 to 32 characters of a-z, 0-9, _ and -, starting with a "
        "letter or digit.",
    ),
    "provider_id starting with -": (
        {"provider_id": "-google"},
        "provider_id: must be 1 to 32 characters of a-z, 0-9, _ and -, starting with a "
        "letter or digit.",
    ),
    "long provider_id": (
        {"provider_id": "a" * 33},
        "provider_id: String should have at most 32 characters",
    ),
    "http issuer": (
        {"issuer": "http://accounts.google.com"},
        "issuer: must be an absolute https URL, exactly as the provider's discovery document "
        "states it (as https://accounts.google.com).",
    ),
    "loopback http issuer": (
        {"issuer": "http://127.0.0.1:9000"},
        "issuer: must be an absolute https URL, exactly as the provider's discovery document "
        "states it (as https://accounts.google.com).",
    ),
    "relative issuer": (
        {"issuer": "accounts.google.com"},
        "issuer: must be an absolute https URL, exactly as the provider's discovery document "
        "states it (as https://accounts.google.com).",
    ),
    "issuer with a query": (
        {"issuer": "https://idp.example.test/?tenant=1"},
        "issuer: has a query (?), which an issuer must not have.",
    ),
    "issuer with a fragment": (
        {"issuer": "https://idp.example.test/#x"},
        "issuer: has a fragment (#), which an issuer must not have.",
    ),
    "issuer with user information": (
        {"issuer": "https://user@idp.example.test"},
        "issuer: has user information (user@) before its host.",
    ),
    "issuer without a host": ({"issuer": "https:///path"}, "issuer: has no host."),
    "issuer with a space": (
        {"issuer": "https://idp.example.test/a b"},
        "issuer: must be a URL without spaces or control characters.",
    ),
    "empty client_id": ({"client_id": ""}, "client_id: String should have at least 1 character"),
    "client_id with a newline": (
        {"client_id": "abc\n"},
        "client_id: must be printable ASCII, without spaces at its start or end.",
    ),
    "long client_id": (
        {"client_id": "c" * 256},
        "client_id: String should have at most 255 characters",
    ),
    "no client_secret": (
        {"client_secret": None},
        "client_secret: Input should be a valid string",
    ),
    "long client_secret": (
        {"client_secret": "s" * 513},
        "client_secret: String should have at most 512 characters",
    ),
    "client_secret with a control character": (
        {"client_secret": "se\u0000cret"},
        "client_secret: must be printable ASCII, without spaces at its start or end.",
    ),
    "scopes without openid": (
        {"scopes": ["email", "profile"]},
        "scopes: must include openid (the provider's ID token needs it).",
    ),
    "scopes not a list": ({"scopes": "openid email"}, "scopes: Input should be a valid list"),
    "a scope with a space": (
        {"scopes": ["openid", "email profile"]},
        "scopes[1]: must be one scope token (1 to 200 printable characters, no space, quote "
        "or backslash).",
    ),
    "too many scopes": (
        {"scopes": ["openid", *(f"s{i}" for i in range(20))]},
        "scopes: List should have at most 20 items after validation, not 21",
    ),
    "empty scopes": (
        {"scopes": []},
        "scopes: List should have at least 1 item after validation, not 0",
    ),
    "no name": ({"name": None}, "name: Input should be a valid string"),
    "blank name": ({"name": "  "}, "name: must be 1 to 100 characters."),
    "long name": ({"name": "n" * 101}, "name: String should have at most 100 characters"),
    "control in name": ({"name": "Goo\u0007gle"}, "name: must be printable text."),
    "an unknown field": ({"tenant": "x"}, "tenant: Extra inputs are not permitted"),
}


def test_each_invalid_registration_is_a_400_naming_the_field(stack: Stack) -> None:
    # One stack for every case (provisioning one is most of a case's time): each refused
    # registration leaves it as it was, which the next case relies on and checks.
    for case, (fields, description) in sorted(INVALID_REGISTRATIONS.items()):
        answer = admin_call(stack, "POST", PATH, {**GOOGLE, **fields})
        assert answer.status == 400, case
        expected = {"error": "invalid_request", "error_description": description}
        assert answer.json() == expected, case
        assert admin_call(stack, "GET", PATH).json() == {"identity_providers": []}, case
        assert stored_items(stack) == [], case


def test_a_loopback_issuer_is_registered_only_where_the_local_run_allows_it(
    stack_with: Callable[..., Stack],
) -> None:
    stack = stack_with(FEDERATION_LOOPBACK="on")
    for issuer in ("http://127.0.0.1:9000", "http://localhost:9000/oidc"):
        provider_id = f"local{len(issuer)}"
        assert registered(stack, {**GOOGLE, "provider_id": provider_id, "issuer": issuer})
    # a port it needs, and loopback only
    for issuer, description in (
        ("http://127.0.0.1", "issuer: an http issuer on loopback needs its port."),
        (
            "http://idp.example.test:9000",
            "issuer: must be an absolute https (or http on 127.0.0.1 or localhost with a port) "
            "URL, exactly as the provider's discovery document states it (as "
            "https://accounts.google.com).",
        ),
    ):
        answer = admin_call(stack, "POST", PATH, {**GOOGLE, "issuer": issuer})
        assert_error(answer, 400, "invalid_request")
        assert answer.json()["error_description"] == description


ROUTES = [
    ("POST", PATH),
    ("GET", PATH),
    ("GET", f"{PATH}/google"),
    ("DELETE", f"{PATH}/google"),
]


def test_a_request_not_signed_by_an_administrator_is_forbidden(stack: Stack) -> None:
    kept = registered(stack, GOOGLE)
    for method, path in ROUTES:
        for signature in ("unsigned", "wrong-secret"):
            case = f"{signature} {method} {path}"
            wrong = admin_headers(method, path, "not-the-secret")
            headers = {} if signature == "unsigned" else wrong
            body = {**GOOGLE, "provider_id": "taken-over"} if method == "POST" else None
            answer = stack.http(method, path, body, headers=headers)
            assert (answer.status, answer.json()["error"]) == (403, "forbidden"), case
            # Nothing changed, nothing new
            assert admin_call(stack, "GET", PATH).json() == {"identity_providers": [kept]}, case
