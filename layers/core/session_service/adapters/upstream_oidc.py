"""The service as a relying party of upstream OpenID Connect providers (UpstreamOidc):
discovery, the authorization URL, the code exchange and the ID token's checks.

Every call goes through bounded_http within a total budget (a provider that does not
answer in time is Unavailable, never a Lambda held to its timeout); discovery is cached
per issuer for an hour and the JWKS per jwks_uri for ten minutes, in the container. The
ID token's signature, alg, iss, aud and required claims are PyJWT's (jwt.decode over a
jwt.PyJWK of the provider's JWKS); azp, nonce, exp, iat and nbf are checked here against
the injectable clock (PyJWT reads the system's)."""

from __future__ import annotations

import base64
import hmac
import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn
from urllib.parse import quote_plus, urlencode

import jwt

from session_service.adapters.bounded_http import (
    MAX_BYTES,
    AnswerTooLarge,
    BoundedHttp,
    Http,
    HttpFailed,
    PlainHttp,
    Response,
    uri_allowed,
)
from session_service.domain.errors import ServiceError, Unavailable
from session_service.domain.federation.records import (
    AuthorizationRequest,
    CodeExchange,
    IdentityProvider,
    UpstreamIdentity,
    UpstreamRefused,
)
from session_service.observability import logger

# Time budgets, in all: discovery alone (the start route), and a whole sign-in (discovery,
# the token endpoint, the JWKS) - far below the Lambda's and API Gateway's 29 s.
DISCOVERY_SECONDS = 3.0
SIGN_IN_SECONDS = 5.0
DISCOVERY_TTL = 3600.0
JWKS_TTL = 600.0
# An unknown kid refetches the JWKS (a key rotation) at most this often: a stream of
# forged kids must not make the service fetch the provider's JWKS on each.
JWKS_REFETCH_SECONDS = 30.0
LEEWAY = 60
RETRY_AFTER = 5
# Signature algorithms an ID token may use: asymmetric only (never none, never HS*, whose
# "key" would be the client secret or, confused, a public key).
ASYMMETRIC = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
MAX_SUBJECT, MAX_EMAIL, MAX_NAME = 255, 254, 256
# A token endpoint's `error` is repeated only when it has the shape of an OAuth error code.
_ERROR_CODE = re.compile(r"[a-z_]{1,64}")


@dataclass(frozen=True, slots=True)
class Discovery:
    """What the relying party takes from a provider's discovery document."""

    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    # id_token_signing_alg_values_supported within ASYMMETRIC, in the provider's order
    algorithms: tuple[str, ...]
    # client_secret_basic, unless the provider lists only client_secret_post
    basic_auth: bool


@dataclass(frozen=True, slots=True)
class _Keys:
    by_kid: dict[str, dict[str, Any]]
    fetched_at: float


