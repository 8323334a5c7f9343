"""The OAuth clients of single sign-on: the team's apps, registered through the admin API
(contract v3, "Single sign-on"). A client has an id, a name, a type (`confidential`: it
holds a secret; `public`: a browser or native app, which cannot), the exact URIs the
service may send a browser back to, and the URI it may POST back-channel logout tokens to.

Ids are UUIDs, as the service's other ids. A secret is 256 random bits, shown once when it
is made and stored only as its SHA-256 digest: so much entropy needs no slow hash (no
guessing can walk it), and a plain digest is checked in one step on every token request."""

from __future__ import annotations

import builtins
import dataclasses
import hashlib
import hmac
import secrets
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypedDict

from session_service.domain.errors import Conflict, InvalidRequest, NotFound, Unavailable
from session_service.domain.models import (
    MAX_NAME_LENGTH,
    ClientEvent,
    ClientEventType,
    ClientType,
    Millis,
    b64url,
    display_name,
    is_issued_id,
)
from session_service.domain.ports import AlreadyExists, StaleWrite
from session_service.domain.sso.redirect_uris import MAX_URI_LENGTH, redirect_uri_problem

__all__ = [
    "CLIENT_TYPES",
    "MAX_NAME_LENGTH",
    "MAX_URIS",
    "MAX_URI_LENGTH",
    "ClientRegistry",
    "ClientStore",
    "OAuthClient",
    "is_client_id",
    "redirect_uri_problem",
    "secret_digest",
]

CLIENT_TYPES: tuple[ClientType, ...] = ("confidential", "public")
# Per list (redirect_uris, post_logout_redirect_uris): an app has a handful of them.
MAX_URIS = 20
# The fields PATCH may change (the type may be sent, unchanged: a client's type is fixed).
CHANGEABLE = ("name", "redirect_uris", "post_logout_redirect_uris", "backchannel_logout_uri")
# Writes read again after a concurrent change before answering 503.
MAX_ATTEMPTS = 8


def is_client_id(value: str) -> bool:
    """Whether a client id someone sends can be one of ours (anything else names no client,
    and is never sent to the store, whose keys have limits)."""
    return is_issued_id(value)


def new_client_secret() -> str:
    return b64url(secrets.token_bytes(32))


def secret_digest(secret: str) -> str:
    """The stored form of a client secret (high-entropy, so a plain SHA-256 is enough)."""
    return b64url(hashlib.sha256(secret.encode()).digest())


@dataclass(frozen=True, slots=True)
class OAuthClient:
    client_id: str
    name: str
    client_type: ClientType
    redirect_uris: tuple[str, ...]
    post_logout_redirect_uris: tuple[str, ...]
    backchannel_logout_uri: str | None
    # None for a public client, which has no secret.
    secret_digest: str | None
    created_at: Millis
    # Moves on with every change: a write lands only on the version it read.
    updated_at: Millis

    @property
    def is_confidential(self) -> bool:
        return self.client_type == "confidential"

    def allows_redirect(self, uri: str) -> bool:
        """An exact, registered redirect URI (RFC 9700 §4.1.3: no pattern, no
        normalisation, so nothing but what was registered ever receives a code)."""
        return uri in self.redirect_uris

    def allows_post_logout_redirect(self, uri: str) -> bool:
        return uri in self.post_logout_redirect_uris

    def verify_secret(self, secret: str) -> bool:
        """Whether this is the client's current secret, compared in constant time. A public
        client has none: nothing verifies."""
        if self.secret_digest is None:
            return False
        try:
            presented = secret_digest(secret)
        except UnicodeEncodeError:
            return False  # a lone surrogate is nobody's secret
        return hmac.compare_digest(presented, self.secret_digest)


def client_event(client: OAuthClient, event_type: ClientEventType, now: Millis) -> ClientEvent:
    return ClientEvent(
        str(uuid.uuid4()), event_type, client.client_id, client.name, client.client_type, now
    )


class ClientStore(Protocol):
    """Where clients are kept (adapters/client_store.py; harness/memory_clients.py)."""

    def put_client(self, client: OAuthClient, event: ClientEvent) -> None:
        """Write a new client with its ClientRegistered record; AlreadyExists when the id
        is taken."""
        ...

    def find_client(self, client_id: str) -> OAuthClient | None:
        """The client as last written (a consistent read)."""
        ...

    def list_clients(self) -> list[OAuthClient]: ...

    def replace_client(self, client: OAuthClient, expected_updated_at: Millis) -> None:
        """Write the client over the version read; StaleWrite when it is gone or changed
        since (its updated_at is no longer `expected_updated_at`)."""
        ...

    def delete_client(self, client_id: str, event: ClientEvent) -> None:
        """Delete the client with its ClientDeleted record; StaleWrite when it is gone."""
        ...


