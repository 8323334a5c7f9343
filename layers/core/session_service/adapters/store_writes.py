"""The items of the store's transactions, each with the condition that protects it:
ending sessions, removing expired ones, the credential a session start relies on (and what
a second factor spends on it), the login challenge it consumes, and a re-authentication of
a session."""

from __future__ import annotations

from session_service.adapters.store_items import (
    Item,
    challenge_key,
    ended_item,
    login_key,
    n,
    s,
    session_key,
    step_up_value,
    ttl_seconds,
)
from session_service.adapters.stream_records import (
    account_event_item,
)
from session_service.domain.models import (
    AccountEvent,
    Credential,
    EndedSessions,
    Millis,
    Session,
)
from session_service.domain.ports import Reauthentication, Rotation, SecondFactorUse


def ending_items(table: str, ended: EndedSessions, now: Millis) -> list[Item]:
    deletes: list[Item] = [
        {
            "Delete": {
                "TableName": table,
                "Key": session_key(ended.user_id, session_id),
                # Only a live session ends, once: the first reason recorded is the true
                # one, and ending it twice publishes one SessionRevoked.
                "ConditionExpression": (
                    "attribute_exists(pk) AND idle_expires_at > :now AND absolute_expires_at > :now"
                ),
                "ExpressionAttributeValues": {":now": n(now)},
            }
        }
        for session_id in ended.session_ids
    ]
    record: Item = {
        "Put": {
            "TableName": table,
            "Item": ended_item(ended),
            "ConditionExpression": "attribute_not_exists(pk)",
        }
    }
    return [*deletes, record]


def pruning_item(table: str, expired: Session, now: Millis) -> Item:
    return {
        "Delete": {
            "TableName": table,
            "Key": session_key(expired.user_id, expired.session_id),
            # Still expired (a refresh cannot revive it: it needs a live session), or
            # gone already (TTL).
            "ConditionExpression": (
                "attribute_not_exists(pk) OR idle_expires_at <= :now OR absolute_expires_at <= :now"
            ),
            "ExpressionAttributeValues": {":now": n(now)},
        }
    }


