"""The URIs a client may register (contract v3, "Single sign-on"): where the service sends
a browser back after sign-in or logout, and where it POSTs back-channel logout tokens.

They are compared with what an app sends as exact strings (no normalisation), so what is
registered must be plain and unambiguous:
- absolute, `https`; plain `http` only on loopback: `http://127.0.0.1`, `http://[::1]` (the
  IPv4 and IPv6 loopback literals of RFC 8252 §7.3) and `http://localhost` (§8.3: allowed,
  not recommended), on any port, as a native app or the local run listens there;
- no fragment (RFC 6749 §3.1.2), no user information (`user@host`, which hides the real
  host from a reader), no wildcard `*` (matching is exact: every URI is listed);
- only the characters of RFC 3986 (anything else percent-encoded), a `%` always followed by
  two hex digits, at most MAX_URI_LENGTH characters."""

from __future__ import annotations

import ipaddress
import re
import string
from collections.abc import Callable
from urllib.parse import urlsplit

MAX_URI_LENGTH = 2000
# Loopback hosts where plain http is allowed (lower case; a host name is case-insensitive).
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "[::1]", "localhost"})
# RFC 3986's unreserved and reserved characters and '%', without '#' and '*' (refused with
# a reason of their own).
_URI_CHARACTERS = frozenset(string.ascii_letters + string.digits + "-._~:/?[]@!$&'()+,;=%")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")
_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?"
_HOST_NAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")


# Problems of the text itself, found before its structure is read.
_TEXT_RULES: tuple[tuple[Callable[[str], bool], str], ...] = (
    (lambda uri: not uri, "is empty"),
    (lambda uri: len(uri) > MAX_URI_LENGTH, f"is longer than {MAX_URI_LENGTH} characters"),
    (lambda uri: "*" in uri, "has a wildcard (*): URIs match exactly, so list each one"),
    (lambda uri: "#" in uri, "has a fragment (#), which the URI must not have"),
    (lambda uri: _BAD_PERCENT.search(uri) is not None, "has a % not followed by two hex digits"),
)


def redirect_uri_problem(uri: str) -> str | None:
    """What is wrong with a URI a client registers, said for a person; None if nothing."""
    for broken, problem in _TEXT_RULES:
        if broken(uri):
            return problem
    bad = next((c for c in uri if c not in _URI_CHARACTERS), None)
    if bad is not None:
        # Named by code point: the description never echoes a control character.
        return f"holds U+{ord(bad):04X}, which a URI cannot: percent-encode it"
    scheme = _SCHEME.match(uri)
    name = scheme.group()[:-1].lower() if scheme else ""
    if scheme is not None and name not in ("https", "http"):
        return f"has the scheme {name}: only https is allowed (http on loopback only)"
    if scheme is None or not uri[scheme.end() :].startswith("//"):
        return "is not absolute: it needs a scheme and a host, as https://app.example/callback"
    authority = re.split(r"[/?]", uri[scheme.end() + 2 :], maxsplit=1)[0]
    return _authority_problem(authority, plain_http=name == "http")


def _authority_problem(authority: str, plain_http: bool) -> str | None:
    if "@" in authority:
        return "has user information (user@) before its host"
    host, port = _host_and_port(authority)
    if host is None or not _is_host(host):
        return "has no valid host"
    if port is not None and not (port.isdigit() and 0 < int(port) <= 65535):
        return "has an invalid port"
    if plain_http and host.lower() not in LOOPBACK_HOSTS:
        return (
            "uses http on a host that is not loopback: use https (http is allowed only on "
            "127.0.0.1, [::1] and localhost)"
        )
    return None


def _host_and_port(authority: str) -> tuple[str | None, str | None]:
    """The host (an IPv6 literal with its brackets) and the port written after it, if any."""
    if authority.startswith("["):
        end = authority.find("]")
        if end == -1:
            return None, None
        host, rest = authority[: end + 1], authority[end + 1 :]
        if rest and not rest.startswith(":"):
            return None, None
        return host, rest[1:] if rest else None
    host, colon, port = authority.partition(":")
    return host, port if colon else None


def _is_host(host: str) -> bool:
    """A DNS name, an IPv4 address or a bracketed IPv6 address (no zone)."""
    if host.startswith("["):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            return False
        return True
    if re.fullmatch(r"[0-9.]+", host):
        # All digits: an IPv4 address, or nothing (999.1.1.1 names no host)
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            return False
        return True
    return _HOST_NAME.fullmatch(host) is not None


def reaches_loopback(uri: str) -> bool:
    """Whether a registered URI names the machine it is called from: a loopback host
    (`localhost`, 127.0.0.0/8, ::1, an IPv4-mapped loopback) or the unspecified address
    (0.0.0.0, ::), which connects there too; whatever the scheme. A name that merely
    resolves there is not seen (nothing is resolved here)."""
    try:
        host = (urlsplit(uri).hostname or "").rstrip(".")
    except ValueError:
        return False
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback or address.is_unspecified
