"""The table's items: their keys, and records to and from DynamoDB's JSON.

Items (pk / sk):
  LOGIN#<username key>  / LOGIN        the credential, found by case-folded username
  USER#<user id>        / PROFILE      the per-user item: session_version, not_before
  USER#<user id>        / SESSION#<id> a session that may be live; deleted when it ends,
                                       so that a user's partition holds only live sessions
                                       (and expired ones the next login removes)
  ENDED#<record id>     / ENDED        sessions that ended together and why: written with
                                       their deletion, read by no request, turned into
                                       SessionRevoked events by the table's stream
  THROTTLE#<scope>      / W#<window>   attempts reserved in one scope's fixed window
  MFA#<token digest>    / CHALLENGE    a login waiting for its second factor (mfa_token)
  ACCOUNT_EVENT#<record id>    / EVENT        a second factor turned on or off, or a recovery
                                       code used: written with the change, read by no
                                       request, turned into its event by the stream
  PASSKEYS#<user id>    / PASSKEY#<id> a passkey, and / REGISTRATION its pending creation
  WEBAUTHN#<digest>     / CEREMONY     a passkey sign-in's challenge (passkey_items)
  GRANTS#<user id>      / GRANT#<session id>#<grant id>
                                       an app's grant on a central session (grant_store);
                                       its key is here, as the authorizer reads it
Every item carries `ttl` (epoch seconds) so that DynamoDB removes what nothing needs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from session_service.domain.models import (
    PASSWORD_AMR,
    Credential,
    EndedSessions,
    Millis,
    PendingTotp,
    RevocationReason,
    Session,
    StepUpProof,
    TotpFactor,
    UserProfile,
)
from session_service.domain.ports import MfaChallenge

Item = dict[str, Any]
Key = dict[str, dict[str, str]]

# An ended-sessions record only has to live until the stream has carried it; a day leaves
# room to look at it.
ENDED_RECORD_SECONDS = 86_400


def s(value: str) -> dict[str, str]:
    return {"S": value}


def n(value: int) -> dict[str, str]:
    return {"N": str(value)}


def str_of(item: Item, name: str) -> str:
    return str(item[name]["S"])


def int_of(item: Item, name: str) -> int:
    return int(item[name]["N"])


def opt_int_of(item: Item, name: str) -> int | None:
    return int(item[name]["N"]) if name in item else None


def opt_str_of(item: Item, name: str) -> str | None:
    return str(item[name]["S"]) if name in item else None


def ttl_seconds(expires_at: Millis) -> int:
    """DynamoDB TTL is epoch seconds; round up so an item never vanishes early."""
    return -(-expires_at // 1000)


# -- keys --------------------------------------------------------------------------------


def key(pk: str, sk: str) -> Key:
    return {"pk": s(pk), "sk": s(sk)}


def key_id(item_key: Mapping[str, Mapping[str, str]]) -> tuple[str, str]:
    return (item_key["pk"]["S"], item_key["sk"]["S"])


def user_partition(user_id: str) -> str:
    return f"USER#{user_id}"


def login_key(username_key: str) -> Key:
    return key(f"LOGIN#{username_key}", "LOGIN")


def profile_key(user_id: str) -> Key:
    return key(user_partition(user_id), "PROFILE")


def session_key(user_id: str, session_id: str) -> Key:
    return key(user_partition(user_id), f"SESSION#{session_id}")


def ended_key(record_id: str) -> Key:
    return key(f"ENDED#{record_id}", "ENDED")


def throttle_key(scope: str, window: int) -> Key:
    return key(f"THROTTLE#{scope}", f"W#{window}")


def challenge_key(digest: str) -> Key:
    return key(f"MFA#{digest}", "CHALLENGE")


def account_event_key(record_id: str) -> Key:
    return key(f"ACCOUNT_EVENT#{record_id}", "EVENT")


GRANT_PREFIX = "GRANT#"


def grants_partition(user_id: str) -> str:
    return f"GRANTS#{user_id}"


def session_grants_prefix(session_id: str) -> str:
    """The sort keys of one central session's grants begin so: a session's grants are one
    Query of its own, bounded by them alone (never the user's other sessions' grants)."""
    return f"{GRANT_PREFIX}{session_id}#"


def grant_key(user_id: str, session_id: str, grant_id: str) -> Key:
    return key(grants_partition(user_id), f"{session_grants_prefix(session_id)}{grant_id}")


def holds_session(grant: Item | None, session_id: str) -> bool:
    """Whether a grant's item exists and hangs on this session: an app's access token is
    good while both do (ending a grant deletes its item)."""
    return grant is not None and grant.get("session_id", {}).get("S") == session_id


# -- records -----------------------------------------------------------------------------


def session_item(session: Session) -> Item:
    item: Item = {
        **session_key(session.user_id, session.session_id),
        "kind": s("session"),
        "user_id": s(session.user_id),
        "session_id": s(session.session_id),
        "created_at": n(session.created_at),
        "last_used_at": n(session.last_used_at),
        "idle_expires_at": n(session.idle_expires_at),
        "absolute_expires_at": n(session.absolute_expires_at),
        "ip": s(session.ip),
        "user_agent": s(session.user_agent),
        "generation": n(session.generation),
        "auth_time": n(session.auth_time),
        "amr": {"L": [s(method) for method in session.amr]},
        "ttl": n(ttl_seconds(session.expires_at)),
    }
    if session.step_ups:
        item["step_ups"] = {"M": {p.proof_id: step_up_value(p) for p in session.step_ups}}
    if session.refresh_digests:
        item["refresh_digests"] = {"SS": sorted(session.refresh_digests)}
    if session.central:  # the back-channel's stream filter passes only these removals
        item["central"] = {"BOOL": True}
    if session.provider is not None:
        item["provider"] = s(session.provider)
    return item


def session_from_item(item: Item) -> Session:
    return Session(
        user_id=str_of(item, "user_id"),
        session_id=str_of(item, "session_id"),
        created_at=int_of(item, "created_at"),
        last_used_at=int_of(item, "last_used_at"),
        idle_expires_at=int_of(item, "idle_expires_at"),
        absolute_expires_at=int_of(item, "absolute_expires_at"),
        ip=str_of(item, "ip"),
        user_agent=str_of(item, "user_agent"),
        refresh_digests=frozenset(item.get("refresh_digests", {}).get("SS", ())),
        generation=int_of(item, "generation"),
        previous_digest=opt_str_of(item, "previous_digest"),
        rotated_at=opt_int_of(item, "rotated_at"),
        # Sessions from before these attributes: proved by password at creation.
        auth_time=opt_int_of(item, "auth_time") or int_of(item, "created_at"),
        amr=tuple(str(m["S"]) for m in item["amr"]["L"]) if "amr" in item else PASSWORD_AMR,
        # (DynamoDB Local's stream shows an empty map as {}, without its type)
        step_ups=_step_ups(item["step_ups"].get("M", {})) if "step_ups" in item else None,
        central=item.get("central", {}).get("BOOL") is True,
        replaced_digest=opt_str_of(item, "replaced_digest"),
        replaced_at=opt_int_of(item, "replaced_at"),
        provider=opt_str_of(item, "provider"),
    )


def step_up_value(proof: StepUpProof) -> Item:
    """A step-up in its session's `step_ups` map (by proof id): when, and how."""
    return {"M": {"at": n(proof.auth_time), "amr": {"L": [s(m) for m in proof.amr]}}}