def credential_op(
    table: str,
    credential: Credential,
    new_password_hash: str | None = None,
    second_factor: SecondFactorUse | None = None,
    password_alone: bool = True,
    reset_digest: str | None = None,
) -> Item:
    """The credential's part of a transaction: the password we verified is still the
    password; with a new hash, it is replaced; with a second factor, the code is spent.
    A session on the password alone (`password_alone`: a login without a second step, a
    password change from a session that proved no factor) needs an account still without
    a second factor."""
    seen: Item = {":version": n(credential.password_version)}
    key = login_key(credential.username_key)
    # What a proof of the password alone needs: no second factor (TOTP, a passkey) turned
    # on meanwhile.
    no_factor = " AND attribute_not_exists(totp_secret)" + (
        " AND (attribute_not_exists(passkey_count) OR passkey_count = :zero)"
    )
    if new_password_hash is not None:
        # Replace only the password we verified: of two changes, one wins; from a session
        # that proved no factor, only while the account still has none.
        values: Item = {
            **seen,
            ":hash": s(new_password_hash),
            ":next": n(credential.password_version + 1),
        }
        condition = "password_version = :version"
        if password_alone:
            condition += no_factor
            values[":zero"] = n(0)
        # Any password change voids the reset links sent before it.
        update = "SET password_hash = :hash, password_version = :next"
        removal, deletion = " REMOVE reset_digest", ""
        if reset_digest is not None:
            # A reset spends its token: of concurrent resets with one link, one lands.
            condition += " AND reset_digest = :reset"
            values[":reset"] = s(reset_digest)
        if second_factor is not None and second_factor.totp_step is not None:
            update += ", totp_last_step = :step"
            condition += " AND totp_last_step < :step"
            values[":step"] = n(second_factor.totp_step)
        if second_factor is not None and second_factor.recovery_digest is not None:
            deletion = " DELETE recovery_codes :spent"
            condition += " AND contains(recovery_codes, :code)"
            values[":spent"] = {"SS": [second_factor.recovery_digest]}
            values[":code"] = s(second_factor.recovery_digest)
        return {
            "Update": {
                "TableName": table,
                "Key": key,
                "UpdateExpression": update + removal + deletion,
                "ConditionExpression": condition,
                "ExpressionAttributeValues": values,
            }
        }
    if second_factor is not None and second_factor.totp_step is not None:
        return {
            "Update": {
                "TableName": table,
                "Key": key,
                "UpdateExpression": "SET totp_last_step = :step",
                # A code is good once: of two requests with codes of one step, or with
                # a code of an earlier step after it, exactly one passes (RFC 6238 §5.2).
                "ConditionExpression": "password_version = :version AND totp_last_step < :step",
                "ExpressionAttributeValues": {**seen, ":step": n(second_factor.totp_step)},
            }
        }
    if second_factor is not None and second_factor.recovery_digest is not None:
        return {
            "Update": {
                "TableName": table,
                "Key": key,
                "UpdateExpression": "DELETE recovery_codes :spent",
                # A recovery code is spent once: it must still be in the set.
                "ConditionExpression": (
                    "password_version = :version AND contains(recovery_codes, :code)"
                ),
                "ExpressionAttributeValues": {
                    **seen,
                    ":spent": {"SS": [second_factor.recovery_digest]},
                    ":code": s(second_factor.recovery_digest),
                },
            }
        }
    if second_factor is not None and second_factor.passkey is not None:
        # A passkey proves the user without the password: the account is only to be
        # as it was read (an administrator's disable meanwhile bumps the profile's
        # version, which the start is conditioned on).
        return {
            "ConditionCheck": {
                "TableName": table,
                "Key": key,
                "ConditionExpression": "password_version = :version",
                "ExpressionAttributeValues": seen,
            }
        }
    # The password we verified is still the password, and still enough: a second factor
    # turned on (TOTP, a passkey) meanwhile refuses a password-only session (a step-up of
    # a session keeps what the session proved: TOTP alone asks for its code).
    condition = "password_version = :version AND attribute_not_exists(totp_secret)"
    if password_alone:
        condition = "password_version = :version" + no_factor
        seen = {**seen, ":zero": n(0)}
    return {
        "ConditionCheck": {
            "TableName": table,
            "Key": key,
            "ConditionExpression": condition,
            "ExpressionAttributeValues": seen,
        }
    }


def account_event_put(table: str, event: AccountEvent) -> Item:
    return {
        "Put": {
            "TableName": table,
            "Item": account_event_item(event),
            "ConditionExpression": "attribute_not_exists(pk)",
        }
    }


def challenge_spend_item(table: str, digest: str, user_id: str, now: Millis) -> Item:
    return {
        "Delete": {
            "TableName": table,
            "Key": challenge_key(digest),
            # An mfa_token buys one session, before it expires, for its own user.
            "ConditionExpression": "attribute_exists(pk) AND expires_at > :now AND user_id = :user",
            "ExpressionAttributeValues": {":now": n(now), ":user": s(user_id)},
        }
    }


