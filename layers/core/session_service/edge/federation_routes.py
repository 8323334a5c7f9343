"""Sign-in with other identity providers (contract v3): the browser's start and callback,
body mode's handoff exchange, linking, and the caller's identities: parse, call one
domain function, shape the answer. A router the API's resolver includes."""

from __future__ import annotations

import secrets
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlencode

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from aws_lambda_powertools.shared.cookies import Cookie, SameSite

from session_service.domain.errors import Forbidden, MfaRequired, NotFound
from session_service.domain.federation.return_urls import MAX_RETURN_LENGTH
from session_service.domain.federation.sign_in import (
    CallbackOutcome,
    CallbackRequest,
    StartedFlow,
)
from session_service.domain.models import is_issued_id, rfc3339
from session_service.edge import http, transport
from session_service.edge.api_context import ApiContext
from session_service.edge.federation_schemas import (
    HandoffRequest,
    IdentitiesResponse,
    IdentityView,
    LinkRequest,
    LinkResponse,
)
from session_service.edge.oauth2 import pages
from session_service.edge.oauth2.documentation import html, redirect
from session_service.edge.oauth2.routes import SSO_COOKIE, form_body, from_this_origin
from session_service.edge.oauth2.sign_in_routes import signed_in
from session_service.edge.schemas import TokenResponse, error_responses, responses

# The browser's binding to the flows it starts: only it can finish them. Lax, as the
# provider's redirect back is a top-level navigation from another site.
BINDING_COOKIE = "__Host-federation"
BINDING_SECONDS = 600
ProviderId = Annotated[str, Path(min_length=1, max_length=32, pattern=r"^[a-z0-9][a-z0-9_-]*$")]
# A browser's redirect: no cache keeps it, and the next page's requests name no referrer.
NO_TRACE = {**http.NO_STORE_HEADERS, "Referrer-Policy": "no-referrer"}


def binding_cookie(value: str) -> Cookie:
    return Cookie(
        name=BINDING_COOKIE,
        value=value,
        path="/",
        secure=True,
        http_only=True,
        max_age=BINDING_SECONDS,
        same_site=SameSite.LAX_MODE,
    )


def see_other(location: str, cookies: list[Cookie] | None = None) -> Response[str]:
    return Response(
        status_code=303,
        content_type="text/plain",
        body="",
        headers={"Location": location, **NO_TRACE},
        cookies=cookies or [],
    )


def back_with(return_to: str, **fragment: str) -> Response[str]:
    """To the frontend's page, the answer in the fragment (never the query: a fragment
    reaches no server log and no Referer)."""
    return see_other(f"{return_to}#{urlencode(fragment)}")


