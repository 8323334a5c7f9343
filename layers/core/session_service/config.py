"""Settings: one frozen, typed object read once from the environment, failing fast."""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, get_args
from urllib.parse import urlsplit

from session_service.domain.models import JwtAlgorithm
from session_service.edge.principals import Principal, allow_list

LimitPolicy = Literal["evict_oldest", "reject"]
RefreshTransport = Literal["body", "cookie", "both"]
MfaPolicy = Literal["optional", "required"]

MAX_GRACE_SECONDS = 60
# Evictions and the new session share one DynamoDB transaction (at most 100 items).
MAX_SESSION_LIMIT = 50


class ConfigurationError(ValueError):
    """An environment value is missing or invalid; raised at cold start."""


@dataclass(frozen=True, slots=True)
class EmailSettings:
    """E-mail (contract v3): off until `sender` (an SES verified identity) is set."""

    sender: str = ""
    # Where e-mailed links point; empty: the service's hosted page (`<issuer>/signin`).
    link_url: str = ""
    sign_in: bool = False
    password_reset_ttl_seconds: int = 900
    code_ttl_seconds: int = 600
    per_address: int = 5
    per_ip: int = 50
    # An SES configuration set (bounces and complaints), if the deployment made one.
    configuration_set: str = ""

    @property
    def enabled(self) -> bool:
        return bool(self.sender)


