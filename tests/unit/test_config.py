"""Settings: the contract's defaults, and a clear stop at cold start on a bad value."""

from __future__ import annotations

import pytest

from session_service.config import ConfigurationError, Settings

BASE = {"TABLE_NAME": "t", "SIGNING_KEY_SECRET_ID": "s", "TOKEN_ISSUER": "https://i.example"}


def test_defaults_are_the_contracts() -> None:
    settings = Settings.from_env(BASE)
    assert settings.access_token_ttl_seconds == 600
    assert settings.session_idle_timeout_seconds == 604_800
    assert settings.session_absolute_timeout_seconds == 2_592_000
    assert settings.max_sessions_per_user == 5
    assert settings.session_limit_policy == "evict_oldest"
    assert settings.refresh_reuse_grace_seconds == 0
    assert settings.session_max_refreshes is None
    assert settings.bind_session_to_ip is False
    assert settings.refresh_token_transport == "body"
    assert settings.allowed_origins == ()
    assert settings.jwt_algorithm == "RS256"


def test_values_are_read_and_typed() -> None:
    settings = Settings.from_env(
        {
            **BASE,
            "ACCESS_TOKEN_TTL_SECONDS": "5",
            "SESSION_MAX_REFRESHES": "12",
            "BIND_SESSION_TO_IP": "on",
            "ALLOWED_ORIGINS": "https://app.example, http://localhost:5173/",
            "JWT_ALGORITHM": "EdDSA",
            "REFRESH_REUSE_GRACE_SECONDS": "60",
        }
    )
    assert settings.access_token_ttl_seconds == 5
    assert settings.session_max_refreshes == 12
    assert settings.bind_session_to_ip is True
    assert settings.allowed_origins == ("https://app.example", "http://localhost:5173")
    assert settings.jwt_algorithm == "EdDSA"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("ACCESS_TOKEN_TTL_SECONDS", "0", "positive"),
        ("ACCESS_TOKEN_TTL_SECONDS", "ten", "whole number"),
        ("SESSION_IDLE_TIMEOUT_SECONDS", "-5", "whole number"),
        ("SESSION_IDLE_TIMEOUT_SECONDS", "1.5", "whole number"),
        ("MAX_SESSIONS_PER_USER", "51", "at most 50"),
        ("SESSION_LIMIT_POLICY", "random", "evict_oldest, reject"),
        ("REFRESH_REUSE_GRACE_SECONDS", "61", "between 0 and 60"),
        ("BIND_SESSION_TO_IP", "maybe", "on or off"),
        ("REFRESH_TOKEN_TRANSPORT", "header", "body, cookie, both"),
        ("ALLOWED_ORIGINS", "app.example.com", "origins like"),
        ("JWT_ALGORITHM", "HS256", "RS256, ES256, EdDSA"),
        ("TABLE_NAME", "", "TABLE_NAME must be set"),
        ("AUTHORIZER_ALLOW_LOG_PERCENT", "101", "between 0 and 100"),
        ("AUTHORIZER_CONSISTENT_READ", "maybe", "on or off"),
    ],
)
def test_invalid_values_stop_with_a_clear_message(name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        Settings.from_env({**BASE, name: value})


@pytest.mark.parametrize("transport", ["cookie", "both"])
def test_cookie_transport_needs_allowed_origins(transport: str) -> None:
    with pytest.raises(ConfigurationError, match="needs ALLOWED_ORIGINS"):
        Settings.from_env({**BASE, "REFRESH_TOKEN_TRANSPORT": transport})
    settings = Settings.from_env(
        {**BASE, "REFRESH_TOKEN_TRANSPORT": transport, "ALLOWED_ORIGINS": "https://app.example"}
    )
    assert settings.refresh_token_transport == transport
