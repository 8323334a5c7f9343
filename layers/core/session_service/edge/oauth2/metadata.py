"""What discovery says of the OpenID Connect provider (contract v3, "Single sign-on";
OpenID Connect Discovery 1.0, RFC 8414, RFC 9207, Back-Channel Logout 1.0)."""

from __future__ import annotations

from typing import Any

SCOPES = ("openid", "profile", "email", "offline_access")
CLIENT_AUTH_METHODS = ("client_secret_basic", "client_secret_post", "none")
CLAIMS = (
    "iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "amr", "sid",
    "preferred_username", "email", "email_verified",
)  # fmt: skip


def provider_metadata(issuer: str) -> dict[str, Any]:
    return {
        "authorization_endpoint": f"{issuer}/oauth2/authorize",
        "token_endpoint": f"{issuer}/oauth2/token",
        "userinfo_endpoint": f"{issuer}/oauth2/userinfo",
        "introspection_endpoint": f"{issuer}/oauth2/introspect",
        "revocation_endpoint": f"{issuer}/oauth2/revoke",
        "end_session_endpoint": f"{issuer}/oauth2/logout",
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": list(CLIENT_AUTH_METHODS),
        "introspection_endpoint_auth_methods_supported": list(CLIENT_AUTH_METHODS[:2]),
        "revocation_endpoint_auth_methods_supported": list(CLIENT_AUTH_METHODS),
        "scopes_supported": list(SCOPES),
        "claims_supported": list(CLAIMS),
        "prompt_values_supported": ["none", "login"],
        "backchannel_logout_supported": True,
        "backchannel_logout_session_supported": True,
        "authorization_response_iss_parameter_supported": True,
    }
