"""Settings: the contract's defaults, and a clear stop at cold start on a bad value."""

from __future__ import annotations

import pytest

from session_service.config import ConfigurationError, Settings
from session_service.edge.principals import Principal

BASE = {"TABLE_NAME": "t", "SIGNING_KEY_SECRET_ID": "s", "TOKEN_ISSUER": "https://i.example"}


def test_defaults_are_the_contracts() -> None:
    settings = Settings.from_env(BASE)
    assert settings.access_token_ttl_seconds == 600
    assert settings.session_idle_timeout_seconds == 604_800
    assert settings.session_absolute_timeout_seconds == 2_592_000
    assert settings.max_sessions_per_user == 5
    assert settings.session_limit_policy == "evict_oldest"
    assert settings.refresh_reuse_grace_seconds == 10  # contract v3 (was 0)
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


def test_admin_principals_are_read_as_users_roles_and_sessions() -> None:
    # Given an allow-list of a user (with a path), a role and one session of another role
    listed = (
        "arn:aws:iam::123456789012:user/ops/alice, arn:aws:iam::123456789012:role/support,"
        "arn:aws-us-gov:sts::123456789012:assumed-role/oncall/bob@example.com"
    )
    # When the settings read it
    settings = Settings.from_env({**BASE, "ADMIN_PRINCIPALS": listed})
    # Then each is typed, its path dropped (an assumed-role ARN carries none)
    assert settings.admin_principals == (
        Principal("aws", "123456789012", "user", "alice"),
        Principal("aws", "123456789012", "role", "support"),
        Principal("aws-us-gov", "123456789012", "assumed-role", "oncall", "bob@example.com"),
    )
    assert Settings.from_env(BASE).admin_principals == ()


@pytest.mark.parametrize(
    "entry",
    [
        "*",
        "arn:aws:iam::123456789012:role/*",
        "arn:aws:iam::*:role/support",
        "arn:aws:iam::123456789012:root",
        "arn:aws:iam::123456789012:group/support",
        "arn:aws:sts::123456789012:federated-user/alice",
        "arn:aws:sts::123456789012:role/support",
        "arn:aws:iam::123456789012:assumed-role/support/alice",
        "arn:aws:iam::12345678901:user/alice",
        "support",
        "arn:aws:iam::123456789012:role/support alice",
    ],
)
def test_an_admin_principal_that_names_no_user_role_or_session_stops_the_cold_start(
    entry: str,
) -> None:
    listed = f"arn:aws:iam::123456789012:user/alice,{entry}"
    with pytest.raises(ConfigurationError) as stopped:
        Settings.from_env({**BASE, "ADMIN_PRINCIPALS": listed})
    message = str(stopped.value)
    assert message.startswith(f"ADMIN_PRINCIPALS: {entry!r} is not the ARN of an IAM user")