class ClientRegistry:
    """The admin API's clients: register, read, change, delete, and give a new secret.
    Invalid input is 400 invalid_request, an unknown client 404 not_found."""

    def __init__(self, store: ClientStore, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._clock = clock

    def _now(self) -> Millis:
        return int(self._clock() * 1000)

    def register(
        self,
        name: str,
        redirect_uris: Sequence[str],
        post_logout_redirect_uris: Sequence[str] = (),
        backchannel_logout_uri: str | None = None,
        client_type: str = "confidential",
    ) -> tuple[OAuthClient, str | None]:
        """A new client, and its secret (None for a public client): shown this once."""
        if client_type not in CLIENT_TYPES:
            raise InvalidRequest("type: must be confidential or public.")
        kind: ClientType = "confidential" if client_type == "confidential" else "public"
        secret = new_client_secret() if kind == "confidential" else None
        now = self._now()
        settings = _checked(
            name=name,
            redirect_uris=redirect_uris,
            post_logout_redirect_uris=post_logout_redirect_uris,
            backchannel_logout_uri=backchannel_logout_uri,
        )
        for _ in range(MAX_ATTEMPTS):
            client = OAuthClient(
                client_id=str(uuid.uuid4()),
                name=settings["name"],
                client_type=kind,
                redirect_uris=settings["redirect_uris"],
                post_logout_redirect_uris=settings["post_logout_redirect_uris"],
                backchannel_logout_uri=settings["backchannel_logout_uri"],
                secret_digest=secret_digest(secret) if secret is not None else None,
                created_at=now,
                updated_at=now,
            )
            try:
                self._store.put_client(client, client_event(client, "ClientRegistered", now))
            except AlreadyExists:
                continue  # an id taken (never, in practice): another one
            return client, secret
        raise Unavailable(retry_after=1)

    def find(self, client_id: str) -> OAuthClient | None:
        """The client, or None (for the OAuth endpoints, which answer invalid_client)."""
        if not is_client_id(client_id):
            return None
        return self._store.find_client(client_id)

    def get(self, client_id: str) -> OAuthClient:
        client = self.find(client_id)
        if client is None:
            raise NotFound("No such client.")
        return client

    def list(self) -> builtins.list[OAuthClient]:
        """Every client, oldest first."""
        clients = self._store.list_clients()
        return sorted(clients, key=lambda client: (client.created_at, client.client_id))

    def update(self, client_id: str, **changes: object) -> OAuthClient:
        """Change what is given (PATCH): `name`, `redirect_uris`,
        `post_logout_redirect_uris`, `backchannel_logout_uri` (None removes it). The type
        cannot change, and the secret stays."""
        unknown = sorted(set(changes) - {*CHANGEABLE, "client_type"})
        if unknown:
            raise InvalidRequest(f"{unknown[0]}: cannot be changed.")
        settings = _checked(**{field: changes[field] for field in CHANGEABLE if field in changes})
        for _ in range(MAX_ATTEMPTS):
            current = self.get(client_id)
            if changes.get("client_type", current.client_type) != current.client_type:
                raise InvalidRequest("type: a client's type cannot change; register a new client.")
            changed = dataclasses.replace(current, **settings)
            if changed == current:
                return current  # nothing to write
            written = self._replaced(current, changed)
            if written is not None:
                return written
        raise Unavailable(retry_after=1)

    def new_secret(self, client_id: str) -> str:
        """A new secret for a confidential client, shown this once; the old one stops
        verifying as soon as this returns. A public client has none: 409 conflict."""
        for _ in range(MAX_ATTEMPTS):
            current = self.get(client_id)
            if not current.is_confidential:
                raise Conflict("A public client has no secret.")
            secret = new_client_secret()
            changed = dataclasses.replace(current, secret_digest=secret_digest(secret))
            if self._replaced(current, changed) is not None:
                return secret
        raise Unavailable(retry_after=1)

    def delete(self, client_id: str) -> None:
        """The client is gone at once: its redirect URIs and secret work no more."""
        for _ in range(MAX_ATTEMPTS):
            current = self.get(client_id)
            try:
                event = client_event(current, "ClientDeleted", self._now())
                self._store.delete_client(client_id, event)
            except StaleWrite:
                continue  # deleted meanwhile (the next read says so), or a write racing
            return
        raise Unavailable(retry_after=1)

    def _replaced(self, current: OAuthClient, changed: OAuthClient) -> OAuthClient | None:
        """Write `changed` over `current`: the client written, or None when someone changed
        or deleted it first (read again)."""
        # A later version than the one read, even within the same millisecond.
        updated = dataclasses.replace(changed, updated_at=max(self._now(), current.updated_at + 1))
        try:
            self._store.replace_client(updated, current.updated_at)
        except StaleWrite:
            return None
        return updated


class _Settings(TypedDict, total=False):
    """What an administrator sets on a client, checked."""

    name: str
    redirect_uris: tuple[str, ...]
    post_logout_redirect_uris: tuple[str, ...]
    backchannel_logout_uri: str | None


def _checked(**fields: object) -> _Settings:
    """The fields given, each checked and in the form a client holds it; a field's problem
    is 400 invalid_request naming it (by the API's name)."""
    checked: _Settings = {}
    if "name" in fields:
        checked["name"] = display_name(fields["name"])
    if "redirect_uris" in fields:
        checked["redirect_uris"] = _uris("redirect_uris", fields["redirect_uris"], at_least=True)
    if "post_logout_redirect_uris" in fields:
        value = fields["post_logout_redirect_uris"]
        checked["post_logout_redirect_uris"] = _uris("post_logout_redirect_uris", value)
    if "backchannel_logout_uri" in fields:
        value = fields["backchannel_logout_uri"]
        checked["backchannel_logout_uri"] = (
            None if value is None else _uri("backchannel_logout_uri", value)
        )
    return checked


def _uris(field: str, value: object, at_least: bool = False) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise InvalidRequest(f"{field}: must be a list of URIs.")
    if at_least and not value:
        raise InvalidRequest(f"{field}: must name at least one URI.")
    if len(value) > MAX_URIS:
        raise InvalidRequest(f"{field}: at most {MAX_URIS} URIs.")
    uris = tuple(_uri(f"{field}[{index}]", uri) for index, uri in enumerate(value))
    # The same URI twice means it once.
    return tuple(dict.fromkeys(uris))


def _uri(field: str, value: object) -> str:
    if not isinstance(value, str):
        raise InvalidRequest(f"{field}: must be a string.")
    problem = redirect_uri_problem(value)
    if problem is not None:
        raise InvalidRequest(f"{field}: {problem}.")
    return value