@dataclass(frozen=True, slots=True)
class Settings:
    table_name: str
    signing_key_secret_id: str
    token_audience: str
    # Exactly one of these two names the issuer: the value itself, or an SSM parameter
    # holding it (the deployed API's URL cannot be an environment value of its own
    # functions without a CloudFormation dependency cycle).
    token_issuer: str | None = None
    token_issuer_parameter: str | None = None
    # The SSM parameter the rotation publishes the public keys in (key_rotation); the
    # authorizer verifies with it alone, with SIGNING_KEY_SECRET_ID empty.
    verification_keys_parameter: str = ""
    # The KMS key (id or ARN) that signs that parameter's document (key_documents): only
    # what it signed is used.
    verification_keys_signing_key: str = ""
    event_bus_name: str = ""
    event_source: str = "session-service"
    jwt_algorithm: JwtAlgorithm = "RS256"
    access_token_ttl_seconds: int = 600
    session_idle_timeout_seconds: int = 604_800
    session_absolute_timeout_seconds: int = 2_592_000
    # A central session's (single sign-on); by default the session's own
    sso_session_idle_timeout_seconds: int = 604_800
    sso_session_absolute_timeout_seconds: int = 2_592_000
    max_sessions_per_user: int = 5
    session_limit_policy: LimitPolicy = "evict_oldest"
    # A client whose refresh answer was lost retries with the same token: within this
    # window that is not reuse (docs/security.md says why 10 s).
    refresh_reuse_grace_seconds: int = 10
    session_max_refreshes: int | None = None
    bind_session_to_ip: bool = False
    refresh_token_transport: RefreshTransport = "body"
    allowed_origins: tuple[str, ...] = ()
    login_failures_per_username: int = 5
    login_failures_per_username_all_ips: int = 100
    login_failures_per_ip: int = 50
    login_failure_window_seconds: int = 900
    # Contract v3: an account's second-factor scope (per window, and in a row before TOTP
    # locks), a session's wrong step-ups before it ends, registrations per address.
    second_factor_failures_per_window: int = 10
    second_factor_failures_max: int = 100
    step_up_failures_per_session: int = 5
    registrations_per_ip: int = 20
    signing_key_cache_seconds: int = 300
    dead_letter_queue_url: str = ""
    # Single sign-on's back-channel logout: where an app that never took its token is parked
    backchannel_dead_letter_queue_url: str = ""
    # Whether back-channel logouts go to loopback URIs (http://127.0.0.1, localhost): the
    # local run's apps listen there; on AWS that is the Lambda environment itself, so off.
    backchannel_loopback: bool = False
    # The KMS key (id or ARN) that seals identity providers' client secrets (federation):
    # the admin function encrypts with it, the API function decrypts.
    idp_secret_key_id: str = ""
    # Whether an identity provider's issuer may be http on loopback (http://127.0.0.1:PORT,
    # http://localhost:PORT): the local run's provider listens there; elsewhere https only.
    federation_loopback: bool = False
    # FEDERATION_SIGNUP: an unknown identity makes a new account; off, only linked ones sign in.
    federation_signup: bool = True
    # Swagger UI at /docs: the local run turns it on; deployments leave it off.
    api_docs: bool = False
    # Step-up: how recent auth_time must be for sensitive routes (RFC 9470).
    reauth_max_age_seconds: int = 900
    mfa_policy: MfaPolicy = "optional"
    # The secret whose key seals TOTP secrets and keys recovery-code digests.
    second_factor_key_secret_id: str = ""
    # The issuer an authenticator app shows next to the account.
    totp_issuer: str = "session-service"
    # How long a user's security activity (and a device's sign-in) is kept.
    activity_retention_days: int = 90
    # The WebAuthn relying party: its id (a registrable domain of the allowed origins;
    # empty when there are none, and passkeys are then off) and the name authenticators show.
    webauthn_rp_id: str = ""
    webauthn_rp_name: str = "session-service"
    # The authorizer's bill (docs/capacity.md): whether it reads sessions strongly
    # consistently, and the percentage of allows it writes a metric line for.
    authorizer_consistent_read: bool = True
    authorizer_allow_log_percent: int = 100
    # The admin API's callers, when listed (ADMIN_PRINCIPALS); empty admits any principal
    # of this account that IAM lets invoke the admin routes.
    admin_principals: tuple[Principal, ...] = ()
    email: EmailSettings = EmailSettings()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        reader = _EnvReader(os.environ if env is None else env)
        issuer = reader.optional("TOKEN_ISSUER")
        issuer_parameter = reader.optional("TOKEN_ISSUER_PARAMETER")
        if not issuer and not issuer_parameter:
            raise ConfigurationError("TOKEN_ISSUER or TOKEN_ISSUER_PARAMETER must be set")
        # The authorizer gets only the published public keys; every other function the ring.
        signing_key_secret_id = reader.optional("SIGNING_KEY_SECRET_ID")
        verification_keys_parameter = reader.optional("VERIFICATION_KEYS_PARAMETER")
        if not signing_key_secret_id and not verification_keys_parameter:
            raise ConfigurationError(
                "SIGNING_KEY_SECRET_ID or VERIFICATION_KEYS_PARAMETER must be set"
            )
        signing_key = reader.optional("VERIFICATION_KEYS_SIGNING_KEY")
        if verification_keys_parameter and not signing_key:
            # An unsigned document is never trusted: without its key nothing verifies.
            raise ConfigurationError(
                "VERIFICATION_KEYS_PARAMETER needs VERIFICATION_KEYS_SIGNING_KEY (the KMS key "
                "that signs it)"
            )
        idle = reader.positive_int("SESSION_IDLE_TIMEOUT_SECONDS", 604_800)
        absolute = reader.positive_int("SESSION_ABSOLUTE_TIMEOUT_SECONDS", 2_592_000)
        max_sessions = reader.positive_int("MAX_SESSIONS_PER_USER", 5)
        if max_sessions > MAX_SESSION_LIMIT:
            raise ConfigurationError(f"MAX_SESSIONS_PER_USER must be at most {MAX_SESSION_LIMIT}")
        grace = reader.non_negative_int("REFRESH_REUSE_GRACE_SECONDS", 10)
        if grace > MAX_GRACE_SECONDS:
            raise ConfigurationError(
                f"REFRESH_REUSE_GRACE_SECONDS must be between 0 and {MAX_GRACE_SECONDS}"
            )
        transport = reader.choice("REFRESH_TOKEN_TRANSPORT", get_args(RefreshTransport), "body")
        origins = reader.origins("ALLOWED_ORIGINS")
        if transport != "body" and not origins:
            raise ConfigurationError(
                f"REFRESH_TOKEN_TRANSPORT={transport} needs ALLOWED_ORIGINS: cookie requests "
                "are only accepted from the origins listed there"
            )
        return cls(
            table_name=reader.required("TABLE_NAME"),
            signing_key_secret_id=signing_key_secret_id,
            verification_keys_parameter=verification_keys_parameter,
            verification_keys_signing_key=signing_key,
            token_audience=reader.optional("TOKEN_AUDIENCE") or "session-service",
            token_issuer=issuer or None,
            token_issuer_parameter=None if issuer else issuer_parameter,
            event_bus_name=reader.optional("EVENT_BUS_NAME"),
            event_source=reader.optional("EVENT_SOURCE") or "session-service",
            jwt_algorithm=reader.choice("JWT_ALGORITHM", get_args(JwtAlgorithm), "RS256"),
            access_token_ttl_seconds=reader.positive_int("ACCESS_TOKEN_TTL_SECONDS", 600),
            session_idle_timeout_seconds=idle,
            session_absolute_timeout_seconds=absolute,
            sso_session_idle_timeout_seconds=reader.positive_int(
                "SSO_SESSION_IDLE_TIMEOUT_SECONDS", idle
            ),
            sso_session_absolute_timeout_seconds=reader.positive_int(
                "SSO_SESSION_ABSOLUTE_TIMEOUT_SECONDS", absolute
            ),
            max_sessions_per_user=max_sessions,
            session_limit_policy=reader.choice(
                "SESSION_LIMIT_POLICY", get_args(LimitPolicy), "evict_oldest"
            ),
            refresh_reuse_grace_seconds=grace,
            session_max_refreshes=reader.optional_positive_int("SESSION_MAX_REFRESHES"),
            bind_session_to_ip=reader.flag("BIND_SESSION_TO_IP"),
            refresh_token_transport=transport,
            allowed_origins=origins,
            login_failures_per_username=reader.positive_int("LOGIN_FAILURES_PER_USERNAME", 5),
            login_failures_per_username_all_ips=reader.positive_int(
                "LOGIN_FAILURES_PER_USERNAME_ALL_IPS", 100
            ),
            login_failures_per_ip=reader.positive_int("LOGIN_FAILURES_PER_IP", 50),
            login_failure_window_seconds=reader.positive_int("LOGIN_FAILURE_WINDOW_SECONDS", 900),
            second_factor_failures_per_window=reader.positive_int(
                "SECOND_FACTOR_FAILURES_PER_WINDOW", 10
            ),
            second_factor_failures_max=reader.positive_int("SECOND_FACTOR_FAILURES_MAX", 100),
            step_up_failures_per_session=reader.positive_int("STEP_UP_FAILURES_PER_SESSION", 5),
            registrations_per_ip=reader.positive_int("REGISTRATIONS_PER_IP", 20),
            signing_key_cache_seconds=reader.positive_int("SIGNING_KEY_CACHE_SECONDS", 300),
            dead_letter_queue_url=reader.optional("DEAD_LETTER_QUEUE_URL"),
            backchannel_dead_letter_queue_url=reader.optional("BACKCHANNEL_DEAD_LETTER_QUEUE_URL"),
            backchannel_loopback=reader.flag("BACKCHANNEL_LOOPBACK"),
            idp_secret_key_id=reader.optional("IDP_SECRET_KEY_ID"),
            federation_loopback=reader.flag("FEDERATION_LOOPBACK"),
            federation_signup=reader.flag("FEDERATION_SIGNUP", default=True),
            api_docs=reader.flag("API_DOCS"),
            reauth_max_age_seconds=reader.positive_int("REAUTH_MAX_AGE_SECONDS", 900),
            mfa_policy=reader.choice("MFA_POLICY", get_args(MfaPolicy), "optional"),
            second_factor_key_secret_id=reader.optional("SECOND_FACTOR_KEY_SECRET_ID"),
            totp_issuer=reader.optional("TOTP_ISSUER") or "session-service",
            activity_retention_days=reader.positive_int("ACTIVITY_RETENTION_DAYS", 90),
            webauthn_rp_id=_rp_id(reader.optional("WEBAUTHN_RP_ID"), origins),
            webauthn_rp_name=reader.optional("WEBAUTHN_RP_NAME") or "session-service",
            authorizer_consistent_read=reader.flag("AUTHORIZER_CONSISTENT_READ", default=True),
            authorizer_allow_log_percent=reader.percent("AUTHORIZER_ALLOW_LOG_PERCENT", 100),
            admin_principals=reader.principals("ADMIN_PRINCIPALS"),
            email=_email_settings(reader),
        )


