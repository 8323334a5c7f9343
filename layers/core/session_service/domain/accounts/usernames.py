"""Usernames and passwords as the service accepts them: the username rule (3 to 64 ASCII
characters, compared case-insensitively) and the password's length."""

from __future__ import annotations

import re

from session_service.domain.errors import InvalidRequest

# The username rule, here once: 3 to 64 of these characters (the schemas say the same).
USERNAME_CHARACTERS = "A-Za-z0-9_.@-"
MIN_USERNAME_LENGTH, MAX_USERNAME_LENGTH = 3, 64
USERNAME = re.compile(f"[{USERNAME_CHARACTERS}]{{{MIN_USERNAME_LENGTH},{MAX_USERNAME_LENGTH}}}")
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024


def username_key(username: str) -> str:
    """Usernames compare case-insensitively; the allowed characters are ASCII."""
    return username.lower()


def check_username(username: str) -> None:
    if not USERNAME.fullmatch(username):
        raise InvalidRequest(
            f"username must be {MIN_USERNAME_LENGTH} to {MAX_USERNAME_LENGTH} characters of "
            "A-Z a-z 0-9 _ . @ -"
        )


def check_password(password: str, field: str = "password") -> None:
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise InvalidRequest(
            f"{field} must be {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters"
        )
