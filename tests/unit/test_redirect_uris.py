"""The URIs a client may register (contract v3, "Single sign-on"; docs/sso.md, "Clients"):
absolute https, plain http on loopback only (RFC 8252 §7.3, §8.3), no fragment, no user
information, no wildcard, ASCII only, bounded; each refusal says what is wrong."""

from __future__ import annotations

import pytest

from session_service.domain.sso.clients import MAX_URI_LENGTH, redirect_uri_problem

ACCEPTED = [
    "https://app.example/callback",
    "https://app.example",
    "https://app.example:8443/callback?tenant=7&x=%2F",
    "https://192.0.2.10/callback",
    "https://[2001:db8::1]/callback",
    # Loopback, any port (RFC 8252 §7.3: a native app's listener; §8.3: localhost)
    "http://localhost:8080/cb",
    "http://127.0.0.1:1234/cb",
    "http://127.0.0.1/cb",
    "http://localhost/cb",
    # The IPv6 loopback literal §7.3 names beside 127.0.0.1: accepted (docs/sso.md)
    "http://[::1]/cb",
    "http://[::1]:49152/cb",
    # A host name is case-insensitive: still loopback
    "http://LocalHost:3000/cb",
    "https://app.example/" + "a" * (MAX_URI_LENGTH - len("https://app.example/")),
]


@pytest.mark.parametrize("uri", ACCEPTED)
def test_absolute_https_and_loopback_http_are_accepted(uri: str) -> None:
    assert redirect_uri_problem(uri) is None


NOT_ABSOLUTE = "is not absolute: it needs a scheme and a host, as https://app.example/callback"
NOT_LOOPBACK = (
    "uses http on a host that is not loopback: use https (http is allowed only on "
    "127.0.0.1, [::1] and localhost)"
)
WILDCARD = "has a wildcard (*): URIs match exactly, so list each one"


def scheme(name: str) -> str:
    return f"has the scheme {name}: only https is allowed (http on loopback only)"


def character(code_point: str) -> str:
    return f"holds {code_point}, which a URI cannot: percent-encode it"


REFUSED = {
    "javascript:alert(1)": scheme("javascript"),
    "JavaScript:alert(1)": scheme("javascript"),
    "data:text/html,<script>alert(1)</script>": character("U+003C"),
    "data:text/html,hello": scheme("data"),
    "ftp://app.example/cb": scheme("ftp"),
    "http://evil.example": NOT_LOOPBACK,
    "http://evil.example/cb": NOT_LOOPBACK,
    # Loopback-looking names that are not loopback
    "http://127.0.0.1.evil.example/cb": NOT_LOOPBACK,
    "http://localhost.evil.example/cb": NOT_LOOPBACK,
    "http://127.0.0.2/cb": NOT_LOOPBACK,
    "http://[::2]/cb": NOT_LOOPBACK,
    "https://app.example/cb#frag": "has a fragment (#), which the URI must not have",
    "https://app.example/cb#": "has a fragment (#), which the URI must not have",
    "https://user@app.example/cb": "has user information (user@) before its host",
    "https://app.example@evil.example/cb": "has user information (user@) before its host",
    "http://localhost@evil.example/cb": "has user information (user@) before its host",
    "/callback": NOT_ABSOLUTE,
    "callback": NOT_ABSOLUTE,
    "//app.example/cb": NOT_ABSOLUTE,
    "https:app.example/cb": NOT_ABSOLUTE,
    "*": WILDCARD,
    "https://*.app.example/cb": WILDCARD,
    "https://app.example/*": WILDCARD,
    "": "is empty",
    "https://app.example/" + "a" * MAX_URI_LENGTH: f"is longer than {MAX_URI_LENGTH} characters",
    "https://app.example/c b": character("U+0020"),
    "https://app.example/cb\n": character("U+000A"),
    "https://app.example\\@evil.example/": character("U+005C"),
    "https://app.example/caf\u00e9": character("U+00E9"),
    "https://app.example/%zz": "has a % not followed by two hex digits",
    "https:///cb": "has no valid host",
    "https://[::1/cb": "has no valid host",
    "https://999.1.1.1/cb": "has no valid host",
    "https://app_example/cb": "has no valid host",
    "https://app.example:0/cb": "has an invalid port",
    "https://app.example:65536/cb": "has an invalid port",
    "https://app.example:/cb": "has an invalid port",
}


@pytest.mark.parametrize("uri", sorted(REFUSED), ids=lambda uri: repr(uri[:60]))
def test_a_hostile_or_ambiguous_uri_is_refused_with_what_is_wrong(uri: str) -> None:
    assert redirect_uri_problem(uri) == REFUSED[uri]
