"""The authorizer's answer and what the API reads back from it: the simple response for
API Gateway, the context it carries for our handlers (the verdict, the session), and the
caller of a Bearer route; the caller of an admin route. Imports nothing heavy: the
authorizer loads it on every cold start."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from session_service.domain.accounts.account_changes import FactorChange
from session_service.domain.errors import (
    Forbidden,
    InsufficientUserAuthentication,
    InvalidToken,
    MfaEnrollmentRequired,
    ServiceError,
    Unavailable,
)
from session_service.domain.models import SECOND_FACTOR_METHODS, Millis, Session
from session_service.edge.http import bearer_token, session_view
from session_service.edge.principals import Principal, principal

if TYPE_CHECKING:
    from session_service.domain.sessions.session_records import AuthorizedSession

# Stage variable by which our own API asks the authorizer to report its verdict in the
# context instead of denying: HTTP APIs answer a denial with a fixed 403 body that the
# contract's error shape cannot replace, so our handlers render the 401 themselves.
VERDICT_STAGE_VARIABLE = "authorizerVerdict"
VERDICT_IN_CONTEXT = "context"


def authorizer_allow(authorized: AuthorizedSession) -> dict[str, Any]:
    session = authorized.session
    context: dict[str, Any] = {
        "verdict": "allow",
        "sub": session.user_id,
        "username": authorized.username,
        "sid": session.session_id,
        "createdAt": session.created_at,
        "lastUsedAt": session.last_used_at,
        "expiresAt": session.expires_at,
        "ip": session.ip,
        "userAgent": session.user_agent,
        # The stored session's: a step-up decision is about what the session holds for
        # this token's client, whatever the token claims.
        "authTime": authorized.auth_time,
        "amr": " ".join(authorized.amr),
    }
    return {"isAuthorized": True, "context": context}


def authorizer_refusal(error: ServiceError, event: Mapping[str, Any]) -> dict[str, Any]:
    """Deny; or, for our own API, allow with the verdict for the handler to render."""
    if not _for_our_api(event):
        if isinstance(error, Unavailable):
            # A 5xx from API Gateway, not a 403 that would make clients drop the session.
            raise error
        return {"isAuthorized": False}
    context = {"verdict": error.code, "description": error.description}
    return {"isAuthorized": True, "context": context}


def authorizer_answer(
    event: Mapping[str, Any],
    authorize: Callable[[str], AuthorizedSession],
    mfa_required: bool = False,
) -> dict[str, Any]:
    """The authorizer's simple response for this request. Under MFA_POLICY=required,
    another API never sees a session without a second factor; our own API lets such a
    session enroll one (CallerRules decides, route by route)."""
    try:
        token = bearer_token(event.get("headers"))
        if token is None:
            raise InvalidToken("A Bearer access token is required.")
        authorized = authorize(token)
        if authorized.claims.client_id is not None and _for_our_api(event):
            # An app's token (single sign-on) is for the team's APIs: the account itself
            # (its sessions, factors, address, password) is managed with the service's own.
            raise InvalidToken("An app's access token cannot manage the account.")
        if (
            mfa_required
            and not _for_our_api(event)
            and not SECOND_FACTOR_METHODS & set(authorized.amr)
        ):
            raise MfaEnrollmentRequired()
    except ServiceError as refusal:
        return authorizer_refusal(refusal, event)
    return authorizer_allow(authorized)


def _for_our_api(event: Mapping[str, Any]) -> bool:
    return (event.get("stageVariables") or {}).get(VERDICT_STAGE_VARIABLE) == VERDICT_IN_CONTEXT


@dataclass(frozen=True, slots=True)
class Caller:
    """The caller of a Bearer route, as the authorizer found them."""

    user_id: str
    session_id: str
    username: str
    view: dict[str, Any]
    # The access token's auth_time (epoch seconds) and amr.
    auth_time: int = 0
    amr: tuple[str, ...] = ()


def caller(event: Mapping[str, Any]) -> Caller:
    """The authorizer's verdict for this request, or the contract error it stands for.

    A request without a verdict never passed our authorizer and is refused."""
    authorizer = (event.get("requestContext") or {}).get("authorizer") or {}
    context = authorizer.get("lambda") or {}
    verdict = context.get("verdict")
    if verdict == "allow":
        auth_time = int(context.get("authTime", 0))
        amr = tuple(str(context.get("amr", "")).split())
        session = Session(
            user_id=str(context["sub"]),
            session_id=str(context["sid"]),
            created_at=_millis(context["createdAt"]),
            last_used_at=_millis(context["lastUsedAt"]),
            idle_expires_at=_millis(context["expiresAt"]),
            absolute_expires_at=_millis(context["expiresAt"]),
            ip=str(context.get("ip", "")),
            user_agent=str(context.get("userAgent", "")),
            auth_time=auth_time * 1000,
            amr=amr,
        )
        view = {**session_view(session, session.session_id), "user_id": session.user_id}
        return Caller(
            user_id=session.user_id,
            session_id=session.session_id,
            username=str(context.get("username", "")),
            view=view,
            auth_time=auth_time,
            amr=amr,
        )
    if verdict == Unavailable.code:
        raise Unavailable(retry_after=1)
    raise InvalidToken(str(context.get("description") or InvalidToken.default_description))


def _millis(value: Any) -> Millis:
    return int(value)


@dataclass(frozen=True, slots=True)
class CallerRules:
    """What a Bearer route asks of its caller beyond a live session: a recent proof of
    the credential (RFC 9470 step-up), and, under MFA_POLICY=required, a second factor
    in the token's amr unless the route is part of enrolling one."""

    reauth_max_age_seconds: int
    mfa_required: bool
    clock: Callable[[], float] = time.time

    def caller(
        self, event: Mapping[str, Any], recent: bool = False, enrolling: bool = False
    ) -> Caller:
        found = caller(event)
        if self.mfa_required and not enrolling and not SECOND_FACTOR_METHODS & set(found.amr):
            raise MfaEnrollmentRequired()
        if recent and self.clock() - found.auth_time > self.reauth_max_age_seconds:
            raise InsufficientUserAuthentication(self.reauth_max_age_seconds)
        return found

    def factor_change(self, caller: Caller) -> FactorChange:
        """The caller asking to change their second factors, and how their session proved
        itself (a missing proof is asked for with REAUTH_MAX_AGE_SECONDS)."""
        return FactorChange(
            caller.user_id, caller.username, caller.amr, self.reauth_max_age_seconds
        )


