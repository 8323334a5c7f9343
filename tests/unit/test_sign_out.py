"""RP-initiated logout's decisions (domain/sso/sign_out.py): which central sessions end,
for which hint and which browser; the ID token's own checks are test_oauth2_*'s."""

from __future__ import annotations

from typing import Any, cast

import pytest

from session_service.domain.errors import InvalidRequest
from session_service.domain.sessions.tokens import AccessTokens
from session_service.domain.sso.provider import CentralSession
from session_service.domain.sso.sign_out import CentralSignOut, SignOutRequest


class Hints:
    """ID tokens by their text: the claims verify_id_token_hint would give."""

    def verify_id_token_hint(self, token: str) -> dict[str, Any]:
        user, session = token.split(":")
        return {"sub": user, "sid": session, "aud": "app"}


def central(user: str, session: str) -> CentralSession:
    return CentralSession(user, session, 0, ("pwd",), 10**15, user)


def signed_out(
    hint: str | None, browser: CentralSession | None, confirmed: bool = False
) -> list[tuple[str, str]]:
    ended: list[tuple[str, str]] = []
    sign_out = CentralSignOut(
        cast(AccessTokens, Hints()), lambda _: None, lambda u, s: ended.append((u, s))
    )
    sign_out.sign_out(SignOutRequest(hint, None, None, None, browser, confirmed))
    return ended


def test_the_hinted_session_ends_once_when_it_is_the_browsers() -> None:
    assert signed_out("ada:s1", central("ada", "s1")) == [("ada", "s1")]


def test_an_older_hint_of_the_same_user_ends_the_browsers_session_too() -> None:
    assert signed_out("ada:s1", central("ada", "s2")) == [("ada", "s1"), ("ada", "s2")]


def test_a_hint_of_another_user_leaves_the_browsers_session() -> None:
    assert signed_out("eve:s9", central("ada", "s2")) == [("eve", "s9")]


def test_without_a_hint_only_a_confirmed_request_ends_the_browsers_session() -> None:
    assert signed_out(None, central("ada", "s2")) == []
    assert signed_out(None, central("ada", "s2"), confirmed=True) == [("ada", "s2")]


def clears_cookie(
    hint: str | None, browser: CentralSession | None, confirmed: bool = False
) -> bool:
    sign_out = CentralSignOut(cast(AccessTokens, Hints()), lambda _: None, lambda u, s: None)
    request = SignOutRequest(hint, None, None, None, browser, confirmed)
    return sign_out.sign_out(request).clears_cookie


def test_the_cookie_is_cleared_only_when_the_browsers_own_central_session_ends() -> None:
    # Its own session, or an older one of the same user (which ends the browser's too)
    assert clears_cookie("ada:s1", central("ada", "s1")) is True
    assert clears_cookie("ada:s1", central("ada", "s2")) is True
    assert clears_cookie(None, central("ada", "s2"), confirmed=True) is True
    # No live central session in the browser: whatever it holds is cleared
    assert clears_cookie("eve:s9", None) is True
    assert clears_cookie(None, None) is True
    # Another user's hint (another site's link): the browser's session and cookie stay
    assert clears_cookie("eve:s9", central("ada", "s2")) is False
    # Not confirmed, no hint: the page asks, nothing changes
    assert clears_cookie(None, central("ada", "s2")) is False


def test_a_redirect_the_app_did_not_register_is_refused() -> None:
    sign_out = CentralSignOut(cast(AccessTokens, Hints()), lambda _: None, lambda u, s: None)
    request = SignOutRequest("ada:s1", "https://evil.example/", None, None, None, False)
    with pytest.raises(InvalidRequest):
        sign_out.sign_out(request)