def _step_ups(values: Item) -> tuple[StepUpProof, ...]:
    proofs = (
        StepUpProof(
            proof_id=str(proof_id),
            auth_time=int(value["M"]["at"]["N"]),
            amr=tuple(str(m["S"]) for m in value["M"]["amr"]["L"]),
        )
        for proof_id, value in values.items()
    )
    return tuple(sorted(proofs, key=lambda proof: (proof.auth_time, proof.proof_id)))


def profile_item(profile: UserProfile) -> Item:
    return {
        **profile_key(profile.user_id),
        "kind": s("user"),
        "user_id": s(profile.user_id),
        "username": s(profile.username),
        "created_at": n(profile.created_at),
        "session_version": n(profile.session_version),
    }


def profile_from_item(item: Item) -> UserProfile:
    return UserProfile(
        user_id=str_of(item, "user_id"),
        username=str_of(item, "username"),
        created_at=int_of(item, "created_at"),
        session_version=int_of(item, "session_version"),
        not_before=opt_int_of(item, "not_before"),
        password_changed_at=opt_int_of(item, "password_changed_at"),
        disabled=bool(item.get("disabled", {}).get("BOOL", False)),
        email=opt_str_of(item, "email"),
        password_change_reason=opt_str_of(item, "password_change_reason"),
    )


