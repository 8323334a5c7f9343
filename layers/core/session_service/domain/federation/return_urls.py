"""Where a federated sign-in may send the browser back to: a page of an allowed origin
(ALLOWED_ORIGINS), or the service's own sign-in page (and the local run's demo page).
Anything else is refused before any redirect: an open redirect would carry a handoff, or
an mfa_token, to an attacker's page, and so would another page of the service that
redirects onwards (/oauth2/authorize would carry the fragment to an app's URI)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from session_service.domain.errors import InvalidRequest

# (a URL of 4096 characters, each of them percent-encoded, stays within what the gateways
# take in a request line; the hosted sign-in page's own return carries the app's request)
MAX_RETURN_LENGTH = 4096
# The hosted sign-in page (single sign-on): a flow back to it continues the app's request.
SIGN_IN_PAGE = "/signin"
# The local run's demo page (served by the local run only; nothing answers it on AWS).
DEMO_PAGE = "/demo/"
# The service's own routes, wherever they are served (an allowed origin may proxy them, or
# be the service under another name: the local run's localhost and 127.0.0.1): each
# redirects onwards or answers JSON, none is a frontend's page.
SERVICE_ROUTES = ("/oauth2/", "/auth/", "/admin/", "/.well-known/", "/signin/")
# Printable ASCII but the space: anything else is percent-encoded in a URL.
PRINTABLE = frozenset(chr(c) for c in range(0x21, 0x7F))


@dataclass(frozen=True, slots=True)
class CheckedReturn:
    url: str
    # The app's authorization request, when the return is to the hosted sign-in page.
    sign_in_request: str | None = None


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


class ReturnUrls:
    def __init__(
        self, allowed_origins: tuple[str, ...], base_url: Callable[[], str], demo: bool = False
    ) -> None:
        self._allowed = frozenset(origin.lower().rstrip("/") for origin in allowed_origins)
        self._base_url = base_url
        # The local run's demo page, served by the local run only.
        self._own_pages = (SIGN_IN_PAGE, DEMO_PAGE) if demo else (SIGN_IN_PAGE,)

    def check(self, return_to: str | None) -> CheckedReturn:
        if not return_to or len(return_to) > MAX_RETURN_LENGTH:
            raise InvalidRequest("return_to must be the URL of a page of an allowed origin.")
        if not PRINTABLE.issuperset(return_to) or "\\" in return_to:
            raise InvalidRequest("return_to must be a URL, its special characters encoded.")
        if return_to.startswith("/") and not return_to.startswith(("//", "/\\")):
            # A page of the service itself (the hosted sign-in page's own links)
            return_to = self._base_url() + return_to
        try:
            parts = urlsplit(return_to)
            parts.port  # noqa: B018 (a malformed port raises here)
        except ValueError:
            raise InvalidRequest("return_to is not a URL.") from None
        if parts.scheme not in ("https", "http") or not parts.hostname or parts.netloc.count("@"):
            raise InvalidRequest("return_to must be an absolute http(s) URL.")
        if parts.fragment or "#" in return_to:
            raise InvalidRequest("return_to may carry no fragment: the answer goes there.")
        origin = origin_of(return_to)
        own = origin == origin_of(self._base_url())
        if (own and parts.path not in self._own_pages) or parts.path.startswith(SERVICE_ROUTES):
            raise InvalidRequest("return_to may name no page of the service but its sign-in.")
        if not own and origin not in self._allowed:
            raise InvalidRequest("return_to must be on an allowed origin (ALLOWED_ORIGINS).")
        if own and parts.path == SIGN_IN_PAGE:
            request = parse_qs(parts.query).get("request", [""])[0]
            if not request:
                raise InvalidRequest("A return to the sign-in page carries its request.")
            return CheckedReturn(return_to, sign_in_request=request)
        return CheckedReturn(return_to)