def federation_router(context: ApiContext) -> APIGatewayHttpRouter:
    router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]
    rules, services, mode = context.rules, context.services, context.refresh_transport

    @router.get(
        "/auth/federation/<provider_id>/start",
        summary="To the identity provider, the flow bound to this browser",
        responses={
            200: html("With `link`: the page that asks before linking (HTML)"),
            302: redirect("To the provider's authorization endpoint"),
            **error_responses(400, 404),
        },
    )
    def federation_start(
        provider_id: ProviderId,
        return_to: Annotated[str | None, Query(max_length=MAX_RETURN_LENGTH)] = None,
        link: Annotated[str | None, Query(max_length=128)] = None,
    ) -> Response[str]:
        event = router.current_event.raw_event
        binding = transport.request_cookie(event, BINDING_COOKIE)
        if link is not None:
            # Linking asks first, on a page of this origin that posts back here
            name, username = services.federation().link_to_confirm(provider_id, link)
            cookie = binding_cookie(binding or secrets.token_urlsafe(32))
            return pages.confirm_link(provider_id, name, username, link, [cookie])
        return _started(services.federation().start(provider_id, return_to, binding))

    @router.post(
        "/auth/federation/<provider_id>/start",
        summary="Linking confirmed on its page: to the identity provider",
        responses={
            302: redirect("To the provider's authorization endpoint"),
            **error_responses(400, 403, 404),
        },
    )
    def federation_link_confirmed(provider_id: ProviderId) -> Response[str]:
        event = router.current_event
        if not from_this_origin(event.headers, services.token_issuer()):
            raise Forbidden("Linking is confirmed on the service's own page.")
        form = dict(parse_qsl(form_body(event)))
        link = form.get("link", "")
        binding = transport.request_cookie(event.raw_event, BINDING_COOKIE)
        return _started(services.federation().start(provider_id, None, binding, link=link))

    def _started(started: StartedFlow) -> Response[str]:
        return Response(
            status_code=302,
            content_type="text/plain",
            body="",
            headers={"Location": started.authorization_url, **NO_TRACE},
            cookies=[binding_cookie(started.binding)],
        )

    @router.get(
        "/auth/federation/<provider_id>/callback",
        summary="Back from the identity provider: signed in, handed off or linked",
        responses={
            303: redirect("To return_to, the answer in the fragment (or the refresh cookie)"),
            **error_responses(400),
        },
    )
    def federation_callback(provider_id: ProviderId) -> Response[Any]:
        event = router.current_event
        raw = event.raw_event
        params = dict(event.query_string_parameters or {})
        outcome = services.federation().callback(
            CallbackRequest(
                provider_id=provider_id,
                params=params,
                binding=transport.request_cookie(raw, BINDING_COOKIE),
                client=http.client_info(raw),
                handoff=mode.uses_body,
                refresh_cookie=transport.replaced_session(raw, mode),
                central_cookie=transport.request_cookie(raw, SSO_COOKIE),
            )
        )
        return _answer(outcome)

    def _answer(outcome: CallbackOutcome) -> Response[Any]:  # noqa: PLR0911 (one per outcome)
        request = outcome.sign_in_request
        failed = outcome.error
        if request is not None:
            # The hosted sign-in page's flow: its own page, or on to the app's request.
            if isinstance(failed, MfaRequired):
                return pages.sign_in_form(request, None, 200, mfa_token=failed.mfa_token)
            if failed is not None:
                return pages.sign_in_form(
                    request,
                    failed.description,
                    failed.status,
                    providers=services.provider_buttons(),
                )
            assert outcome.issued is not None
            return signed_in(outcome.issued, request)
        if isinstance(failed, MfaRequired):
            return back_with(outcome.return_to, error=failed.code, mfa_token=failed.mfa_token)
        if failed is not None:
            return back_with(
                outcome.return_to, error=failed.code, error_description=failed.description
            )
        if outcome.linked_identity_id is not None:
            return back_with(outcome.return_to, identity_linked=outcome.linked_identity_id)
        if outcome.handoff is not None:
            return back_with(outcome.return_to, handoff=outcome.handoff)
        assert outcome.issued is not None
        tokens = transport.issued_response(outcome.issued, mode)
        return see_other(outcome.return_to, cookies=tokens.cookies)

    @router.post(
        "/auth/federation/exchange", responses=responses(TokenResponse, 400, 401, 403, 409)
    )
    def federation_exchange(body: Annotated[HandoffRequest, Body()]) -> Response[TokenResponse]:
        event = router.current_event.raw_event
        transport.check_browser_origin(event, mode)
        issued = services.federation().exchange(body.handoff, http.client_info(event))
        return transport.issued_response(issued, mode)

    @router.post(
        "/auth/federation/<provider_id>/link",
        security=http.BEARER_SECURITY,
        responses=responses(LinkResponse, 400, 401, 404),
    )
    def federation_link(
        provider_id: ProviderId, body: Annotated[LinkRequest, Body()]
    ) -> LinkResponse:
        caller = rules.caller(router.current_event.raw_event, recent=True)
        url = services.federation().link_url(caller.user_id, provider_id, body.return_to)
        return LinkResponse(authorization_url=url)

    @router.get(
        "/auth/identities",
        security=http.BEARER_SECURITY,
        responses=responses(IdentitiesResponse, 401),
    )
    def list_identities() -> IdentitiesResponse:
        caller = rules.caller(router.current_event.raw_event)
        views = [
            IdentityView(
                identity_id=identity.identity_id,
                provider_id=identity.provider_id,
                subject=identity.subject,
                email=identity.email,
                linked_at=rfc3339(identity.linked_at),
            )
            for identity in services.identities().list(caller.user_id)
        ]
        return IdentitiesResponse(identities=views)

    @router.delete(
        "/auth/identities/<identity_id>",
        security=http.BEARER_SECURITY,
        responses=responses(None, 401, 404, 409, status=204, description="Unlinked"),
    )
    def unlink_identity(identity_id: str) -> Response[None]:
        event = router.current_event.raw_event
        caller = rules.caller(event, recent=True)
        if not is_issued_id(identity_id):
            raise NotFound("No such identity.")
        services.identities().unlink(caller.user_id, identity_id, http.client_info(event))
        return http.json_response(204, None)

    return router
