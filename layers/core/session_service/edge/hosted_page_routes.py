"""The service's hosted page (`GET /signin`), where e-mailed reset links point by default
(`EMAIL_LINK_URL`): HTML, a script and a style sheet from hosted/ (package data), under a
strict Content-Security-Policy (no inline script or style, no framing, requests to this
origin only), never cached, sending no Referer. The page reads the link's token from the
URL's fragment and resets the password through `POST /auth/password/reset`. A router the
API's resolver includes (functions/api/app.py)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from session_service.domain.errors import NotFound
from session_service.edge.page_headers import HOSTED_HEADERS
from session_service.edge.schemas import error_responses

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse

HOSTED_DIR = Path(__file__).with_name("hosted")
PAGE = "signin.html"
# What the pages load (by name, relative to them: signin/assets/NAME), and nothing else:
# passkey.js is the single sign-on form's passkey button (edge/oauth2/pages.py).
ASSETS = {
    "signin.js": "text/javascript; charset=utf-8",
    "passkey.js": "text/javascript; charset=utf-8",
    "signin.css": "text/css; charset=utf-8",
}


@functools.cache
def hosted_file(name: str) -> str:
    return (HOSTED_DIR / name).read_text(encoding="utf-8")


def _text(description: str, *media_types: str) -> OpenAPIResponse:
    text: OpenAPIResponse = {"description": description}
    text["content"] = {media_type: {"schema": {"type": "string"}} for media_type in media_types}
    return text


def hosted_page_router(
    providers: Callable[[], Sequence[tuple[str, str]]] = tuple,
) -> APIGatewayHttpRouter:
    """The page and its files: it holds no service of its own, it calls the API's routes
    (`providers`: the identity providers' buttons of the single sign-on form)."""
    router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]

    def answer(media_type: str, name: str) -> Response[Any]:
        return Response(
            status_code=200,
            content_type=media_type,
            body=hosted_file(name),
            headers=dict(HOSTED_HEADERS),
        )

    @router.get(
        "/signin",
        summary="The hosted page: resets a password from an e-mailed link (#token=...)",
        responses={
            200: _text("The page (HTML)", "text/html"),
            **error_responses(),
        },
    )
    def sign_in_page() -> Response[Any]:
        # An app's authorization request (single sign-on) asks for the sign-in form
        request = router.current_event.get_query_string_value("request")
        if request:
            from session_service.edge.oauth2.pages import sign_in_form  # noqa: PLC0415

            return sign_in_form(request, providers=providers())
        return answer("text/html; charset=utf-8", PAGE)

    @router.get(
        "/signin/assets/<name>",
        summary="The hosted pages' scripts and style sheet",
        responses={
            200: _text("The file", "text/javascript", "text/css"),
            **error_responses(404),
        },
    )
    def sign_in_asset(name: str) -> Response[Any]:
        media_type = ASSETS.get(name)
        if media_type is None:
            raise NotFound()
        return answer(media_type, name)

    return router