class UpstreamRelyingParty:
    def __init__(
        self,
        allow_loopback_http: bool = False,
        clock: Callable[[], float] = time.time,
        http: Http | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._plain_http: PlainHttp = "loopback" if allow_loopback_http else "never"
        self._http: Http = http or BoundedHttp(allow_loopback_http)
        self._clock = clock
        # The caches' time (injectable so tests can age them); budgets use time.monotonic
        self._monotonic = monotonic
        self._discovery: dict[str, tuple[Discovery, float]] = {}
        self._jwks: dict[str, _Keys] = {}

    def authorization_url(self, provider: IdentityProvider, request: AuthorizationRequest) -> str:
        found = self.discover(provider, time.monotonic() + DISCOVERY_SECONDS)
        query = urlencode(
            {
                "response_type": "code",
                "client_id": provider.client_id,
                "redirect_uri": request.redirect_uri,
                "scope": " ".join(provider.scopes),
                "state": request.state,
                "nonce": request.nonce,
                "code_challenge": request.code_challenge,
                "code_challenge_method": "S256",
            }
        )
        # The endpoint may carry a query of its own (RFC 6749 §3.1: it is kept)
        joiner = "&" if "?" in found.authorization_endpoint else "?"
        return found.authorization_endpoint + joiner + query

    def sign_in(
        self, provider: IdentityProvider, client_secret: str, exchange: CodeExchange
    ) -> UpstreamIdentity:
        deadline = time.monotonic() + SIGN_IN_SECONDS
        try:
            found = self.discover(provider, deadline)
            id_token = self._exchange(found, provider, client_secret, exchange, deadline)
            return self._identity(found, provider, id_token, exchange.nonce, deadline)
        except ServiceError as failed:
            # The description names the check, never a token, code or secret
            logger.warning(
                "upstream sign-in failed",
                extra={"provider_id": provider.provider_id, "reason": failed.description},
            )
            raise

    def discover(self, provider: IdentityProvider, deadline: float) -> Discovery:
        """The provider's discovery document's endpoints, from the cache or fetched."""
        cached = self._discovery.get(provider.issuer)
        if cached is not None and self._monotonic() < cached[1]:
            return cached[0]
        if not uri_allowed(provider.issuer, self._plain_http):
            _refuse("The provider's issuer is not an https URL.")
        # OIDC Discovery §4: a trailing / of the issuer is removed before the path is added
        uri = provider.issuer.rstrip("/") + "/.well-known/openid-configuration"
        document = _json_object(
            self._call("discovery", lambda left: self._http.get(uri, left), deadline),
            "discovery",
        )
        # §4.3: the document is the issuer's only if it says so, exactly
        if document.get("issuer") != provider.issuer:
            _refuse("The provider's discovery names another issuer.")
        endpoints = {name: document.get(name) for name in _ENDPOINTS}
        for name, value in endpoints.items():
            if not isinstance(value, str) or not uri_allowed(value, self._plain_http):
                _refuse(f"The provider's discovery has no https {name}.")
        listed = document.get("id_token_signing_alg_values_supported")
        algorithms = tuple(a for a in _strings(listed) if a in ASYMMETRIC)
        if not algorithms:
            _refuse("The provider's discovery lists no asymmetric ID token algorithm.")
        methods = _strings(document.get("token_endpoint_auth_methods_supported"))
        found = Discovery(
            authorization_endpoint=str(endpoints["authorization_endpoint"]),
            token_endpoint=str(endpoints["token_endpoint"]),
            jwks_uri=str(endpoints["jwks_uri"]),
            algorithms=algorithms,
            basic_auth="client_secret_basic" in methods or "client_secret_post" not in methods,
        )
        self._discovery[provider.issuer] = (found, self._monotonic() + DISCOVERY_TTL)
        return found

    def _exchange(
        self,
        found: Discovery,
        provider: IdentityProvider,
        client_secret: str,
        exchange: CodeExchange,
        deadline: float,
    ) -> str:
        """The code and verifier traded at the token endpoint for the ID token."""
        fields = {
            "grant_type": "authorization_code",
            "code": exchange.code,
            "redirect_uri": exchange.redirect_uri,
            "code_verifier": exchange.code_verifier,
        }
        headers: dict[str, str] = {}
        if found.basic_auth:
            # RFC 6749 §2.3.1: each form-urlencoded before they are joined and encoded
            pair = f"{quote_plus(provider.client_id)}:{quote_plus(client_secret)}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        else:
            fields |= {"client_id": provider.client_id, "client_secret": client_secret}
        answer = self._call(
            "token endpoint",
            lambda left: self._http.post_form(found.token_endpoint, fields, left, headers),
            deadline,
            any_status=True,
        )
        if answer.status != 200:
            error = _error_code(answer.body)
            _refuse(
                f"The provider's token endpoint answered {answer.status}"
                + (f" ({error})." if error else ".")
            )
        id_token = _json_object(answer, "token endpoint").get("id_token")
        if not isinstance(id_token, str) or not id_token:
            _refuse("The provider's token endpoint answered no ID token.")
        return id_token

    def _identity(
        self,
        found: Discovery,
        provider: IdentityProvider,
        id_token: str,
        nonce: str,
        deadline: float,
    ) -> UpstreamIdentity:
        """The ID token's claims, once every check passed."""
        try:
            header = jwt.get_unverified_header(id_token)
        except jwt.PyJWTError:
            _refuse("The ID token is not a signed JWT.")
        alg, kid = header.get("alg"), header.get("kid")
        # Chosen before any key is touched: the provider's own list, asymmetric only
        if alg not in found.algorithms:
            _refuse(f"The ID token's alg is not one the provider signs with ({_shown(alg)}).")
        if not isinstance(kid, str):
            _refuse("The ID token names no key (kid).")
        key = self._key(found, kid, str(alg), deadline)
        claims = _decode(id_token, key, found.algorithms, provider)
        _check_claims(claims, provider.client_id, nonce, self._clock())
        email, name = claims.get("email"), claims.get("name")
        return UpstreamIdentity(
            subject=claims["sub"],
            email=email if isinstance(email, str) and 0 < len(email) <= MAX_EMAIL else None,
            email_verified=claims.get("email_verified") is True,
            name=name if isinstance(name, str) and 0 < len(name) <= MAX_NAME else None,
        )

    def _key(self, found: Discovery, kid: str, alg: str, deadline: float) -> jwt.PyJWK:
        """The JWKS's key named `kid`, for `alg`: from the cache, fetched when the cache is
        older than JWKS_TTL, or refetched (a rotation) once per JWKS_REFETCH_SECONDS."""
        keys = self._jwks.get(found.jwks_uri)
        if keys is None or self._monotonic() - keys.fetched_at >= JWKS_TTL:
            keys = self._fetch_jwks(found.jwks_uri, deadline)
        if kid not in keys.by_kid and self._monotonic() - keys.fetched_at >= JWKS_REFETCH_SECONDS:
            keys = self._fetch_jwks(found.jwks_uri, deadline)
        jwk = keys.by_kid.get(kid)
        if jwk is None:
            _refuse("The ID token's kid names no key of the provider's JWKS.")
        if jwk.get("alg", alg) != alg:
            _refuse("The ID token's alg is not its key's.")
        try:
            # The header's alg, checked above against the provider's list, picks the
            # algorithm (a JWK without "alg" would be taken as RS256 or ES256 otherwise)
            return jwt.PyJWK(jwk, algorithm=alg)
        except jwt.PyJWTError:
            _refuse("The ID token's key in the provider's JWKS does not fit its alg.")

    def _fetch_jwks(self, uri: str, deadline: float) -> _Keys:
        document = _json_object(
            self._call("JWKS", lambda left: self._http.get(uri, left), deadline), "JWKS"
        )
        listed = document.get("keys")
        if not isinstance(listed, list):
            _refuse("The provider's JWKS has no keys.")
        by_kid = {
            key["kid"]: key
            for key in listed
            # Signing keys only: an encryption key never verifies an ID token
            if isinstance(key, dict)
            and isinstance(key.get("kid"), str)
            and key.get("use", "sig") == "sig"
        }
        keys = _Keys(by_kid, self._monotonic())
        self._jwks[uri] = keys
        return keys

    def _call(
        self,
        what: str,
        request: Callable[[float], Response],
        deadline: float,
        any_status: bool = False,
    ) -> Response:
        """One request within the time left of the budget; no answer in time, or a 5xx
        (or 429), is Unavailable: the provider, not the user, failed. Another status than
        200 is refused, unless the caller reads it (`any_status`)."""
        left = deadline - time.monotonic()
        if left <= 0:
            raise Unavailable(RETRY_AFTER, f"The provider's {what} was not reached in time.")
        try:
            answer = request(left)
        except HttpFailed as failed:
            raise Unavailable(
                RETRY_AFTER, f"The provider's {what} did not answer ({failed.reason})."
            ) from None
        except AnswerTooLarge:
            _refuse(f"The provider's {what} answered more than {MAX_BYTES // 1024} KiB.")
        except ValueError:
            _refuse(f"The provider's {what} is not at an https URL.")
        if answer.status >= 500 or answer.status == 429:
            raise Unavailable(RETRY_AFTER, f"The provider's {what} answered {answer.status}.")
        if not any_status and answer.status != 200:
            _refuse(f"The provider's {what} answered {answer.status}.")
        return answer


_ENDPOINTS = ("authorization_endpoint", "token_endpoint", "jwks_uri")


def _decode(
    id_token: str, key: jwt.PyJWK, algorithms: tuple[str, ...], provider: IdentityProvider
) -> dict[str, Any]:
    """PyJWT's checks: the signature (by `key`, with one of `algorithms`), iss, aud, and
    the claims a sign-in needs being there. The times are _check_claims's."""
    try:
        return jwt.decode(
            id_token,
            key,
            algorithms=list(algorithms),
            audience=provider.client_id,
            issuer=provider.issuer,
            options={
                "require": ["iss", "aud", "sub", "exp", "iat"],
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
            },
        )
    except jwt.InvalidSignatureError:
        _refuse("The ID token's signature does not verify with the provider's key.")
    except jwt.InvalidAudienceError:
        _refuse("The ID token's aud does not name this client.")
    except jwt.InvalidIssuerError:
        _refuse("The ID token's iss is not the provider's issuer.")
    except jwt.MissingRequiredClaimError as failed:
        _refuse(f"The ID token has no {failed.claim} claim.")
    except jwt.PyJWTError as failed:
        _refuse(f"The ID token is invalid ({type(failed).__name__}).")


def _check_claims(claims: Mapping[str, Any], client_id: str, nonce: str, now: float) -> None:
    """OIDC Core §3.1.3.7's checks PyJWT does not make, or makes against its own clock."""
    audience = claims["aud"]
    if isinstance(audience, list) and len(audience) > 1 and "azp" not in claims:
        _refuse("The ID token has several audiences and no azp.")
    if "azp" in claims and claims["azp"] != client_id:
        _refuse("The ID token's azp is not this client.")
    sent = claims.get("nonce")
    if not isinstance(sent, str) or not hmac.compare_digest(sent.encode(), nonce.encode()):
        _refuse("The ID token's nonce is not the one this sign-in sent.")
    exp, iat, nbf = claims["exp"], claims["iat"], claims.get("nbf", now)
    if any(isinstance(v, bool) or not isinstance(v, int | float) for v in (exp, iat, nbf)):
        _refuse("The ID token's exp, iat or nbf is not a number.")
    if exp <= now - LEEWAY:
        _refuse("The ID token has expired (exp).")
    if iat > now + LEEWAY:
        _refuse("The ID token was issued in the future (iat).")
    if nbf > now + LEEWAY:
        _refuse("The ID token is not valid yet (nbf).")
    subject = claims["sub"]
    if not isinstance(subject, str) or not 0 < len(subject) <= MAX_SUBJECT:
        _refuse(f"The ID token's sub is not a string of 1 to {MAX_SUBJECT} characters.")


def _json_object(answer: Response, what: str) -> dict[str, Any]:
    try:
        document = json.loads(answer.body)
    except (ValueError, RecursionError):  # RecursionError: nesting deeper than the parser's
        document = None
    if not isinstance(document, dict):
        _refuse(f"The provider's {what} answered no JSON object.")
    return document


def _error_code(body: bytes) -> str | None:
    """An error answer's OAuth `error` (invalid_grant), when it has that shape: never its
    description, which may repeat what was sent."""
    try:
        error = json.loads(body).get("error")
    except (ValueError, RecursionError, AttributeError):
        return None
    return error if isinstance(error, str) and _ERROR_CODE.fullmatch(error) else None


def _strings(value: object) -> list[str]:
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []


def _shown(value: object) -> str:
    """A header value fit to repeat in a description: short and plain, else '?'."""
    return value if isinstance(value, str) and re.fullmatch(r"[A-Za-z0-9]{1,10}", value) else "?"


def _refuse(description: str) -> NoReturn:
    raise UpstreamRefused(description)