def _email_settings(reader: _EnvReader) -> EmailSettings:
    sender = reader.optional("EMAIL_SENDER")
    if sender and ("@" not in sender or any(c.isspace() for c in sender)):
        raise ConfigurationError(f"EMAIL_SENDER must be an e-mail address, not {sender!r}")
    link_url = reader.optional("EMAIL_LINK_URL")
    if link_url and not link_url.startswith(("https://", "http://")):
        raise ConfigurationError(f"EMAIL_LINK_URL must be an http(s) URL, not {link_url!r}")
    if "#" in link_url:
        raise ConfigurationError(
            "EMAIL_LINK_URL must have no fragment: the link's secret goes there"
        )
    return EmailSettings(
        sender=sender,
        link_url=link_url,
        sign_in=reader.flag("EMAIL_SIGN_IN"),
        password_reset_ttl_seconds=reader.positive_int("PASSWORD_RESET_TTL_SECONDS", 900),
        code_ttl_seconds=reader.positive_int("EMAIL_CODE_TTL_SECONDS", 600),
        per_address=reader.positive_int("EMAILS_PER_ADDRESS", 5),
        per_ip=reader.positive_int("EMAILS_PER_IP", 50),
        configuration_set=reader.optional("EMAIL_CONFIGURATION_SET"),
    )


