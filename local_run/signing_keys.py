"""The KMS keys template.yaml declares, created at the endpoint when missing (found again by
an alias named after the resource, as a key has no name of its own), and the published
verification keys, signed with the document key as the rotation would have published them."""

from __future__ import annotations

import json
import time
from typing import Any

from local_run.template import Template


def create_keys(template: Template, client: Any) -> None:
    """Each AWS::KMS::Key with its spec, usage and key policy; Ref is its id, Arn its ARN."""
    for logical_id, resource in template.of_type("AWS::KMS::Key").items():
        properties = template.resolve(resource["Properties"])
        alias = f"alias/{template.physical_name(logical_id)}"
        try:
            metadata = client.describe_key(KeyId=alias)["KeyMetadata"]
        except client.exceptions.NotFoundException:
            metadata = client.create_key(
                Description=properties.get("Description", ""),
                KeySpec=properties.get("KeySpec", "SYMMETRIC_DEFAULT"),
                KeyUsage=properties.get("KeyUsage", "ENCRYPT_DECRYPT"),
                Policy=json.dumps(properties["KeyPolicy"]),
            )["KeyMetadata"]
            client.create_alias(AliasName=alias, TargetKeyId=metadata["KeyId"])
        template.names.refs[logical_id] = metadata["KeyId"]
        template.names.attributes[(logical_id, "Arn")] = metadata["Arn"]


def publish_verification_keys(template: Template, ring: dict[str, Any], kms: Any, ssm: Any) -> None:
    """The parameter the rotation creates in AWS: the ring's public keys, signed with the
    key the functions' VERIFICATION_KEYS_SIGNING_KEY names."""
    from session_service.adapters.kms import kms_signer  # noqa: PLC0415
    from session_service.domain.keys.key_documents import signed_document  # noqa: PLC0415
    from session_service.domain.keys.keyring import key_ring_from_secret  # noqa: PLC0415
    from session_service.domain.keys.published_keys import published_document  # noqa: PLC0415

    for function in template.functions().values():
        variables = template.resolve(function["Properties"]["Environment"]["Variables"])
        name = variables.get("VERIFICATION_KEYS_PARAMETER")
        key = variables.get("VERIFICATION_KEYS_SIGNING_KEY")
        if name and key:
            document = published_document(key_ring_from_secret(ring))
            signed = signed_document(document, kms_signer(kms, key), key, issued_at=time.time())
            ssm.put_parameter(Name=name, Value=signed, Type="String", Overwrite=True)
            return
