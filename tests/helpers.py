"""What tests share: registering, logging in, reading answers and the table's stream.

Test files import from here (and from conftest fixtures), never from each other."""

from __future__ import annotations

import json
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Hashable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from harness.stack import LambdaContext, sample_event
from session_service.domain.models import Session

if TYPE_CHECKING:
    from harness.domain import Domain, Services
    from harness.soft_authenticator import SoftAuthenticator
    from harness.stack import HttpAnswer, Stack
    from session_service.domain.accounts.account_changes import FactorChange
    from session_service.domain.models import ClientInfo
    from session_service.domain.sessions.session_records import IssuedTokens

PASSWORD = "correct horse battery"


# -- through the HTTP API (integration: the gateway in front of the functions, on moto) ---


def register(stack: Stack, username: str = "ada") -> str:
    answer = stack.http("POST", "/auth/register", {"username": username, "password": PASSWORD})
    assert answer.status == 201, answer.json()
    return str(answer.json()["user_id"])


def login(stack: Stack, username: str = "ada", **kwargs: Any) -> dict[str, Any]:
    answer = stack.http(
        "POST", "/auth/login", {"username": username, "password": PASSWORD}, **kwargs
    )
    assert answer.status == 200, answer.json()
    return dict(answer.json())


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def until_stale(stack: Stack, access_token: str) -> HttpAnswer:
    """Poll a route needing a recent sign-in until the token's sign-in is no longer
    recent (REAUTH_MAX_AGE_SECONDS); its 401."""
    import time  # noqa: PLC0415

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        answer = stack.http("DELETE", "/auth/sessions", headers=bearer(access_token))
        if answer.status == 401:
            return answer
        time.sleep(0.2)
    raise AssertionError("the sign-in stayed recent")


def assert_error(answer: HttpAnswer, status: int, code: str) -> None:
    assert answer.status == status, answer.json()
    body = answer.json()
    assert set(body) == {"error", "error_description"}
    assert body["error"] == code
    assert body["error_description"]


# -- functions invoked directly ----------------------------------------------------------


def authorizer_event(token: str | None, own_api: bool = False) -> dict[str, Any]:
    event = sample_event("authorizer/other-api-request.json")
    event["headers"] = {"authorization": f"Bearer {token}"} if token else {}
    if own_api:
        event["stageVariables"] = {"authorizerVerdict": "context"}
    return event


def authorize(stack: Stack, token: str | None, own_api: bool = False) -> Any:
    handler = stack.function("AuthorizerFunction").lambda_handler
    return handler(authorizer_event(token, own_api), LambdaContext())


def password_changed(user_id: str, changed_at: datetime) -> dict[str, Any]:
    event = sample_event("password_changed/from-external-directory.json")
    event["detail"] = {"user_id": user_id, "changed_at": changed_at.isoformat()}
    return event


