"""A central session's app sign-ins at the domain's level, as the single sign-on store
suites drive them (test_sso_contract.py, test_sso_grant_cap.py): a user signed in, the
central session of the sign-in, a code request of an app, a code's exchange."""

from __future__ import annotations

from harness.domain import CLIENT, Services
from session_service.domain.errors import InvalidGrant
from session_service.domain.flows.password_flows import LoginRequest
from session_service.domain.sessions.session_records import IssuedTokens
from session_service.domain.sso.provider import AppTokens, CentralSession, CodeRequest, SingleSignOn

PASSWORD = "correct horse"
APP = "app-one"
OTHER_APP = "app-two"
REDIRECT = "https://app.example.test/callback"


def signed_in(services: Services) -> IssuedTokens:
    services.accounts.register("ada", PASSWORD, CLIENT.ip)
    return services.accounts.login(LoginRequest("ada", PASSWORD, CLIENT, central=True))


def central(sso: SingleSignOn, tokens: IssuedTokens) -> CentralSession:
    found = sso.central_session(tokens.refresh_token)
    assert found is not None
    return found


def request(client_id: str = APP, nonce: str | None = "n-0S6_WzA2Mj") -> CodeRequest:
    return CodeRequest(client_id, REDIRECT, "openid profile", nonce, "challenge")


def exchange(sso: SingleSignOn, code: str, client_id: str = APP) -> AppTokens:
    found = sso.find_code(code, client_id)
    if found is None:
        raise InvalidGrant("not a good code")
    return sso.exchange(found)