def _rp_id(configured: str, origins: tuple[str, ...]) -> str:
    """WEBAUTHN_RP_ID, by default the host of the first allowed origin. Passkeys work on
    the allowed origins whose host is it or under it (passkey_origins)."""
    hosts = [urlsplit(origin).hostname or "" for origin in origins]
    rp_id = (configured or (hosts[0] if hosts else "")).lower()
    if configured and not any(_under(host, rp_id) for host in hosts):
        raise ConfigurationError(
            f"WEBAUTHN_RP_ID {rp_id!r} must be the host of an allowed origin or a domain "
            "above it (ALLOWED_ORIGINS)"
        )
    return rp_id


def _under(host: str, rp_id: str) -> bool:
    return host == rp_id or host.endswith(f".{rp_id}")


def passkey_origins(settings: Settings) -> tuple[str, ...]:
    """The allowed origins a passkey ceremony may come from: those within the RP id."""
    rp_id = settings.webauthn_rp_id
    return tuple(
        origin
        for origin in settings.allowed_origins
        if rp_id and _under(urlsplit(origin).hostname or "", rp_id)
    )


class _EnvReader:
    _OFF = ("", "off", "false", "0", "no", "none")
    _ON = ("on", "true", "1", "yes")

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env

    def optional(self, name: str) -> str:
        return self._env.get(name, "").strip()

    def required(self, name: str) -> str:
        value = self.optional(name)
        if not value:
            raise ConfigurationError(f"{name} must be set")
        return value

    def _int(self, name: str, default: int) -> int:
        raw = self.optional(name)
        if not raw:
            return default
        if not raw.isdigit():
            raise ConfigurationError(
                f"{name} must be a whole number of seconds or a count, not {raw!r}"
            )
        return int(raw)

    def positive_int(self, name: str, default: int) -> int:
        value = self._int(name, default)
        if value <= 0:
            raise ConfigurationError(f"{name} must be a positive whole number")
        return value

    def non_negative_int(self, name: str, default: int) -> int:
        return self._int(name, default)

    def percent(self, name: str, default: int) -> int:
        value = self._int(name, default)
        if value > 100:
            raise ConfigurationError(f"{name} must be between 0 and 100")
        return value

    def optional_positive_int(self, name: str) -> int | None:
        if self.optional(name).lower() in self._OFF:
            return None
        return self.positive_int(name, 0)

    def flag(self, name: str, default: bool = False) -> bool:
        raw = self.optional(name).lower()
        if not raw:
            return default
        if raw in self._OFF:
            return False
        if raw in self._ON:
            return True
        raise ConfigurationError(f"{name} must be on or off, not {raw!r}")

    def choice[T: str](self, name: str, allowed: tuple[T, ...], default: T) -> T:
        raw = self.optional(name)
        if not raw:
            return default
        for option in allowed:
            if raw == option:
                return option
        raise ConfigurationError(f"{name} must be one of {', '.join(allowed)}, not {raw!r}")

    def origins(self, name: str) -> tuple[str, ...]:
        raw = self.optional(name)
        origins = tuple(part.strip().rstrip("/") for part in raw.split(",") if part.strip())
        for origin in origins:
            if not origin.startswith(("https://", "http://")) or origin.count("/") != 2:
                raise ConfigurationError(
                    f"{name} entries must be origins like https://app.example.com, not {origin!r}"
                )
        return origins

    def principals(self, name: str) -> tuple[Principal, ...]:
        try:
            return allow_list(self.optional(name))
        except ValueError as invalid:
            raise ConfigurationError(f"{name}: {invalid}") from None


@functools.cache
def get_settings() -> Settings:
    """The process-wide settings, read on first use (the handler's cold start)."""
    return Settings.from_env()