def stream_records(stack: Stack, read: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Everything on the table's stream so far, as Lambda would deliver it; or, given
    `read` (each shard's last sequence number read, kept up to date), what came since."""
    streams = stack.clients("dynamodbstreams")
    arn = stack.template.names.attributes[("SessionTable", "StreamArn")]
    records: list[dict[str, Any]] = []
    positions = {} if read is None else read
    for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        shard_id = shard["ShardId"]
        where: dict[str, str] = {"ShardIteratorType": "TRIM_HORIZON"}
        if shard_id in positions:
            where = {
                "ShardIteratorType": "AFTER_SEQUENCE_NUMBER",
                "SequenceNumber": positions[shard_id],
            }
        iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard_id, **where)[
            "ShardIterator"
        ]
        while iterator:
            page = streams.get_records(ShardIterator=iterator)
            if not page["Records"]:
                break
            records.extend(page["Records"])
            positions[shard_id] = page["Records"][-1]["dynamodb"]["SequenceNumber"]
            iterator = page.get("NextShardIterator")
    return json.loads(json.dumps(records, default=_as_lambda_sees_it))  # type: ignore[no-any-return]


def _as_lambda_sees_it(value: Any) -> Any:
    """A stream record's value as its JSON event to Lambda has it: times as epoch
    seconds, binary as base64."""
    if isinstance(value, bytes):
        import base64  # noqa: PLC0415

        return base64.b64encode(value).decode()
    return value.timestamp()


# -- records -------------------------------------------------------------------------------


def a_session(user_id: str, created_at: int, idle_ms: int, absolute_ms: int) -> Session:
    """A session record as a store holds it: live for `idle_ms` from `created_at`."""
    return Session(
        user_id=user_id,
        session_id=str(uuid.uuid4()),
        created_at=created_at,
        last_used_at=created_at,
        idle_expires_at=created_at + idle_ms,
        absolute_expires_at=created_at + absolute_ms,
        ip="198.51.100.1",
        user_agent="pytest",
        refresh_digests=frozenset({"digest"}),
    )


# -- bursts --------------------------------------------------------------------------------


def burst[T: Hashable](count: int, action: Callable[[int], T]) -> Counter[T]:
    """`count` threads released together by one barrier, each running `action(index)`;
    how often each outcome came."""
    start = threading.Barrier(count)
    outcomes: list[T] = []
    lock = threading.Lock()

    def run(index: int) -> None:
        start.wait()
        outcome = action(index)
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return Counter(outcomes)


def outcome(action: Callable[[], object]) -> str:
    """What a call to the domain came to: "ok", or the name of the contract error."""
    from session_service.domain.errors import ServiceError  # noqa: PLC0415

    try:
        action()
    except ServiceError as error:
        return type(error).__name__
    return "ok"


# -- the domain (unit) ------------------------------------------------------------------------


def login_as(
    domain: Domain,
    username: str = "ada",
    password: str = "correct horse",  # noqa: S107 - the unit tests' password
    client: ClientInfo | None = None,
    device_token: str | None = None,
) -> IssuedTokens:
    from harness.domain import CLIENT  # noqa: PLC0415
    from session_service.domain.flows.password_flows import LoginRequest  # noqa: PLC0415

    request = LoginRequest(username, password, client or CLIENT, device_token=device_token)
    return domain.accounts.login(request)


def register_and_login(
    domain: Domain, username: str = "ada", client: ClientInfo | None = None
) -> IssuedTokens:
    from harness.domain import CLIENT  # noqa: PLC0415

    if username.lower() not in domain.store.credentials:
        domain.accounts.register(username, "correct horse", (client or CLIENT).ip)
    return login_as(domain, username, client=client)


def change_password(
    services: Services,
    issued: IssuedTokens,
    current: str,
    new: str,
    client: ClientInfo | None = None,
    amr: tuple[str, ...] | None = None,
) -> IssuedTokens:
    """The password change asked from the session `issued` (proved as it was, or as `amr`
    says)."""
    from harness.domain import CLIENT  # noqa: PLC0415
    from session_service.domain.flows.password_flows import PasswordChange  # noqa: PLC0415

    caller = factor_change(issued, amr=amr)
    change = PasswordChange(caller, issued.session.session_id, current, new, client or CLIENT)
    return services.accounts.change_password(change)


# -- the second factor (unit and store contract) -------------------------------------------


def totp_code(secret: str, at: float) -> str:
    """The code an authenticator app shows at `at` (RFC 6238, as the service checks it)."""
    import pyotp  # noqa: PLC0415

    return str(pyotp.TOTP(secret).at(at))


def factor_change(
    issued: IssuedTokens, username: str = "ada", amr: tuple[str, ...] | None = None
) -> FactorChange:
    """The session's user changing their second factors, proved as the session was (or as
    `amr` says: a step-up with a second factor)."""
    from session_service.domain.accounts.account_changes import FactorChange  # noqa: PLC0415

    return FactorChange(issued.session.user_id, username, amr or issued.session.amr, 900)


def enroll_totp(
    services: Services,
    issued: IssuedTokens,
    username: str = "ada",
    amr: tuple[str, ...] | None = None,
) -> tuple[str, list[str]]:
    """Turn TOTP on for the session's user; the secret and the recovery codes. The clock
    moves on a step, so that the next code is not the confirming one."""
    session_id = issued.session.session_id
    change = factor_change(issued, username, amr)
    setup = services.second_factors.begin_totp(change)
    codes = services.second_factors.confirm_totp(
        change, session_id, totp_code(setup.secret, services.clock())
    )
    services.clock.advance(30)
    return setup.secret, codes


# -- passkeys (unit and store contract) ----------------------------------------------------


def passkey_authenticator(synced: bool = False) -> SoftAuthenticator:
    """A software authenticator for the tests' relying party (harness.domain)."""
    from harness.domain import RELYING_PARTY  # noqa: PLC0415
    from harness.soft_authenticator import SoftAuthenticator  # noqa: PLC0415

    return SoftAuthenticator(RELYING_PARTY.rp_id, RELYING_PARTY.origins[0], synced=synced)


def add_passkey(
    services: Services,
    issued: IssuedTokens,
    authenticator: SoftAuthenticator,
    username: str = "ada",
    amr: tuple[str, ...] = ("hwk", "user"),
) -> str:
    """Register a passkey of `authenticator` for the session's user, from a session that
    proved a second factor (`amr`); its passkey_id."""
    change = factor_change(issued, username, amr)
    options = services.passkeys.registration_options(change)
    passkey = services.passkeys.register(change, authenticator.create(options), None)
    return passkey.passkey_id


def passkey_sign_in(
    services: Services,
    authenticator: SoftAuthenticator,
    username: str | None = None,
    client: ClientInfo | None = None,
    **assertion: Any,
) -> IssuedTokens:
    """Options (for `username`, or for any discoverable passkey), then the assertion."""
    from harness.domain import CLIENT  # noqa: PLC0415
    from session_service.domain.flows.passkey_sign_in import PasskeyLoginRequest  # noqa: PLC0415

    ceremony_id, options = services.passkeys.sign_in_options(username)
    credential = authenticator.get(options, **assertion)
    request = PasskeyLoginRequest(ceremony_id, credential, client or CLIENT)
    return services.passkey_sign_in.login(request)


# -- passkeys through the HTTP API -------------------------------------------------------


def http_add_passkey(
    stack: Stack, access_token: str, authenticator: SoftAuthenticator, name: str | None = None
) -> str:
    """Register a passkey of `authenticator` over HTTP; its passkey_id."""
    options = stack.http(
        "POST", "/auth/passkeys/registration/options", headers=bearer(access_token)
    )
    assert options.status == 200, options.json()
    body: dict[str, Any] = {"credential": authenticator.create(options.json()["options"])}
    if name is not None:
        body["name"] = name
    created = stack.http("POST", "/auth/passkeys", body, headers=bearer(access_token))
    assert created.status == 201, created.json()
    return str(created.json()["passkey_id"])


def http_passkey_sign_in(
    stack: Stack, authenticator: SoftAuthenticator, username: str | None = None, **assertion: Any
) -> Any:
    """Sign in with a passkey over HTTP: options, then the assertion; the answer."""
    asked = stack.http(
        "POST",
        "/auth/passkeys/authentication/options",
        {"username": username} if username else None,
    )
    assert asked.status == 200, asked.json()
    credential = authenticator.get(asked.json()["options"], **assertion)
    return stack.http(
        "POST",
        "/auth/passkeys/authentication",
        {"ceremony_id": asked.json()["ceremony_id"], "credential": credential},
    )


# -- the admin API (signed with the credentials the local run or stack accepts) -----------


def admin_headers(
    method: str, path: str, secret_key: str | None = None, host: str = "127.0.0.1:3000"
) -> dict[str, str]:
    """SigV4 headers for an admin request, signed as the admin CLI signs it, with the
    environment's credentials (the ones the stack or local run accepts) unless another
    secret is given."""
    import os  # noqa: PLC0415

    from botocore.credentials import Credentials  # noqa: PLC0415

    from local_run.sigv4 import signed_headers  # noqa: PLC0415

    secret = secret_key or os.environ["AWS_SECRET_ACCESS_KEY"]
    credentials = Credentials(os.environ["AWS_ACCESS_KEY_ID"], secret)
    url = f"http://{host}{path}"
    return signed_headers(method, url, b"", credentials, "us-east-1", {"host": host})


def emf_metrics(printed: str) -> dict[str, float]:
    """The metric values of the EMF lines a function printed."""
    found: dict[str, float] = {}
    for line in printed.splitlines():
        if '"_aws"' not in line:
            continue
        document = json.loads(line)
        for directive in document["_aws"]["CloudWatchMetrics"]:
            for metric in directive["Metrics"]:
                name = metric["Name"]
                value = document[name]  # (a list when the metric was added more than once)
                values = value if isinstance(value, list) else [value]
                found[name] = found.get(name, 0) + sum(float(v) for v in values)
    return found


def serialize_aws_calls(monkeypatch: Any) -> None:
    """moto in process is not safe for concurrent requests; its server in the local run
    applies them one at a time (local_run/emulator.py), and so do bursts with this."""
    import threading  # noqa: PLC0415

    from botocore.client import BaseClient  # noqa: PLC0415

    lock = threading.Lock()
    original = BaseClient._make_api_call

    def one_at_a_time(client: BaseClient, operation: str, params: Any) -> Any:
        with lock:
            return original(client, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", one_at_a_time)
