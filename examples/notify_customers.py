"""A help desk host that tells its customers and agents what happens to their cases.

The host keeps its notification rules and its customers' preferences as data (TOML), and
sends through a signed webhook to its own messaging service (here a small HTTP server
on loopback that checks the signature and deduplicates, as a real receiver would). Its
scheduler calls ``desk.deliver()`` like ``desk.tick()``; a failing receiver is retried,
a refusing one dead-letters the message, and everything is on record.

Run it: ``python examples/notify_customers.py``.
"""

from __future__ import annotations

import json
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from casekit import Account, Actor, Contact, Desk, ManualClock
from casekit.notify import (
    AddressBook,
    NotificationRules,
    Notifications,
    Preferences,
    WebhookChannel,
    verify_signature,
)

SECRET = "the-host-and-its-messaging-service-share-this"  # noqa: S105 - an example

RULES = """
[[rules]]
name = "acknowledge"
on = "case.opened"
kind = "case.acknowledged"
to = "customer"
channel = "messages"

[[rules]]
name = "resolved"
on = "case.state_changed"
kind = "case.resolved"
to = "customer"
channel = "messages"
match = { new = "resolved" }

[[rules]]
name = "urgent-assigned"
on = "case.assigned"
kind = "case.assigned"
to = "assignee"
channel = "messages"
when = { priorities = ["critical", "high"] }
"""

PREFERENCES = """
[recipients."contact:amelie"]
locale = "fr"
zone = "Europe/Paris"
"""


class Receiver(BaseHTTPRequestHandler):
    """The host's messaging service: checks signatures, deduplicates, keeps messages."""

    received: list[dict[str, Any]] = []  # noqa: RUF012 - shared by the handler instances
    seen: set[str] = set()  # noqa: RUF012
    fail_next = 0

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        key = self.headers["Idempotency-Key"]
        signature = self.headers["X-Casekit-Signature"]
        if not verify_signature(SECRET, body, signature, idempotency_key=key, now=NOW[0]):
            self._answer(401)
        elif Receiver.fail_next:
            Receiver.fail_next -= 1
            self._answer(503)
        else:
            if key not in Receiver.seen:
                Receiver.seen.add(key)
                Receiver.received.append(json.loads(body))
            self._answer(200)

    def _answer(self, status: int) -> None:
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        """Quiet."""


NOW = [datetime(2026, 3, 2, 9, 0, tzinfo=UTC)]  # the receiver checks freshness against it


@contextmanager
def messaging_service() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/messages"
    finally:
        server.shutdown()
        server.server_close()


def main() -> None:
    clock = ManualClock(NOW[0])
    with messaging_service() as url, tempfile.TemporaryDirectory() as folder:
        channel = WebhookChannel(url, SECRET, name="messages", clock=clock, timeout=5)
        settings = Notifications(
            NotificationRules.from_toml(RULES),
            preferences=Preferences.from_toml(PREFERENCES),
            addresses=AddressBook({"agent:ana": {"any": "ana", "name": "Ana"}}),
            links={"case": "https://help.example.com/cases/{case_id}"},
        )
        url_db = f"sqlite:///{Path(folder) / 'desk.db'}"
        with Desk.open(url_db, clock=clock, notifications=settings, channels=[channel]) as desk:
            desk.save_account(Account(id="acme", name="ACME"))
            desk.save_contact(Contact(id="amelie", account_id="acme", name="Amélie", email="a@x"))
            system, ana = Actor.system(), Actor.agent("ana")

            case = desk.open_case(
                actor=system, subject="Facture en double", account_id="acme",
                contact_id="amelie", priority="high",
            )  # fmt: skip
            desk.assign(case.id, actor=system, agent="ana", group="billing")

            Receiver.fail_next = 1  # the messaging service is briefly down
            first = desk.deliver()
            print(f"first run: {first.delivered} delivered, {first.retrying} to retry")
            clock.advance(timedelta(minutes=1))
            NOW[0] = clock.now()
            second = desk.deliver()
            print(f"a minute later: {second.delivered} delivered")

            desk.resolve(case.id, actor=ana, code="refunded", notes="Le doublon est remboursé.")
            desk.deliver()

            for message in Receiver.received:
                print(f"  -> {message['recipient']} : {message['subject']}")
            assert desk.notifications is not None
            print("attempts on record:")
            for attempt in desk.notifications.attempts(case_id=case.id):
                error = f" ({attempt.error})" if attempt.error else ""
                print(f"  {attempt.entry_id} #{attempt.number} {attempt.outcome.value}{error}")


if __name__ == "__main__":
    main()
