"""Builds single sign-on from the settings (as wiring.py builds the rest): the OAuth
clients' store and registry. Once per container, on first use; wiring.reset() forgets
them."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from session_service.config import get_settings

if TYPE_CHECKING:
    from session_service.adapters.client_store import DynamoClientStore
    from session_service.adapters.grant_store import DynamoGrantStore
    from session_service.domain.sso.backchannel import BackchannelLogout
    from session_service.domain.sso.clients import ClientRegistry
    from session_service.domain.sso.provider import SingleSignOn
    from session_service.domain.sso.sign_out import CentralSignOut
    from session_service.edge.oauth2.protocol import Provider


@functools.cache
def client_store() -> DynamoClientStore:
    from session_service.adapters.client_store import dynamo_client_store  # noqa: PLC0415

    return dynamo_client_store(get_settings().table_name)


@functools.cache
def client_registry() -> ClientRegistry:
    from session_service.domain.sso.clients import ClientRegistry  # noqa: PLC0415

    return ClientRegistry(client_store())


@functools.cache
def grant_store() -> DynamoGrantStore:
    from session_service.adapters.grant_store import DynamoGrantStore  # noqa: PLC0415

    return DynamoGrantStore(get_settings().table_name)


@functools.cache
def single_sign_on() -> SingleSignOn:
    from session_service import wiring  # noqa: PLC0415
    from session_service.adapters.store import dynamo_store  # noqa: PLC0415
    from session_service.domain.sessions.tokens import RefreshTokens  # noqa: PLC0415
    from session_service.domain.sso.grant_tokens import GrantTokens  # noqa: PLC0415
    from session_service.domain.sso.provider import SingleSignOn  # noqa: PLC0415

    return SingleSignOn(
        grant_store(),
        dynamo_store(get_settings().table_name),
        wiring.access_tokens(),
        RefreshTokens(wiring.mac_keys()),
        GrantTokens(wiring.mac_keys()),
        wiring.session_policy(get_settings()),
    )


@functools.cache
def provider() -> Provider:
    """Authlib's authorization server over the domain (edge/oauth2/protocol.py); imported
    by the /oauth2/ routes only, on first use."""
    from session_service import wiring  # noqa: PLC0415
    from session_service.edge.oauth2.protocol import Provider  # noqa: PLC0415

    return Provider(single_sign_on(), client_registry().find, wiring.token_issuer)


@functools.cache
def central_sign_out() -> CentralSignOut:
    from session_service import wiring  # noqa: PLC0415
    from session_service.domain.sso.sign_out import CentralSignOut  # noqa: PLC0415

    ending = wiring.session_ending()
    return CentralSignOut(wiring.access_tokens(), client_registry().find, ending.logout)


@functools.cache
def undelivered_logouts() -> Callable[[dict[str, Any], str], None]:
    """Parks a logout no app took in BackchannelLogoutDeadLetterQueue."""
    from session_service.adapters.aws import aws_client  # noqa: PLC0415
    from session_service.adapters.sqs import dead_letter_sender  # noqa: PLC0415

    return dead_letter_sender(aws_client("sqs"), get_settings().backchannel_dead_letter_queue_url)


@functools.cache
def backchannel_logout() -> BackchannelLogout:
    from session_service import wiring  # noqa: PLC0415
    from session_service.adapters.backchannel_http import HttpLogoutDelivery  # noqa: PLC0415
    from session_service.domain.sso.backchannel import BackchannelLogout  # noqa: PLC0415

    return BackchannelLogout(
        grant_store(),
        client_registry().find,
        wiring.access_tokens(),
        HttpLogoutDelivery(),
        deliver_to_loopback=get_settings().backchannel_loopback,
    )