def reauth_session_item(table: str, change: Reauthentication) -> Item:
    user_id = change.credential.user_id
    proof = change.step_up
    names = {"#ttl": "ttl"}
    # The step-up joins the session's (the oldest beyond the cap leave); a session's first
    # gets its map whole, once.
    if change.replaced_step_ups:
        step_up = "step_ups = :step_ups"
        value: Item = {":step_ups": {"M": {proof.proof_id: step_up_value(proof)}}}
        kept_apart = " AND attribute_not_exists(step_ups)"
    else:
        step_up = "step_ups.#proof = :step_up"
        names["#proof"] = proof.proof_id
        value = {":step_up": step_up_value(proof)}
        kept_apart = ""
    dropped = [f"step_ups.#dropped{index}" for index in range(len(change.dropped_step_ups))]
    names.update({f"#dropped{i}": d for i, d in enumerate(change.dropped_step_ups)})
    digests, as_read = "ADD refresh_digests :fresh SET", ""
    if change.digests is not None:
        # A central session's: the set written whole holds as many tokens as it did when
        # read (one of them, the cookie's, replaced), each of the others still there, and
        # the cookie's too: of two renewals from one cookie at once, one wins.
        digests = "SET refresh_digests = :fresh,"
        kept = sorted(change.digests - {change.new_digest})
        value.update({f":kept{i}": s(d) for i, d in enumerate(kept)})
        value[":held"] = n(len(change.digests))
        as_read = " AND size(refresh_digests) = :held" + "".join(
            f" AND contains(refresh_digests, :kept{i})" for i in range(len(kept))
        )
        if change.replaced_digest is not None:
            # ... and remembered, with when, for the renewals racing it (they join)
            value[":replaced"] = s(change.replaced_digest)
            as_read += " AND contains(refresh_digests, :replaced)"
            digests += " replaced_digest = :replaced, replaced_at = :now,"
    elif change.race_start is not None and change.replaced_digest is not None:
        # Joining a central session: its last renewal replaced this cookie's token, moments
        # ago (the set only grows, up to its maximum: joins at once all land).
        value[":replaced"] = s(change.replaced_digest)
        value[":race_start"] = n(change.race_start)
        as_read = " AND replaced_digest = :replaced AND replaced_at > :race_start"
    fresh = sorted(change.digests) if change.digests is not None else [change.new_digest]
    return {
        "Update": {
            "TableName": table,
            "Key": session_key(user_id, change.session_id),
            "UpdateExpression": (
                f"{digests} {step_up},"
                " last_used_at = :now, idle_expires_at = :idle, #ttl = :ttl"
                + (f" REMOVE {', '.join(dropped)}" if dropped else "")
            ),
            # The session is live, in the generation the new token belongs to (a refresh
            # meanwhile refuses this), created after the last password change, and has
            # room for one more current token.
            "ConditionExpression": (
                "attribute_exists(pk) AND idle_expires_at > :now AND absolute_expires_at > :now"
                " AND generation = :generation AND created_at >= :not_before"
                " AND size(refresh_digests) < :max" + kept_apart + as_read
            ),
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": {
                ":fresh": {"SS": fresh},
                ":now": n(change.now),
                **value,
                ":idle": n(change.idle_expires_at),
                ":ttl": n(ttl_seconds(min(change.idle_expires_at, change.absolute_expires_at))),
                ":generation": n(change.generation),
                ":not_before": n(change.not_before or 0),
                ":max": n(change.max_digests),
            },
        }
    }


def rotation_update(rotation: Rotation) -> tuple[str, str, Item]:
    """A refresh's update of its session: the expression, its condition, their values."""
    # The presented token is current and the session inside both timeouts: checked by
    # DynamoDB at the moment of the write, so of two racing exchanges of one token
    # exactly one succeeds. An ended session has no item, so the check fails.
    grace = rotation.new_generation is None
    condition = [
        "previous_digest = :presented" if grace else "contains(refresh_digests, :presented)",
        "idle_expires_at > :now",
        "absolute_expires_at > :now",
    ]
    values: Item = {
        ":presented": s(rotation.presented_digest),
        ":now": n(rotation.now),
        ":fresh": {"SS": [rotation.new_digest]},
        ":idle": n(rotation.idle_expires_at),
        ":ttl": n(ttl_seconds(min(rotation.idle_expires_at, rotation.absolute_expires_at))),
    }
    if grace:
        # The token rotated away last, recently; the new token joins the current ones.
        condition += ["rotated_at >= :window_start", "size(refresh_digests) < :siblings"]
        values[":window_start"] = n(rotation.window_start)
        values[":siblings"] = n(rotation.max_siblings)
        update = (
            "ADD refresh_digests :fresh"
            " SET last_used_at = :now, idle_expires_at = :idle, #ttl = :ttl"
        )
    else:
        values[":generation"] = n(rotation.new_generation or 0)
        update = (
            "SET refresh_digests = :fresh, previous_digest = :presented, rotated_at = :now,"
            " generation = :generation, last_used_at = :now, idle_expires_at = :idle,"
            " #ttl = :ttl"
        )
    if rotation.required_ip is not None:
        condition.append("ip = :ip")
        values[":ip"] = s(rotation.required_ip)
    if rotation.max_generation is not None and not grace:
        condition.append("generation < :max_generation")
        values[":max_generation"] = n(rotation.max_generation)
    if rotation.not_before is not None:
        # No token for a session from before the user's last password change, even one
        # that something left behind.
        condition.append("created_at >= :not_before")
        values[":not_before"] = n(rotation.not_before)
    return update, " AND ".join(condition), values
