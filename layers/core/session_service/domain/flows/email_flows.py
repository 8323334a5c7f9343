"""What the API's e-mail routes call, built together by the composition root."""

from __future__ import annotations

from dataclasses import dataclass

from session_service.domain.email.verified_addresses import VerifiedAddresses
from session_service.domain.flows.email_sign_in import EmailSignIn
from session_service.domain.flows.recovery import PasswordRecovery


@dataclass(frozen=True, slots=True)
class EmailFlows:
    addresses: VerifiedAddresses
    recovery: PasswordRecovery
    sign_in: EmailSignIn
