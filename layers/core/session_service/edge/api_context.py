"""What the API's routers share: the rules a caller's token is held to, how the refresh
token travels, and the domain services the composition root builds, passed in (the edge
never imports the composition)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from session_service.domain.activity.activity_log import ActivityStore
    from session_service.domain.factors.passkeys import Passkeys
    from session_service.domain.factors.totp import SecondFactors
    from session_service.domain.federation.identities import Identities
    from session_service.domain.federation.sign_in import FederatedSignIn
    from session_service.domain.flows.email_flows import EmailFlows
    from session_service.domain.flows.passkey_sign_in import PasskeySignIn
    from session_service.domain.flows.password_flows import Accounts
    from session_service.domain.flows.second_step import SecondStep
    from session_service.domain.flows.step_up import StepUp
    from session_service.domain.keys.published_keys import PublishedKeySource
    from session_service.domain.sessions.lifecycle import SessionService
    from session_service.domain.sessions.session_ending import SessionEnding
    from session_service.edge.authorization import CallerRules
    from session_service.edge.transport import RefreshTransport


@dataclass(frozen=True, slots=True)
class ApiServices:
    """The domain's services, each built on first use by the composition root."""

    accounts: Callable[[], Accounts]
    second_step: Callable[[], SecondStep]
    step_up: Callable[[], StepUp]
    second_factors: Callable[[], SecondFactors]
    sessions: Callable[[], SessionService]
    session_ending: Callable[[], SessionEnding]
    activity: Callable[[], ActivityStore]
    published_keys: Callable[[], PublishedKeySource]
    token_issuer: Callable[[], str]
    passkeys: Callable[[], Passkeys]
    passkey_sign_in: Callable[[], PasskeySignIn]
    email: Callable[[], EmailFlows]
    federation: Callable[[], FederatedSignIn]
    identities: Callable[[], Identities]
    # The identity providers' buttons of the hosted sign-in page: (id, name) pairs.
    provider_buttons: Callable[[], list[tuple[str, str]]]


@dataclass(frozen=True, slots=True)
class ApiContext:
    rules: CallerRules
    refresh_transport: RefreshTransport
    services: ApiServices
    jwt_algorithm: str
