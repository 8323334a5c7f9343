"""What the local run creates in SES for the template: the sender's identity, verified (SES
sends from verified identities only, and an emulator verifies whatever is created), and
the configuration sets it declares. In AWS a person verifies the identity (docs/email.md);
locally nobody can, so provisioning does."""

from __future__ import annotations

from email.utils import parseaddr
from typing import Any

from botocore.exceptions import ClientError

from local_run.template import Template

IDENTITY = "AWS::SES::EmailIdentity"
CONFIGURATION_SET = "AWS::SES::ConfigurationSet"


def sender_identities(template: Template) -> list[str]:
    """The identities to verify: each EmailIdentity the template creates (an address or a
    domain; none whose Condition is false), and the EmailSender parameter's address, which
    the template may only name."""
    identities: list[str] = []
    for resource in template.of_type(IDENTITY).values():
        if _created(template, resource):
            identity = str(template.resolve(resource["Properties"]["EmailIdentity"]))
            identities.append(identity)
    _, sender = parseaddr(template.parameters.get("EmailSender", ""))
    if "@" in sender and not _covered(sender, identities):
        identities.append(sender)
    return identities


def provision_email(template: Template, clients: Any) -> None:
    """Creates the sender identities and configuration sets where the endpoint lacks them
    (`clients(service)` a boto3 client), and names them for Ref as CloudFormation does."""
    identities = sender_identities(template)
    configuration_sets = {
        logical_id: resource
        for logical_id, resource in template.of_type(CONFIGURATION_SET).items()
        if _created(template, resource)
    }
    if not identities and not configuration_sets:
        return  # e-mail off: no client to make
    client = clients("sesv2")
    for identity in identities:
        _create_once(client.create_email_identity, EmailIdentity=identity)
    for logical_id, resource in template.of_type(IDENTITY).items():
        if _created(template, resource):
            # Ref of an EmailIdentity is the identity itself
            identity = str(template.resolve(resource["Properties"]["EmailIdentity"]))
            template.names.refs[logical_id] = identity
    for logical_id, resource in configuration_sets.items():
        properties = template.resolve(resource.get("Properties", {}))
        name = str(properties.get("Name") or template.physical_name(logical_id))
        _create_once(client.create_configuration_set, ConfigurationSetName=name)
        template.names.refs[logical_id] = name


# SES v2 says AlreadyExistsException; moto says so of identities, and of configuration
# sets what SES v1 says.
_EXISTS = ("AlreadyExistsException", "ConfigurationSetAlreadyExistsException")


def _create_once(create: Any, **request: str) -> None:
    try:
        create(**request)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") not in _EXISTS:
            raise


def _created(template: Template, resource: dict[str, Any]) -> bool:
    condition = resource.get("Condition")
    return condition is None or template.condition(str(condition))


def _covered(address: str, identities: list[str]) -> bool:
    """Whether SES would send from this address under these identities: the address's
    own, or its domain's."""
    domain = address.rsplit("@", 1)[1].lower()
    return any(identity.lower() in (address.lower(), domain) for identity in identities)
