"""API Gateway's IAM authorization, locally: a request signed with AWS Signature Version 4
(service execute-api) by the local run's own credentials passes, with the identity API
Gateway would put in the event; anything else is refused. Signatures are recomputed with
botocore's own signer, over the headers the request says it signed."""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

# AWS accepts a signature dated within five minutes of its own clock.
MAX_SKEW_SECONDS = 300
LOCAL_ACCOUNT = "123456789012"
_AUTHORIZATION = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)"
    r"/(?P<service>[^/]+)/aws4_request, ?SignedHeaders=(?P<signed>[a-z0-9;\-]+),"
    r" ?Signature=(?P<signature>[0-9a-f]{64})$"
)


@dataclass(frozen=True)
class SigningKey:
    """The credentials whose signatures the local run accepts, and its region."""

    access_key: str
    secret_key: str
    region: str


@dataclass(frozen=True)
class SignedRequest:
    method: str
    host: str
    path: str
    query: str
    headers: Mapping[str, str]  # lower-case names
    body: bytes


def iam_identity(
    request: SignedRequest, key: SigningKey, now: float | None = None
) -> dict[str, str] | None:
    """The `requestContext.authorizer.iam` of a request signed by `key`, or None."""
    found = _AUTHORIZATION.fullmatch(request.headers.get("authorization", ""))
    if found is None or not _scoped_to(found, key) or not _fresh(request, now):
        return None
    signed = found["signed"].split(";")
    if "host" not in signed or any(name not in request.headers for name in signed):
        return None
    # botocore signs the declared payload hash, not the body: hold the body to it.
    declared = request.headers.get("x-amz-content-sha256")
    if declared and declared != hashlib.sha256(request.body).hexdigest():
        return None
    if not hmac.compare_digest(_signature(request, key, signed), found["signature"]):
        return None
    arn = f"arn:aws:iam::{LOCAL_ACCOUNT}:user/local-run"
    return {
        "accessKey": key.access_key,
        "accountId": LOCAL_ACCOUNT,
        "callerId": key.access_key,
        "principalOrgId": "",
        "userArn": arn,
        "userId": key.access_key,
    }


def _scoped_to(found: re.Match[str], key: SigningKey) -> bool:
    return (
        found["service"] == "execute-api"
        and found["region"] == key.region
        and hmac.compare_digest(found["key"], key.access_key)
    )


def _fresh(request: SignedRequest, now: float | None) -> bool:
    try:
        signed_at = datetime.strptime(request.headers.get("x-amz-date", ""), "%Y%m%dT%H%M%SZ")
    except ValueError:
        return False
    moment = signed_at.replace(tzinfo=UTC).timestamp()
    return abs((now or time.time()) - moment) <= MAX_SKEW_SECONDS


def _signature(request: SignedRequest, key: SigningKey, signed: list[str]) -> str:
    url = f"http://{request.host}{request.path}" + (f"?{request.query}" if request.query else "")
    rebuilt = AWSRequest(
        method=request.method,
        url=url,
        data=request.body,
        headers={name: request.headers[name] for name in signed},
    )
    rebuilt.context["timestamp"] = request.headers["x-amz-date"]
    credentials = Credentials(
        key.access_key, key.secret_key, request.headers.get("x-amz-security-token")
    )
    signer = SigV4Auth(credentials, "execute-api", key.region)
    canonical = signer.canonical_request(rebuilt)
    return str(signer.signature(signer.string_to_sign(rebuilt, canonical), rebuilt))


def signed_headers(
    method: str,
    url: str,
    body: bytes,
    credentials: Credentials,
    region: str,
    headers: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The headers of a request to API Gateway signed with SigV4 for execute-api, as the
    admin CLI sends it (and the tests, with the local run's credentials)."""
    request = AWSRequest(method=method, url=url, data=body, headers=dict(headers or {}))
    SigV4Auth(credentials, "execute-api", region).add_auth(request)
    return {name: str(value) for name, value in request.headers.items()}
