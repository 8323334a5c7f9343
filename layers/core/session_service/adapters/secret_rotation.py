"""Secrets Manager's four-step rotation of the key-ring secret, with the verification keys
published (setSecret) before the new version becomes current."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from session_service.domain.key_rotation import RotationTimes, rotated_secret
from session_service.domain.keyring import KeyRing, key_ring_from_secret
from session_service.domain.models import JwtAlgorithm
from session_service.domain.published_keys import published_document


def rotation_step(
    client: Any,
    *,
    step: str,
    secret_id: str,
    token: str,
    algorithm: JwtAlgorithm,
    times: RotationTimes,
    publish: Callable[[str], None],
    now: float,
) -> None:
    """One step of the rotation; `publish` stores the verification keys' document."""
    if step == "createSecret":
        try:
            client.get_secret_value(SecretId=secret_id, VersionId=token, VersionStage="AWSPENDING")
            return  # this rotation already created its version
        except client.exceptions.ResourceNotFoundException:
            pass
        current = json.loads(
            client.get_secret_value(SecretId=secret_id, VersionStage="AWSCURRENT")["SecretString"]
        )
        client.put_secret_value(
            SecretId=secret_id,
            ClientRequestToken=token,
            SecretString=json.dumps(rotated_secret(current, algorithm, now, times)),
            VersionStages=["AWSPENDING"],
        )
    elif step == "setSecret":
        # The pending ring's public keys, the new one among them, go out before the ring
        # becomes current; its key signs only after the publication lead.
        publish(json.dumps(published_document(_pending_ring(client, secret_id, token))))
    elif step == "testSecret":
        _pending_ring(client, secret_id, token)
    elif step == "finishSecret":
        versions = client.describe_secret(SecretId=secret_id)["VersionIdsToStages"]
        current = next((v for v, stages in versions.items() if "AWSCURRENT" in stages), None)
        if current == token:
            return
        client.update_secret_version_stage(
            SecretId=secret_id,
            VersionStage="AWSCURRENT",
            MoveToVersionId=token,
            RemoveFromVersionId=current,
        )
    else:
        raise ValueError(f"unknown rotation step {step!r}")


def _pending_ring(client: Any, secret_id: str, token: str) -> KeyRing:
    pending = client.get_secret_value(
        SecretId=secret_id, VersionId=token, VersionStage="AWSPENDING"
    )
    return key_ring_from_secret(json.loads(pending["SecretString"]))
