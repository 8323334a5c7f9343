"""The ID token of an app's grant (OpenID Connect Core §2) and the user claims its scopes
release (§5.4)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from session_service.domain.models import UserProfile
from session_service.domain.sessions.tokens import AccessTokens
from session_service.domain.sso.records import Grant

ID_TOKEN_TYPE = "JWT"


def signed_id_token(
    tokens: AccessTokens,
    grant: Grant,
    profile: UserProfile,
    not_after: int,
    clock: Callable[[], float],
) -> str:
    now = int(clock())
    claims: dict[str, Any] = {
        "iss": tokens.issuer(),
        "sub": grant.user_id,
        "aud": grant.client_id,
        "iat": now,
        "exp": max(now + 1, min(now + tokens.ttl_seconds, not_after)),
        "auth_time": grant.auth_time // 1000,
        "amr": list(grant.amr),
        "sid": grant.session_id,
        **user_claims(profile, grant.scopes),
    }
    if grant.nonce is not None:
        claims["nonce"] = grant.nonce
    return tokens.sign(claims, ID_TOKEN_TYPE)


def user_claims(profile: UserProfile, scopes: frozenset[str]) -> dict[str, Any]:
    """The claims the scopes release (OpenID Connect Core §5.4)."""
    claims: dict[str, Any] = {}
    if "profile" in scopes:
        claims["preferred_username"] = profile.username
    if "email" in scopes and profile.email is not None:
        claims["email"] = profile.email
        claims["email_verified"] = True
    return claims
