"""OAuth 2.0 and OpenID Connect as Authlib implements them, over the provider's domain
(domain/sso/provider.py) and its clients (domain/sso/clients.py).

Authlib parses and checks the protocol: the parameters of each request (missing,
repeated, unsupported), the client and its authentication (client_secret_basic,
client_secret_post, none), redirect URIs, PKCE (RFC 7636), `nonce` and `prompt` (OpenID
Connect Core), the refresh grant, token revocation (RFC 7009) and introspection (RFC 7662),
and the errors of each. What is ours: when a code is spent and a grant lives (the domain),
the tokens themselves, and the answer's HTTP shape."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from authlib.common.urls import add_params_to_uri
from authlib.oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import (
    AuthorizationCodeMixin,
    ClientMixin,
    OAuth2Payload,
    OAuth2Request,
)
from authlib.oauth2.rfc6749.errors import InvalidGrantError, InvalidRequestError
from authlib.oauth2.rfc6749.grants import AuthorizationCodeGrant, RefreshTokenGrant
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from authlib.oidc.core import OpenIDCode

from session_service.domain.errors import InvalidGrant
from session_service.domain.sso.clients import OAuthClient
from session_service.domain.sso.grant_tokens import new_code
from session_service.domain.sso.provider import (
    AppTokens,
    CentralSession,
    CodeRequest,
    SingleSignOn,
)
from session_service.domain.sso.records import AuthorizationCode
from session_service.edge.oauth2.metadata import CLIENT_AUTH_METHODS, SCOPES

AUTH_METHODS = CLIENT_AUTH_METHODS
NO_STORE = [("Content-Type", "application/json"), ("Cache-Control", "no-store")]


@dataclass(frozen=True, slots=True)
class OAuthAnswer:
    status: int
    body: str
    headers: list[tuple[str, str]]

    @property
    def location(self) -> str | None:
        return next((value for name, value in self.headers if name == "Location"), None)


class S256Required(CodeChallenge):  # type: ignore[misc]
    """PKCE for every client, confidential ones too, and S256 only (the contract):
    Authlib's own extension lets a request without a challenge through, and takes plain."""

    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("code_challenge (PKCE, S256) is required.")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("code_challenge_method must be S256.")
        super().validate_code_challenge(grant, redirect_uri)

    def validate_code_verifier(self, grant: Any, result: Any) -> None:
        if not grant.request.form.get("code_verifier"):
            raise InvalidRequestError("code_verifier (PKCE) is required.")
        super().validate_code_verifier(grant, result)


