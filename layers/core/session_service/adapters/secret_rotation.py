"""Secrets Manager's four-step rotation of the key-ring secret, with the verification keys
published before the new ring becomes current (setSecret) and again once it is (finishSecret)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Any

from session_service.domain.keys.key_rotation import RotationTimes, rotated_secret
from session_service.domain.keys.keyring import KeyRing, KeyRingError, key_ring_from_secret
from session_service.domain.keys.published_keys import published_document
from session_service.domain.models import JwtAlgorithm

# How much of the publication lead setSecret may find already spent (a retried step).
LATE_MARGIN_SECONDS = 60


class RotationTooLate(RuntimeError):
    """The pending version was made so long ago that its new key would sign before
    verifiers could have fetched it. It is abandoned (no longer AWSPENDING), so that the
    next rotation, with a new token, starts afresh instead of meeting it again."""


# Attempts at publishing the keys once the new ring is current: a failure there is not
# retried by Secrets Manager (the rotation looks complete).
PUBLISH_ATTEMPTS = 3


def rotation_step(
    client: Any,
    *,
    step: str,
    secret_id: str,
    token: str,
    algorithm: JwtAlgorithm,
    times: RotationTimes,
    publish: Callable[[Mapping[str, Any]], None],
    now: float,
) -> None:
    """One step of the rotation; `publish` signs the verification keys' document and stores
    it (key_documents)."""
    if step == "createSecret":
        try:
            client.get_secret_value(SecretId=secret_id, VersionId=token, VersionStage="AWSPENDING")
            return  # this rotation already created its version
        except client.exceptions.ResourceNotFoundException:
            pass
        client.put_secret_value(
            SecretId=secret_id,
            ClientRequestToken=token,
            SecretString=json.dumps(
                rotated_secret(_current(client, secret_id), algorithm, now, times)
            ),
            VersionStages=["AWSPENDING"],
        )
    elif step == "setSecret":
        # The new public keys go out before the ring that uses them becomes current; the
        # keys in use keep their lifetimes until then, so a rotation that stops here
        # retires nothing.
        pending = _pending_ring(client, secret_id, token)
        current = _ring_or_none(_current(client, secret_id))
        # Only a ring with a key in use gives its new key a lead (rotated_secret).
        if current is not None and any(k.lifetime.active(now) for k in current.signing_keys):
            try:
                _check_lead(pending, current, times, now)
            except RotationTooLate:
                client.update_secret_version_stage(
                    SecretId=secret_id, VersionStage="AWSPENDING", RemoveFromVersionId=token
                )
                raise
        publish(published_document(pending, current))
    elif step == "testSecret":
        _pending_ring(client, secret_id, token)
    elif step == "finishSecret":
        versions = client.describe_secret(SecretId=secret_id)["VersionIdsToStages"]
        current_version = next(
            (v for v, stages in versions.items() if "AWSCURRENT" in stages), None
        )
        if current_version != token:
            client.update_secret_version_stage(
                SecretId=secret_id,
                VersionStage="AWSCURRENT",
                MoveToVersionId=token,
                RemoveFromVersionId=current_version,
            )
        # Now with the replaced keys' retirement: what the ring made current says (read by
        # its version, which cannot lag the label's move).
        document = published_document(_version_ring(client, secret_id, token))
        for attempt in range(PUBLISH_ATTEMPTS):
            try:
                publish(document)
                break
            except Exception:
                if attempt == PUBLISH_ATTEMPTS - 1:
                    raise  # the errors alarm; rotating again publishes
                time.sleep(0.5 * 2**attempt)
    else:
        raise ValueError(f"unknown rotation step {step!r}")


def _check_lead(pending: KeyRing, current: KeyRing, times: RotationTimes, now: float) -> None:
    known = {key.kid for key in current.signing_keys}
    for key in pending.signing_keys:
        activate_at = key.lifetime.activate_at
        if key.kid in known or activate_at is None:
            continue
        if activate_at - now < times.publication_lead - LATE_MARGIN_SECONDS:
            raise RotationTooLate(
                f"the pending key {key.kid} activates in {activate_at - now:.0f} s, "
                f"less than the {times.publication_lead} s lead allows"
            )


def _current(client: Any, secret_id: str) -> dict[str, Any]:
    answer = client.get_secret_value(SecretId=secret_id, VersionStage="AWSCURRENT")
    return dict(json.loads(answer["SecretString"]))


def _ring_or_none(secret: dict[str, Any]) -> KeyRing | None:
    """The current ring, or None for a new stack's secret, which holds no key yet."""
    try:
        return key_ring_from_secret(secret)
    except KeyRingError:
        return None


def _version_ring(client: Any, secret_id: str, token: str) -> KeyRing:
    answer = client.get_secret_value(SecretId=secret_id, VersionId=token)
    return key_ring_from_secret(json.loads(answer["SecretString"]))


def _pending_ring(client: Any, secret_id: str, token: str) -> KeyRing:
    pending = client.get_secret_value(
        SecretId=secret_id, VersionId=token, VersionStage="AWSPENDING"
    )
    return key_ring_from_secret(json.loads(pending["SecretString"]))
