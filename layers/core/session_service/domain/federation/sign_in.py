"""Signing in through an upstream provider (contract v3, federation): the start sends
the browser to the provider with state, nonce and PKCE and binds the flow to the browser
by a cookie; the callback checks that binding and spends the flow (of replayed callbacks
one goes on), has the provider's ID token checked (UpstreamOidc), finds or makes the
account of the identity, and ends in a session (cookie mode), a handoff (body mode), a
central session (the hosted sign-in page) or a linked identity (linking).

An account is never found by an address: only `(provider_id, sub)` names it (a matching
e-mail makes a new account: pre-account takeover, docs/federation.md). An account with a
second factor still proves it: the provider's sign-in buys an mfa_token, whose amr is
`fed`."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import secrets
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

from session_service.domain.errors import (
    InvalidGrant,
    InvalidRequest,
    MfaRequired,
    ServiceError,
)
from session_service.domain.federation.flow_records import (
    FLOW_SECONDS,
    HANDOFF_SECONDS,
    LINK_SECONDS,
    FederationFlow,
    FederationStore,
    Handoff,
    LinkIntent,
)
from session_service.domain.federation.identities import Identities
from session_service.domain.federation.records import (
    AuthorizationRequest,
    CodeExchange,
    IdentityProvider,
    UpstreamOidc,
    UpstreamRefused,
)
from session_service.domain.federation.return_urls import ReturnUrls
from session_service.domain.models import ClientInfo, Credential, b64url
from session_service.domain.ports import SecretSpend, SessionStore
from session_service.domain.sessions.session_records import IssuedTokens, StartRequest

if TYPE_CHECKING:
    from session_service.domain.factors.totp import SecondFactors
    from session_service.domain.federation.providers import ProviderRegistry
    from session_service.domain.flows.password_flows import Accounts

FEDERATED_AMR = ("fed",)
SPENT = "The sign-in link is unknown, expired or already used: start again."
ANOTHER_BROWSER = "The sign-in was not started in this browser: start again."


def digest(secret: str) -> str:
    return b64url(hashlib.sha256(secret.encode()).digest())


def code_verifier(binding: str, state: str) -> str:
    """PKCE's verifier (RFC 7636: 43 characters of base64url), derived and never stored:
    only the browser holding the binding can finish its flows."""
    return b64url(hmac.new(binding.encode(), state.encode(), hashlib.sha256).digest())


@dataclasses.dataclass(frozen=True, slots=True)
class StartedFlow:
    authorization_url: str
    # The browser's binding: its cookie's value (kept when the browser has one already, so
    # flows in two tabs both finish).
    binding: str


@dataclasses.dataclass(frozen=True, slots=True)
class CallbackRequest:
    provider_id: str
    params: dict[str, str]
    # The binding cookie the browser presented, if any.
    binding: str | None
    client: ClientInfo
    # Body mode: the callback leaves a handoff rather than a session.
    handoff: bool
    # The browser's sessions, which a sign-in replaces: its refresh cookie (cookie mode),
    # and the hosted sign-in page's central cookie.
    refresh_cookie: str | None = None
    central_cookie: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class CallbackOutcome:
    """Where the browser goes next, and with what. Exactly one of the results is set, or
    `error` when the flow failed after its state was checked."""

    return_to: str
    sign_in_request: str | None = None
    issued: IssuedTokens | None = None
    handoff: str | None = None
    linked_identity_id: str | None = None
    error: ServiceError | None = None


class FederatedSignIn:
    def __init__(
        self,
        store: FederationStore,
        sessions_store: SessionStore,
        providers: Callable[[], ProviderRegistry],
        upstream: UpstreamOidc,
        identities: Identities,
        accounts: Callable[[], Accounts],
        second_factors: Callable[[], SecondFactors],
        return_urls: ReturnUrls,
        base_url: Callable[[], str],
        now: Callable[[], int],
    ) -> None:
        self._store = store
        self._sessions_store = sessions_store
        self._providers = providers
        self._upstream = upstream
        self._identities = identities
        self._accounts = accounts
        self._second_factors = second_factors
        self._return_urls = return_urls
        self._base_url = base_url
        self._now = now

    def redirect_uri(self, provider_id: str) -> str:
        return f"{self._base_url()}/auth/federation/{provider_id}/callback"

    def start(
        self, provider_id: str, return_to: str | None, binding: str | None, link: str | None = None
    ) -> StartedFlow:
        """The provider's authorization URL for a new flow. `link`: the secret of a link
        URL (POST .../link), which names the account and the return address itself."""
        provider = self._providers().get(provider_id)
        link_user_id = None
        if link is not None:
            intent = self._store.take_link_intent(digest(link)) if link else None
            if intent is None or intent.provider_id != provider_id or self._expired(intent):
                raise InvalidRequest(SPENT)
            link_user_id, return_to = intent.user_id, intent.return_to
        checked = self._return_urls.check(return_to)
        binding = binding if binding and len(binding) == 43 else secrets.token_urlsafe(32)
        state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        verifier = code_verifier(binding, state)
        now = self._now()
        self._store.put_flow(
            FederationFlow(
                digest=digest(state),
                provider_id=provider.provider_id,
                binding_digest=digest(binding),
                nonce=nonce,
                return_to=checked.url,
                created_at=now,
                expires_at=now + FLOW_SECONDS * 1000,
                link_user_id=link_user_id,
                sign_in_request=checked.sign_in_request,
            )
        )
        challenge = b64url(hashlib.sha256(verifier.encode()).digest())
        request = AuthorizationRequest(self.redirect_uri(provider_id), state, nonce, challenge)
        return StartedFlow(self._upstream.authorization_url(provider, request), binding)

    def link_to_confirm(self, provider_id: str, link: str) -> tuple[str, str]:
        """The provider's name and the account's username a link URL would link to: its
        page asks before the flow starts (nothing is spent here)."""
        provider = self._providers().get(provider_id)
        intent = self._store.find_link_intent(digest(link)) if link else None
        if intent is None or intent.provider_id != provider_id or self._expired(intent):
            raise InvalidRequest(SPENT)
        profile = self._sessions_store.find_profile(intent.user_id)
        if profile is None:
            raise InvalidRequest(SPENT)
        return provider.name, profile.username

    def link_url(self, user_id: str, provider_id: str, return_to: str | None) -> str:
        """A URL of the service that starts linking in the browser that opens it (single
        use, LINK_SECONDS): the signed-in owner's own request, made with a recent session."""
        provider = self._providers().get(provider_id)
        checked = self._return_urls.check(return_to)
        if checked.sign_in_request is not None:
            raise InvalidRequest("A link returns to the app's own page, not the sign-in page.")
        secret = secrets.token_urlsafe(32)
        now = self._now()
        self._store.put_link_intent(
            LinkIntent(
                digest=digest(secret),
                provider_id=provider.provider_id,
                user_id=user_id,
                return_to=checked.url,
                expires_at=now + LINK_SECONDS * 1000,
            )
        )
        return f"{self._base_url()}/auth/federation/{provider_id}/start?link={secret}"

    def callback(self, request: CallbackRequest) -> CallbackOutcome:
        """The browser back from the provider. A missing, forged, replayed or expired
        state, or another browser's, is InvalidRequest (400, no redirect: nothing says
        where to). Past that check every failure is the outcome's `error`."""
        flow = self._checked_flow(request)
        outcome = CallbackOutcome(flow.return_to, sign_in_request=flow.sign_in_request)
        try:
            return self._complete(request, flow, outcome)
        except ServiceError as failed:
            return dataclasses.replace(outcome, error=failed)

    def _checked_flow(self, request: CallbackRequest) -> FederationFlow:
        state = request.params.get("state", "")
        if not state or len(state) > 128:
            raise InvalidRequest("The provider's answer carries no state.")
        flow = self._store.find_flow(digest(state))
        if flow is None or flow.provider_id != request.provider_id or self._expired(flow):
            raise InvalidRequest(SPENT)
        binding = request.binding or ""
        if not hmac.compare_digest(digest(binding), flow.binding_digest):
            raise InvalidRequest(ANOTHER_BROWSER)
        # Spent before the provider is asked: of replayed callbacks one goes on (the code
        # is single use at the provider too, so a retry could never finish).
        if not self._store.spend_flow(flow.digest, str(uuid.uuid4())):
            raise InvalidRequest(SPENT)
        return flow

    def _complete(
        self, request: CallbackRequest, flow: FederationFlow, outcome: CallbackOutcome
    ) -> CallbackOutcome:
        params = request.params
        if "error" in params:
            said = "".join(c for c in params["error"][:64] if c.isalnum() or c == "_")
            raise UpstreamRefused(f"The identity provider answered {said or 'an error'}.")
        code = params.get("code", "")
        if not code or len(code) > 2048:
            raise UpstreamRefused("The identity provider's answer carries no code.")
        provider = self._providers().get(flow.provider_id)
        verifier = code_verifier(request.binding or "", params["state"])
        exchange = CodeExchange(code, self.redirect_uri(provider.provider_id), verifier, flow.nonce)
        secret = self._providers().client_secret(provider)
        identity = self._upstream.sign_in(provider, secret, exchange)
        if flow.link_user_id is not None:
            linked = self._identities.link(flow.link_user_id, provider, identity)
            return dataclasses.replace(outcome, linked_identity_id=linked.identity_id)
        credential = self._identities.account_of(provider, identity, request.client)
        if request.handoff and flow.sign_in_request is None:
            handoff = self._hand_off(credential, provider, identity.subject)
            return dataclasses.replace(outcome, handoff=handoff)
        central = flow.sign_in_request is not None
        replaces = request.central_cookie if central else request.refresh_cookie
        issued = self._sign_in(credential, provider, request.client, replaces, None, central)
        return dataclasses.replace(outcome, issued=issued)

    def _hand_off(self, credential: Credential, provider: IdentityProvider, subject: str) -> str:
        secret = secrets.token_urlsafe(32)
        now = self._now()
        self._store.put_handoff(
            Handoff(
                digest=digest(secret),
                user_id=credential.user_id,
                username_key=credential.username_key,
                provider_id=provider.provider_id,
                created_at=now,
                expires_at=now + HANDOFF_SECONDS * 1000,
                subject=subject,
            )
        )
        return secret

    def exchange(self, handoff: object, client: ClientInfo) -> IssuedTokens:
        """Body mode: the handoff for a session (or an mfa_token). The session is written
        with the handoff spent: of concurrent exchanges of one handoff, one lands."""
        if not isinstance(handoff, str) or len(handoff) != 43:
            raise InvalidGrant(SPENT)
        found = self._store.find_handoff(digest(handoff))
        if found is None or self._expired(found):
            raise InvalidGrant(SPENT)
        credential = self._sessions_store.find_credential(found.username_key)
        if credential is None or credential.user_id != found.user_id or credential.disabled:
            raise InvalidGrant(SPENT)
        provider = self._providers().get(found.provider_id)
        # Unlinked meanwhile (its owner no longer trusts it): its handoff buys nothing.
        linked = self._store.find_identity(found.provider_id, found.subject)
        if linked is None or linked.user_id != found.user_id or linked.issuer != provider.issuer:
            raise InvalidGrant(SPENT)
        return self._sign_in(credential, provider, client, None, found.digest)

    def _sign_in(
        self,
        credential: Credential,
        provider: IdentityProvider,
        client: ClientInfo,
        replaces: str | None,
        handoff_digest: str | None,
        central: bool = False,
    ) -> IssuedTokens:
        if credential.disabled:
            raise InvalidGrant("The account is disabled.")
        if credential.has_second_factor:
            # The challenge first: a handoff is never spent without the mfa_token it buys.
            token = self._second_factors().open_challenge(
                credential, None, FEDERATED_AMR, provider.provider_id
            )
            if handoff_digest is not None and not self._store.spend_handoff(handoff_digest):
                raise InvalidGrant(SPENT)
            raise MfaRequired(token, credential.factors)
        start = StartRequest(
            credential.user_id,
            client,
            credential=credential,
            amr=FEDERATED_AMR,
            spends=SecretSpend(handoff_digest=handoff_digest) if handoff_digest else None,
            central=central,
            provider=provider.provider_id,
        )
        accounts = self._accounts()
        issued = accounts.renewal.start_or_renew(start, replaces if central else None)
        return accounts.signed_in(issued, credential, replaces, None)

    def _expired(self, record: FederationFlow | Handoff | LinkIntent) -> bool:
        return self._now() >= record.expires_at
