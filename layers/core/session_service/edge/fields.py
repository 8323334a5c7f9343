"""Field types more than one body shares."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from session_service.domain.accounts.usernames import (
    MAX_USERNAME_LENGTH,
    MIN_USERNAME_LENGTH,
    USERNAME_CHARACTERS,
)

Username = Annotated[
    str,
    Field(
        min_length=MIN_USERNAME_LENGTH,
        max_length=MAX_USERNAME_LENGTH,
        pattern=f"^[{USERNAME_CHARACTERS}]+$",
        examples=["ada@example.com"],
    ),
]
# A device token from an earlier token response: its failures count on their own.
DeviceTokenValue = Annotated[str, Field(min_length=1, max_length=128)]