# -- the admin API's caller ---------------------------------------------------------------

# The account in a user's, role's or session's ARN (arn:PARTITION:iam|sts::ACCOUNT:...).
_ARN_ACCOUNT = re.compile(r"arn:[\w-]+:(?:iam|sts)::(\d{12}):.+")


@dataclass(frozen=True, slots=True)
class AdminCaller:
    """Who signed an admin request, as API Gateway's IAM authorization found them."""

    user_arn: str
    access_key: str
    account_id: str = ""


def admin_identity(event: Mapping[str, Any]) -> AdminCaller | None:
    """The IAM identity API Gateway put in an admin request, unchecked; None for a request
    without one (the function invoked some other way than through IAM-authorised routes)."""
    iam = ((event.get("requestContext") or {}).get("authorizer") or {}).get("iam") or {}
    user_arn, access_key = iam.get("userArn"), iam.get("accessKey")
    if not isinstance(user_arn, str) or not user_arn or not isinstance(access_key, str):
        return None
    return AdminCaller(user_arn, access_key, str(iam.get("accountId") or ""))


def function_account(invoked_function_arn: str) -> str:
    """The account the running function belongs to (and so its API: one stack), from the
    ARN Lambda invoked it by.

    Not the event's requestContext.accountId: that sits in the same document as the
    identity it would vouch for, so an event written by hand (a direct invocation) states
    both. The invoked ARN is Lambda's own, whatever the event says."""
    parts = invoked_function_arn.split(":")
    return parts[4] if len(parts) > 4 and parts[2] == "lambda" else ""


def admin_caller(
    event: Mapping[str, Any], own_account: str, allowed: tuple[Principal, ...] = ()
) -> AdminCaller:
    """The administrator who signed this request, or 403: the signer must be of the API's
    own account and, when ADMIN_PRINCIPALS lists principals, one of them. AWS documents
    that an HTTP API, which has no resource policy, serves IAM callers of its own account
    only; the function holds to that itself rather than trust every path to it to."""
    caller = admin_identity(event)
    if caller is None:
        raise Forbidden("The admin API needs a request signed with AWS credentials (IAM).")
    arn_account = _ARN_ACCOUNT.fullmatch(caller.user_arn)
    if (
        not own_account
        or caller.account_id != own_account
        or arn_account is None
        or arn_account[1] != own_account
    ):
        raise Forbidden("The admin API serves principals of its own AWS account only.")
    signer = principal(caller.user_arn)
    if allowed and (signer is None or not any(entry.admits(signer) for entry in allowed)):
        raise Forbidden("This principal is not one of the admin API's (ADMIN_PRINCIPALS).")
    return caller