def credential_item(credential: Credential) -> Item:
    return {
        **login_key(credential.username_key),
        "kind": s("credential"),
        "user_id": s(credential.user_id),
        "username": s(credential.username),
        "password_hash": s(credential.password_hash),
        "password_version": n(credential.password_version),
        **({"identity_count": n(credential.identities)} if credential.identities else {}),
    }


def credential_from_item(item: Item) -> Credential:
    return Credential(
        username_key=str_of(item, "pk").removeprefix("LOGIN#"),
        username=str_of(item, "username"),
        user_id=str_of(item, "user_id"),
        password_hash=str_of(item, "password_hash"),
        password_version=int_of(item, "password_version"),
        totp=_totp_factor(item),
        pending_totp=_pending_totp(item),
        disabled=bool(item.get("disabled", {}).get("BOOL", False)),
        throttle_generation=opt_int_of(item, "throttle_generation") or 0,
        passkeys=opt_int_of(item, "passkey_count") or 0,
        reset_digest=opt_str_of(item, "reset_digest"),
        identities=opt_int_of(item, "identity_count") or 0,
    )


def _totp_factor(item: Item) -> TotpFactor | None:
    if "totp_secret" not in item:
        return None
    return TotpFactor(
        sealed_secret=str_of(item, "totp_secret"),
        last_step=int_of(item, "totp_last_step"),
        enabled_at=int_of(item, "totp_enabled_at"),
        recovery_codes=frozenset(item.get("recovery_codes", {}).get("SS", ())),
    )


def _pending_totp(item: Item) -> PendingTotp | None:
    if "pending_totp" not in item:
        return None
    return PendingTotp(
        sealed_secret=str_of(item, "pending_totp"),
        expires_at=int_of(item, "pending_totp_expires_at"),
    )


def challenge_item(challenge: MfaChallenge) -> Item:
    item: Item = {
        **challenge_key(challenge.digest),
        "kind": s("mfa_challenge"),
        "user_id": s(challenge.user_id),
        "username_key": s(challenge.username_key),
        "password_version": n(challenge.password_version),
        "created_at": n(challenge.created_at),
        "expires_at": n(challenge.expires_at),
        "ttl": n(ttl_seconds(challenge.expires_at)),
    }
    if challenge.device_id is not None:
        item["device_id"] = s(challenge.device_id)
    if challenge.first_amr != PASSWORD_AMR:
        item["first_amr"] = {"L": [s(method) for method in challenge.first_amr]}
    if challenge.provider is not None:
        item["provider"] = s(challenge.provider)
    return item


def challenge_from_item(item: Item) -> MfaChallenge:
    return MfaChallenge(
        digest=str_of(item, "pk").removeprefix("MFA#"),
        user_id=str_of(item, "user_id"),
        username_key=str_of(item, "username_key"),
        password_version=int_of(item, "password_version"),
        device_id=opt_str_of(item, "device_id"),
        created_at=int_of(item, "created_at"),
        expires_at=int_of(item, "expires_at"),
        first_amr=(
            tuple(str(m["S"]) for m in item["first_amr"]["L"])
            if "first_amr" in item
            else PASSWORD_AMR
        ),
        provider=opt_str_of(item, "provider"),
    )


def ended_item(ended: EndedSessions) -> Item:
    return {
        **ended_key(ended.record_id),
        "kind": s("ended"),
        "user_id": s(ended.user_id),
        "session_ids": {"L": [s(session_id) for session_id in ended.session_ids]},
        "reason": s(ended.reason),
        "ended_at": n(ended.ended_at),
        "ttl": n(ttl_seconds(ended.ended_at) + ENDED_RECORD_SECONDS),
    }


def ended_from_item(item: Item) -> EndedSessions:
    reason: RevocationReason = str_of(item, "reason")  # type: ignore[assignment]
    return EndedSessions(
        record_id=str_of(item, "pk").removeprefix("ENDED#"),
        user_id=str_of(item, "user_id"),
        session_ids=tuple(str(entry["S"]) for entry in item["session_ids"]["L"]),
        reason=reason,
        ended_at=int_of(item, "ended_at"),
    )