class Client(ClientMixin):  # type: ignore[misc]
    """A registered client as Authlib asks about it."""

    def __init__(self, client: OAuthClient) -> None:
        self.client = client
        self.client_id = client.client_id

    def get_client_id(self) -> str:
        return self.client.client_id

    def get_default_redirect_uri(self) -> str | None:
        # redirect_uri is required of every request: no default
        return None

    def get_allowed_scope(self, scope: str) -> str:
        return " ".join(s for s in (scope or "").split() if s in SCOPES)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return self.client.allows_redirect(redirect_uri)

    def check_client_secret(self, client_secret: str) -> bool:
        return self.client.verify_secret(client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if self.client.is_confidential:
            return method in ("client_secret_basic", "client_secret_post")
        return method == "none"

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in ("authorization_code", "refresh_token")


class Code(AuthorizationCodeMixin):  # type: ignore[misc]
    """A code found by the domain, as Authlib's checks (redirect URI, PKCE) read it."""

    def __init__(self, code: AuthorizationCode) -> None:
        self.record = code
        self.code_challenge = code.code_challenge
        self.code_challenge_method = "S256"

    def get_redirect_uri(self) -> str:
        return self.record.redirect_uri

    def get_scope(self) -> str:
        return self.record.scope

    def get_nonce(self) -> str | None:
        return self.record.nonce

    def get_auth_time(self) -> int:
        return self.record.auth_time // 1000


def token_body(tokens: AppTokens) -> dict[str, Any]:
    body: dict[str, Any] = {
        "access_token": tokens.access_token,
        "token_type": "Bearer",
        "expires_in": tokens.expires_in,
        "refresh_token": tokens.refresh_token,
        "scope": tokens.scope,
    }
    if tokens.id_token is not None:
        body["id_token"] = tokens.id_token
    return body


class Provider(AuthorizationServer):  # type: ignore[misc]
    """Authlib's authorization server over our domain. One per container."""

    def __init__(
        self,
        sso: SingleSignOn,
        find_client: Callable[[str], OAuthClient | None],
        issuer: Callable[[], str],
    ) -> None:
        super().__init__(scopes_supported=list(SCOPES))
        self.sso = sso
        self._find_client = find_client
        self.issuer = issuer
        provider = self

        class CodeGrant(AuthorizationCodeGrant):  # type: ignore[misc]
            TOKEN_ENDPOINT_AUTH_METHODS = list(AUTH_METHODS)

            def generate_authorization_code(self) -> str:
                return new_code()

            def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
                central: CentralSession = request.user
                data = request.payload.data
                provider.sso.issue_code(
                    central,
                    CodeRequest(
                        client_id=request.client.client_id,
                        redirect_uri=request.payload.redirect_uri,
                        scope=request.payload.scope or "openid",
                        nonce=data.get("nonce"),
                        code_challenge=data["code_challenge"],
                    ),
                    value=code,
                )

            def query_authorization_code(self, code: str, client: Client) -> Code | None:
                found = provider.sso.find_code(code, client.client_id)
                return None if found is None else Code(found)

            def delete_authorization_code(self, authorization_code: Code) -> None:
                """Spent in the exchange's own write (the domain's)."""

            def authenticate_user(self, authorization_code: Code) -> Code:
                return authorization_code

            def create_token_response(self) -> tuple[int, dict[str, Any], list[Any]]:
                code: Code = self.request.authorization_code
                try:
                    tokens = provider.sso.exchange(code.record)
                except InvalidGrant as refused:
                    raise InvalidGrantError(str(refused)) from None
                return 200, token_body(tokens), NO_STORE

        class RefreshGrant(RefreshTokenGrant):  # type: ignore[misc]
            TOKEN_ENDPOINT_AUTH_METHODS = list(AUTH_METHODS)
            INCLUDE_NEW_REFRESH_TOKEN = True

            def authenticate_refresh_token(self, refresh_token: str) -> PresentedToken:
                # Judged whole by the domain when the answer is made (create_token_response)
                return PresentedToken(refresh_token, self.request.client.client_id)

            def _validate_token_scope(self, token: PresentedToken) -> None:
                """A refresh keeps the grant's scope."""

            def create_token_response(self) -> tuple[int, dict[str, Any], list[Any]]:
                client_id = self.request.client.client_id
                try:
                    tokens = provider.sso.refresh(client_id, self.request.form["refresh_token"])
                except InvalidGrant as refused:
                    raise InvalidGrantError(str(refused)) from None
                return 200, token_body(tokens), NO_STORE

        class Revocation(RevocationEndpoint):  # type: ignore[misc]
            CLIENT_AUTH_METHODS = list(AUTH_METHODS)

            def query_token(self, token_string: str, token_type_hint: str | None) -> Any:
                return PresentedToken(token_string, None)

            def revoke_token(self, token: PresentedToken, request: OAuth2Request) -> None:
                provider.sso.revoke_refresh_token(request.client.client_id, token.value)

        class Introspection(IntrospectionEndpoint):  # type: ignore[misc]
            CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

            def authenticate_token(self, request: OAuth2Request, client: Client) -> Any:
                # The caller's own tokens only: the domain answers with the client's id
                self.check_params(request, client)
                return PresentedToken(request.form["token"], client.client_id)

            def query_token(self, token_string: str, token_type_hint: str | None) -> Any:
                return PresentedToken(token_string, None)

            def check_permission(
                self, token: PresentedToken, client: Client, request: OAuth2Request
            ) -> bool:
                return True

            def create_introspection_payload(self, token: PresentedToken) -> dict[str, Any]:
                return provider.sso.introspect(token.value, token.client_id)

        class NonceAndPrompt(OpenIDCode):  # type: ignore[misc]
            """OpenID Connect's checks of the authorization request (nonce, prompt); the
            ID token itself is the domain's."""

            def exists_nonce(self, nonce: str, request: OAuth2Request) -> bool:
                return False

            def process_token(self, grant: Any, response: Any) -> Any:
                return response

        self.register_grant(CodeGrant, [S256Required(required=True), NonceAndPrompt()])
        self.register_grant(RefreshGrant)
        self.register_endpoint(Revocation)
        self.register_endpoint(Introspection)

    # -- what Authlib leaves to the framework ---------------------------------------------------

    def create_oauth2_request(self, request: EventRequest) -> EventRequest:
        return request

    def query_client(self, client_id: str) -> Client | None:
        if not isinstance(client_id, str) or not client_id:
            return None
        found = self._find_client(client_id)
        return None if found is None else Client(found)

    def save_token(self, token: Any, request: Any) -> None:
        """Tokens are stored by the domain as they are made."""

    def handle_response(
        self, status: int, body: Any, headers: list[tuple[str, str]]
    ) -> OAuthAnswer:
        text = json.dumps(body) if isinstance(body, dict) else str(body or "")
        return OAuthAnswer(status, text, list(headers))

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        return None

    def with_issuer(self, answer: OAuthAnswer) -> OAuthAnswer:
        """RFC 9207: every redirect of the authorization endpoint, errors included, says
        who answers."""
        location = answer.location
        if location is None:
            return answer
        headers = [(n, v) for n, v in answer.headers if n != "Location"]
        headers.append(("Location", add_params_to_uri(location, [("iss", self.issuer())])))
        return OAuthAnswer(answer.status, answer.body, headers)


@dataclass(frozen=True, slots=True)
class PresentedToken:
    """A token as a client presented it; the domain judges it."""

    value: str
    client_id: str | None

    def check_client(self, client: Client) -> bool:
        return True

    def is_expired(self) -> bool:
        return False

    def is_revoked(self) -> bool:
        return False

    def get_scope(self) -> str:
        return ""


class FormPayload(OAuth2Payload):  # type: ignore[misc]
    """The parameters of a request: its query's and its form body's, every value kept so
    that Authlib can refuse a repeated one."""

    def __init__(self, query: str, form: str) -> None:
        self._datalist: defaultdict[str, list[str]] = defaultdict(list)
        for name, value in [*parse_qsl(query, True), *parse_qsl(form, True)]:
            self._datalist[name].append(value)
        self._data = {name: values[0] for name, values in self._datalist.items()}

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> defaultdict[str, list[str]]:
        return self._datalist


class EventRequest(OAuth2Request):  # type: ignore[misc]
    """Authlib's request from what API Gateway gave us (the query string as sent)."""

    def __init__(self, method: str, url: str, query: str, form: str, headers: Mapping[str, str]):
        # API Gateway gives header names in lower case; Authlib asks for "Authorization"
        named = {**{k.title(): v for k, v in headers.items()}, **headers}
        super().__init__(method, f"{url}?{query}" if query else url, None, named)
        self.payload = FormPayload(query, form)
        self._args = dict(parse_qsl(query, True))
        self._form = dict(parse_qsl(form, True))

    @property
    def args(self) -> dict[str, str]:
        return self._args

    @property
    def form(self) -> dict[str, str]:
        return self._form
