"""RP-Initiated Logout 1.0: an app sends the browser to end the central session, and
with it every app's grant (they hang on it), then back to the app if it registered
where."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlencode

from session_service.domain.errors import InvalidRequest, InvalidToken
from session_service.domain.sessions.tokens import AccessTokens
from session_service.domain.sso.clients import OAuthClient
from session_service.domain.sso.provider import CentralSession


@dataclass(frozen=True, slots=True)
class SignOutRequest:
    id_token_hint: str | None
    post_logout_redirect_uri: str | None
    client_id: str | None
    state: str | None
    # The browser's own central session, from its cookie
    cookie_session: CentralSession | None
    # A POST of the service's own confirmation page: SameSite=Lax keeps the cookie off
    # another site's POST, so that only the user can end a session without a hint.
    confirmed: bool


@dataclass(frozen=True, slots=True)
class SignOutOutcome:
    # Where the browser goes next (the app's registered URI, with its state), if anywhere
    redirect_to: str | None
    # False: nothing proves who asked (no hint, not confirmed): the page asks the user
    signed_out: bool
    # The browser's cookie is cleared: its own central session ended (or it held none
    # live). A hint of another user's session (a link of another site) leaves it.
    clears_cookie: bool = False


class CentralSignOut:
    def __init__(
        self,
        access_tokens: AccessTokens,
        find_client: Callable[[str], OAuthClient | None],
        end_session: Callable[[str, str], None],
    ) -> None:
        self._access_tokens = access_tokens
        self._find_client = find_client
        self._end_session = end_session

    def sign_out(self, request: SignOutRequest) -> SignOutOutcome:
        session: tuple[str, str] | None = None
        client_id = request.client_id
        if request.id_token_hint:
            try:
                claims = self._access_tokens.verify_id_token_hint(request.id_token_hint)
            except InvalidToken:
                raise InvalidRequest("id_token_hint is not an ID token of this provider.") from None
            audience = claims["aud"]
            hinted = audience if isinstance(audience, str) else None
            if hinted is None or (client_id is not None and client_id != hinted):
                raise InvalidRequest("client_id does not match the ID token's audience.")
            client_id = hinted
            session = (str(claims["sub"]), str(claims["sid"]))
        elif request.confirmed and request.cookie_session is not None:
            session = (request.cookie_session.user_id, request.cookie_session.session_id)
        redirect_to = self._redirect(client_id, request)
        browser = request.cookie_session
        if session is None:
            return SignOutOutcome(None, signed_out=browser is None, clears_cookie=browser is None)
        self._end_session(*session)
        if (
            browser is not None
            and browser.user_id == session[0]
            and browser.session_id != session[1]
        ):
            # An older ID token of the same user: the browser's own central session ends
            # too, else the page would say signed out while it is not
            self._end_session(browser.user_id, browser.session_id)
        ours = browser is None or browser.user_id == session[0]
        return SignOutOutcome(redirect_to=redirect_to, signed_out=True, clears_cookie=ours)

    def _redirect(self, client_id: str | None, request: SignOutRequest) -> str | None:
        uri = request.post_logout_redirect_uri
        if uri is None:
            return None
        client = self._find_client(client_id) if client_id else None
        if client is None or not client.allows_post_logout_redirect(uri):
            raise InvalidRequest("post_logout_redirect_uri is not one the app registered.")
        if request.state is None:
            return uri
        return f"{uri}{'&' if '?' in uri else '?'}{urlencode({'state': request.state})}"
