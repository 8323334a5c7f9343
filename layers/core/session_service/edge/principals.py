"""IAM principals by ARN: what ADMIN_PRINCIPALS lists, what API Gateway reports as the
signer of an admin request, and whether an entry of the one admits the other. Imports
nothing: the settings read it at every cold start."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

PrincipalKind = Literal["user", "role", "assumed-role"]

# IAM's name characters (commas excluded: they separate the entries of the list).
_NAME = r"[\w+=.@-]+"
_ARN = re.compile(
    rf"arn:(?P<partition>aws(?:-[a-z]+)*):(?P<service>iam|sts)::(?P<account>\d{{12}}):"
    rf"(?:(?P<kind>user|role)/(?:{_NAME}/)*(?P<name>{_NAME})"
    rf"|assumed-role/(?P<role>{_NAME})/(?P<session>{_NAME}))"
)


@dataclass(frozen=True, slots=True)
class Principal:
    """An IAM user, a role, or one session of a role, in one account and partition."""

    partition: str
    account: str
    kind: PrincipalKind
    # The user's or the role's name, without its path: an assumed-role ARN carries no
    # path, and a name is unique in its account whatever the path.
    name: str
    session: str = ""

    def admits(self, caller: Principal) -> bool:
        """Whether this entry of the allow-list admits the caller. A role admits every
        session of it (API Gateway reports `assumed-role/<role>/<session>`, never the
        role's own ARN); a session or a user admits only itself."""
        if (self.partition, self.account) != (caller.partition, caller.account):
            return False
        # IAM keeps user and role names unique regardless of case.
        if self.name.casefold() != caller.name.casefold():
            return False
        if self.kind == "role":
            return caller.kind == "assumed-role"
        return self.kind == caller.kind and self.session == caller.session


def principal(arn: str) -> Principal | None:
    """The principal an ARN names, or None for anything else (the root user, a group, a
    federated user, a wildcard, a typo)."""
    found = _ARN.fullmatch(arn)
    if found is None:
        return None
    partition, service, account = found["partition"], found["service"], found["account"]
    if found["role"] is not None:
        if service != "sts":
            return None
        return Principal(partition, account, "assumed-role", found["role"], found["session"])
    if service != "iam":
        return None
    kind: PrincipalKind = "user" if found["kind"] == "user" else "role"
    return Principal(partition, account, kind, found["name"])


def allow_list(raw: str) -> tuple[Principal, ...]:
    """The comma-separated ARNs of ADMIN_PRINCIPALS; ValueError names the first entry
    that is not a user, a role or a role's session."""
    entries = [entry.strip() for entry in raw.split(",") if entry.strip()]
    listed = []
    for entry in entries:
        found = principal(entry)
        if found is None:
            raise ValueError(
                f"{entry!r} is not the ARN of an IAM user (arn:aws:iam::<account>:user/NAME), "
                "a role (arn:aws:iam::<account>:role/NAME) or a role's session "
                "(arn:aws:sts::<account>:assumed-role/ROLE/SESSION)"
            )
        listed.append(found)
    return tuple(listed)
