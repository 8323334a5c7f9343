"""The e-mail capability wired as mail_wiring.py wires it, over any store (the unit tests'
in memory, the store contract suite's DynamoDB), on the services' fixed clock with a fixed
code key, and a mailer whose sender records what it would have sent."""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.domain import (
    DEFAULT_POLICY,
    SECOND_FACTOR_KEYS,
    THROTTLE,
    Domain,
    Services,
    build_domain,
)
from harness.fakes import InMemoryStore
from harness.memory_email import InMemoryEmailStore
from session_service.adapters.email_store import DynamoEmailStore
from session_service.adapters.mail_items import mail_request_from_item
from session_service.adapters.store import DynamoSessionStore
from session_service.domain.accounts.account_changes import FactorChange
from session_service.domain.email.dispatch import MailDispatch, MailerPolicy
from session_service.domain.email.mail import MailRequest, MailTemplate, OutgoingMail
from session_service.domain.email.policy import EmailPolicy, MailThrottle
from session_service.domain.email.records import EmailStore
from session_service.domain.email.verified_addresses import VerifiedAddresses
from session_service.domain.flows.email_sign_in import EmailSignIn
from session_service.domain.flows.recovery import PasswordRecovery
from session_service.domain.ports import SessionStore
from session_service.domain.sessions.session_records import SessionPolicy
from session_service.domain.throttling.login_throttle import ThrottlePolicy

# E-mail on, sign-in by code on, the contract's defaults otherwise.
EMAIL_ON = EmailPolicy(enabled=True, sign_in=True)
# What the mailer's codes are keyed with (deployed: derived from the second-factor secret).
CODE_KEY = SECOND_FACTOR_KEYS.code_key
LINK_URL = "https://app.example.test/reset"
REAUTH_MAX_AGE = 900


class RecordingMailSender:
    """A MailSender that keeps what it was given, in order."""

    def __init__(self) -> None:
        self.sent: list[OutgoingMail] = []

    def send(self, mail: OutgoingMail) -> None:
        self.sent.append(mail)

    def last(self, to: str, template: MailTemplate) -> OutgoingMail:
        """The newest message of `template` sent to `to`."""
        found = [m for m in self.sent if m.to == to and m.template == template]
        assert found, f"no {template} was sent to {to}"
        return found[-1]


@dataclass
class EmailServices:
    """The e-mail flows and the mailer over one backend's stores."""

    policy: EmailPolicy
    store: EmailStore
    addresses: VerifiedAddresses
    recovery: PasswordRecovery
    sign_in: EmailSignIn
    dispatch: MailDispatch
    sender: RecordingMailSender
    # The mail requests the mailer was given already (deliver() gives it the others).
    delivered: set[str] = field(default_factory=set)

    def deliver(self) -> list[OutgoingMail]:
        """Run the mailer over every request recorded since the last delivery, as the
        table's stream would feed it; what it sent."""
        before = len(self.sender.sent)
        for request in mail_requests(self.store):
            if request.request_id not in self.delivered:
                self.delivered.add(request.request_id)
                self.dispatch.dispatch(request)
        return self.sender.sent[before:]


def mail_requests(store: EmailStore) -> list[MailRequest]:
    """The mail requests a backend holds, oldest first."""
    if isinstance(store, InMemoryEmailStore):
        return list(store.store.mail_requests.values())
    assert isinstance(store, DynamoEmailStore)
    items = store._db.scan(
        TableName=store._table,
        FilterExpression="kind = :kind",
        ExpressionAttributeValues={":kind": {"S": "mail_request"}},
        ConsistentRead=True,
    )["Items"]
    return sorted((mail_request_from_item(i) for i in items), key=lambda r: r.requested_at)


def email_store_over(store: SessionStore) -> EmailStore:
    """The e-mail store beside a backend's session store (sharing its state or table)."""
    if isinstance(store, InMemoryStore):
        return InMemoryEmailStore(store)
    assert isinstance(store, DynamoSessionStore)
    return DynamoEmailStore(store._db, store._table)


def build_email_services(
    services: Services, store: SessionStore, email_store: EmailStore, policy: EmailPolicy = EMAIL_ON
) -> EmailServices:
    throttle = MailThrottle(services.throttle, policy)
    sender = RecordingMailSender()
    mailer = MailerPolicy(policy.reset_ttl_seconds, policy.code_ttl_seconds, LINK_URL)
    return EmailServices(
        policy=policy,
        store=email_store,
        addresses=VerifiedAddresses(
            email_store, store, policy, throttle, lambda: CODE_KEY, clock=services.clock
        ),
        recovery=PasswordRecovery(
            store,
            email_store,
            policy,
            throttle,
            services.sessions,
            hash_password=services.passwords.hash,
            second_factors=lambda: services.second_factors,
            passkeys=lambda: services.passkeys,
            proofs=services.proofs,
            accounts=services.accounts,
        ),
        sign_in=EmailSignIn(
            store,
            email_store,
            policy,
            throttle,
            services.sessions,
            second_factors=lambda: services.second_factors,
            proofs=services.proofs,
            code_key=lambda: CODE_KEY,
            accounts=services.accounts,
        ),
        dispatch=MailDispatch(
            store, email_store, sender, mailer, lambda: CODE_KEY, clock=services.clock
        ),
        sender=sender,
    )


@dataclass
class EmailDomain(Domain):
    """The in-memory domain with e-mail: `email` over `email_store`."""

    email_store: InMemoryEmailStore
    email: EmailServices


def build_email_domain(
    policy: EmailPolicy = EMAIL_ON,
    sessions: SessionPolicy = DEFAULT_POLICY,
    throttle: ThrottlePolicy = THROTTLE,
) -> EmailDomain:
    """build_domain's domain, with e-mail as `policy` says."""
    base = build_domain(sessions, throttle=throttle)
    email_store = InMemoryEmailStore(base.store)
    email = build_email_services(base, base.store, email_store, policy)
    return EmailDomain(**vars(base), email_store=email_store, email=email)


# -- steps the tests share -------------------------------------------------------------


def owner_change(
    user_id: str, username: str = "ada", amr: tuple[str, ...] = ("pwd",)
) -> FactorChange:
    """The user's own change, from a session proved as `amr`."""
    return FactorChange(user_id, username, amr, REAUTH_MAX_AGE)


def mailed_code(email: EmailServices, to: str, template: MailTemplate) -> str:
    """Deliver what is waiting; the code of the newest `template` message to `to`."""
    email.deliver()
    return email.sender.last(to, template).values["code"]


def mailed_token(email: EmailServices, to: str) -> str:
    """Deliver what is waiting; the reset token of the newest link mailed to `to`."""
    email.deliver()
    link = email.sender.last(to, "password_reset").values["link"]
    base, _, token = link.partition("#token=")
    assert base == LINK_URL, link
    assert token, link
    return token


def verify_address(
    email: EmailServices, user_id: str, address: str, username: str = "ada", ip: str = "203.0.113.7"
) -> None:
    """Make `address` the user's verified one: ask, read the mailed code, enter it."""
    change = owner_change(user_id, username)
    email.addresses.request_verification(change, address, ip)
    email.addresses.verify(change, mailed_code(email, address, "verify_email"))
