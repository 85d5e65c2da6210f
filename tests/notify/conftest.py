"""Shared parts of the notification tests: a recording channel, a desk with a customer,
and the loopback receivers (SMTP, HTTP), started once per session and reset before each
test."""

from __future__ import annotations

import pathlib
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest

from casekit import Account, Actor, Contact, DeliveryFailed, Desk, ManualClock
from casekit.notify import Message, NotificationRules, Notifications
from tests.notify.receivers import HttpReceiver, SmtpServers, http_receiver, smtp_servers
from tests.postgres import pg_schema, pg_session_schema, pg_url  # noqa: F401 - fixtures

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday
AGENT = Actor.agent("ann", roles={"agent"})
SYSTEM = Actor.system()


class Recorder:
    """A channel that records what it is asked to send, dedupes by key, and fails on
    demand (``failures``: a list of exceptions raised by the next sends, in order)."""

    address_kind = "email"

    def __init__(self, name: str = "email", address_kind: str = "email") -> None:
        self.name = name
        self.address_kind = address_kind
        self.sent: list[Message] = []
        self.keys: set[str] = set()
        self.duplicates = 0
        self.failures: list[Exception] = []
        self.calls = 0
        self._lock = threading.Lock()
        self.check: Callable[[str], None] = lambda address: None

    def check_address(self, address: str) -> None:
        self.check(address)

    def send(self, message: Message) -> None:
        with self._lock:
            self.calls += 1
            if self.failures:
                raise self.failures.pop(0)
            if message.dedupe_key in self.keys:
                self.duplicates += 1
                return
            self.keys.add(message.dedupe_key)
            self.sent.append(message)

    def by_kind(self, kind: str) -> list[Message]:
        return [message for message in self.sent if message.kind == kind]


def permanent(reason: str = "550 no such user") -> DeliveryFailed:
    return DeliveryFailed("email", reason, permanent=True)


def transient(reason: str = "451 try later") -> DeliveryFailed:
    return DeliveryFailed("email", reason, permanent=False)


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def url(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> str:
    if request.param == "postgres":
        return f"{request.getfixturevalue('pg_url')}?schema={request.getfixturevalue('pg_schema')}"
    return "memory://" if request.param == "memory" else f"sqlite:///{tmp_path / 'cases.db'}"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def email() -> Recorder:
    return Recorder()


def make_desk(
    url: str,
    clock: ManualClock,
    channels: list[Recorder],
    settings: Notifications | None = None,
    **options: object,
) -> Desk:
    settings = settings or Notifications(
        NotificationRules.standard(),
        links={"case": "https://help.example.com/cases/{case_id}"},
    )
    desk = Desk.open(
        url,
        clock=clock,
        discover=False,
        notifications=settings,
        channels=channels,
        **options,  # type: ignore[arg-type]
    )
    desk.save_account(Account(id="acme", name="ACME"))
    desk.save_contact(
        Contact(id="zoe", account_id="acme", name="Zoé Martin", email="zoe@example.com")
    )
    desk.save_contact(Contact(id="max", account_id="acme", name="Max", email=None))
    return desk


@pytest.fixture
def desk(url: str, clock: ManualClock, email: Recorder) -> Iterator[Desk]:
    with make_desk(url, clock, [email]) as d:
        yield d


@pytest.fixture(scope="session")
def _smtp_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmtpServers]:
    with smtp_servers(tmp_path_factory.mktemp("smtp-tls")) as servers:
        yield servers


@pytest.fixture
def smtp(_smtp_session: SmtpServers) -> SmtpServers:
    _smtp_session.receiver.reset()
    return _smtp_session


@pytest.fixture(scope="session")
def _http_session() -> Iterator[HttpReceiver]:
    with http_receiver() as receiver:
        yield receiver


@pytest.fixture
def http(_http_session: HttpReceiver) -> HttpReceiver:
    _http_session.reset()
    return _http_session
