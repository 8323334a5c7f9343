"""The provider's small HTML answers (sign-in, sign-out), under the hosted page's policy:
no inline script or style (the sign-in's one script is this origin's file); every value
escaped."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from aws_lambda_powertools.event_handler import Response

from session_service.domain.federation.return_urls import MAX_RETURN_LENGTH
from session_service.edge.page_headers import SSO_PAGE_HEADERS, SSO_SIGN_IN_HEADERS

if TYPE_CHECKING:
    from aws_lambda_powertools.shared.cookies import Cookie

# What the confirmation carries on to the POST that ends the session.
KEPT = ("post_logout_redirect_uri", "client_id", "state")


def _page(title: str, body: str, script: str = "") -> str:
    loads = f'<script src="/signin/assets/{script}" defer></script>' if script else ""
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<link rel="stylesheet" href="/signin/assets/signin.css">{loads}'
        f"<title>{escape(title)}</title>"
        f"</head><body><main><h1>{escape(title)}</h1>{body}</main></body></html>"
    )


def _html(
    status: int,
    text: str,
    cookies: list[Cookie] | None = None,
    headers: Mapping[str, str] = SSO_PAGE_HEADERS,
) -> Response[str]:
    return Response(
        status_code=status,
        content_type="text/html; charset=utf-8",
        body=text,
        headers=dict(headers),
        cookies=cookies or [],
    )


def confirm_sign_out(params: Mapping[str, str]) -> Response[str]:
    """No ID token says which app asks: the user confirms (a POST of this page)."""
    hidden = "".join(
        f'<input type="hidden" name="{name}" value="{escape(params[name])}">'
        for name in KEPT
        if name in params
    )
    form = (
        '<p>Sign out of every app that uses this sign-in?</p><form method="post" '
        f'action="/oauth2/logout">{hidden}<button type="submit">Sign out</button></form>'
    )
    return _html(200, _page("Sign out", form))


def confirm_link(
    provider_id: str, provider_name: str, username: str, link: str, cookies: list[Cookie]
) -> Response[str]:
    """Linking an identity asks first, naming the account: a link URL someone else made
    (for their own account) must not link this browser's identity silently (link CSRF).
    The form posts to this origin only, where the flow then starts."""
    form = (
        f"<p>Link your {escape(provider_name)} account to the account "
        f"<strong>{escape(username)}</strong>? Signing in with {escape(provider_name)} will "
        "then sign in to that account. If you did not ask for this, close this page.</p>"
        f'<form method="post" action="/auth/federation/{escape(provider_id)}/start">'
        f'<input type="hidden" name="link" value="{escape(link)}">'
        f'<button type="submit">Link {escape(provider_name)}</button></form>'
    )
    return _html(200, _page("Link an identity", form), cookies, headers=SSO_SIGN_IN_HEADERS)


def signed_out(cleared: list[Cookie]) -> Response[str]:
    return _html(200, _page("Signed out", "<p>You are signed out of every app.</p>"), cleared)


def sign_in_form(
    request: str,
    message: str | None = None,
    status: int = 200,
    mfa_token: str | None = None,
    providers: Sequence[tuple[str, str]] = (),
) -> Response[str]:
    """The central sign-in (no script needed): username and password, or, when the account
    has a second factor, its code. `request` is the app's authorization request, where the
    browser returns once signed in."""
    notice = f'<p role="alert">{escape(message)}</p>' if message else ""
    carried = f'<input type="hidden" name="request" value="{escape(request)}">'
    if mfa_token is None:
        fields = (
            '<label for="username">Username</label>'
            '<input id="username" name="username" autocomplete="username" required>'
            '<label for="password">Password</label>'
            '<input id="password" name="password" type="password" '
            'autocomplete="current-password" required>'
            '<button type="submit">Sign in</button>'
        )
    else:
        fields = (
            f'<input type="hidden" name="mfa_token" value="{escape(mfa_token)}">'
            '<label for="code">Code from your authenticator app, or a recovery code</label>'
            '<input id="code" name="code" autocomplete="one-time-code" required>'
            '<button type="submit">Continue</button>'
        )
        restart = (
            f'<p><a href="/signin?{escape(urlencode({"request": request}))}">Start again</a></p>'
        )
        fields += restart
    form = f'{notice}<form method="post" action="/signin">{carried}{fields}</form>'
    others = _provider_links(request, providers) if mfa_token is None else ""
    page = _page("Sign in", form + _passkey_form(request) + others, script="passkey.js")
    return _html(status, page, headers=SSO_SIGN_IN_HEADERS)


def _provider_links(request: str, providers: Sequence[tuple[str, str]]) -> str:
    """A link per identity provider (federation): its sign-in comes back to this page's
    request (docs/federation.md). Plain links: no script needed."""
    if not providers or not request:
        return ""
    back = f"/signin?{urlencode({'request': request})}"
    if len(back) > MAX_RETURN_LENGTH - 64:
        return ""  # (the app's request too long to come back to: the password form alone)
    links = "".join(
        f'<li><a class="provider" href="/auth/federation/{escape(provider_id)}/start?'
        f'{escape(urlencode({"return_to": back}))}">Sign in with {escape(name)}</a></li>'
        for provider_id, name in providers
    )
    return f'<nav aria-label="Other ways to sign in"><ul>{links}</ul></nav>'


def _passkey_form(request: str) -> str:
    """The passkey button (edge/oauth2/passkey_sign_in_routes.py): hidden until its script
    (hosted/passkey.js) shows it, so that a browser without script sees the password form
    alone. The script fills in the ceremony and the assertion, then posts the form."""
    return (
        '<form id="passkey" method="post" action="/signin/passkey" hidden>'
        f'<input type="hidden" name="request" value="{escape(request)}">'
        '<input type="hidden" name="ceremony_id"><input type="hidden" name="credential">'
        '<p>or</p><button type="button">Sign in with a passkey</button>'
        '<p id="passkey-message" role="status"></p></form>'
    )
