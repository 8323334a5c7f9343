"""Where a federated sign-in may send the browser back (domain/federation/return_urls.py):
a page of an allowed origin, or the service's own sign-in page (and the local run's demo
page); never another route of the service, wherever it is served, nor a URL with raw
characters, user information or a fragment."""

from __future__ import annotations

import pytest

from session_service.domain.errors import InvalidRequest
from session_service.domain.federation.return_urls import CheckedReturn, ReturnUrls

SERVICE = "https://auth.example.test"
APP = "https://app.example.test"


def urls(demo: bool = False) -> ReturnUrls:
    return ReturnUrls((APP, "http://localhost:3000"), lambda: SERVICE, demo=demo)


@pytest.mark.parametrize(
    ("return_to", "expected"),
    [
        (f"{APP}/signed-in?state=r1", CheckedReturn(f"{APP}/signed-in?state=r1")),
        ("HTTPS://APP.example.test/x", CheckedReturn("HTTPS://APP.example.test/x")),
        (
            f"{SERVICE}/signin?request=client_id%3Dx",
            CheckedReturn(f"{SERVICE}/signin?request=client_id%3Dx", "client_id=x"),
        ),
        (
            "/signin?request=client_id%3Dx",
            CheckedReturn(f"{SERVICE}/signin?request=client_id%3Dx", "client_id=x"),
        ),
    ],
)
def test_an_allowed_page_or_the_sign_in_page_is_returned_to(
    return_to: str, expected: CheckedReturn
) -> None:
    assert urls().check(return_to) == expected


@pytest.mark.parametrize(
    "return_to",
    [
        None,
        "",
        "https://evil.example/",
        "https://app.example.test.evil.example/",
        "https://app.example.test:443/",  # (not the allowed origin's exact form)
        "//evil.example/",
        "/\\evil.example/",
        "javascript:alert(1)",
        "ftp://app.example.test/",
        f"{APP}/page#already",
        f"{APP}/caf\u00e9",
        f"{APP}/\x00x",
        f"{APP}/a b",
        f"{APP}\\@evil.example/",
        "https://user@app.example.test/",
        f"{SERVICE}/oauth2/authorize?client_id=x&prompt=none",
        f"{SERVICE}/auth/federation/exchange",
        f"{SERVICE}/signin",  # (without the app's request)
        f"{SERVICE}/signin/",
        f"{SERVICE}/demo/",  # (the demo page: the local run's only)
        f"{SERVICE}/",
        # An allowed origin that serves the service too (a proxy, or the local run's
        # localhost beside 127.0.0.1): its routes are no frontend's pages either
        f"{APP}/oauth2/authorize?client_id=x",
        "http://localhost:3000/oauth2/logout?post_logout_redirect_uri=x",
        f"{APP}/auth/federation/exchange",
        "x" * 4097,
    ],
)
def test_anything_else_is_refused(return_to: str | None) -> None:
    with pytest.raises(InvalidRequest):
        urls().check(return_to)


def test_the_demo_page_is_returned_to_in_the_local_run_only() -> None:
    assert urls(demo=True).check(f"{SERVICE}/demo/?state=r") == CheckedReturn(
        f"{SERVICE}/demo/?state=r"
    )
    with pytest.raises(InvalidRequest):
        urls(demo=False).check(f"{SERVICE}/demo/?state=r")
