"""Builds single sign-on from the settings (as wiring.py builds the rest): the OAuth
clients' store and registry. Once per container, on first use; wiring.reset() forgets
them."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from session_service.config import get_settings

if TYPE_CHECKING:
    from session_service.adapters.client_store import DynamoClientStore
    from session_service.domain.sso.clients import ClientRegistry


@functools.cache
def client_store() -> DynamoClientStore:
    from session_service.adapters.client_store import dynamo_client_store  # noqa: PLC0415

    return dynamo_client_store(get_settings().table_name)


@functools.cache
def client_registry() -> ClientRegistry:
    from session_service.domain.sso.clients import ClientRegistry  # noqa: PLC0415

    return ClientRegistry(client_store())
