"""Every built-in channel passes the channel conformance suite against a real receiver."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence

import pytest

from casekit.notify import (
    AppriseChannel,
    LogChannel,
    MemoryChannel,
    SmtpChannel,
    WebhookChannel,
    chat_webhook,
    sms_webhook,
)
from casekit.notify.channels import SECURITY_MODES
from casekit.testing import ChannelConformance, Received
from tests.notify.receivers import SECRET, HttpReceiver, SmtpServers

Fail = Callable[[bool], None]
Got = Callable[[], Sequence[Received]]


class TestLogChannel(ChannelConformance):
    dedupes = False

    @pytest.fixture
    def channel(self) -> LogChannel:
        return LogChannel(logger="casekit.notify.conformance")

    @pytest.fixture
    def address(self) -> str:
        return "ana@example.com"

    @pytest.fixture
    def invalid_address(self) -> str:
        return ""

    @pytest.fixture
    def received(self, caplog: pytest.LogCaptureFixture) -> Got:
        caplog.set_level(logging.INFO, logger="casekit.notify.conformance")

        def got() -> list[Received]:
            out = []
            for record in caplog.records:
                if record.name != "casekit.notify.conformance":
                    continue
                line = record.getMessage()
                key = re.search(r"\[dedupe_key=(\S+) attempt=", line)
                out.append(Received(text=line, dedupe_key=key.group(1) if key else None))
            return out

        return got


class TestMemoryChannel(ChannelConformance):
    dedupes = True

    @pytest.fixture
    def channel(self) -> MemoryChannel:
        return MemoryChannel()

    @pytest.fixture
    def address(self) -> str:
        return "contact:ana"

    @pytest.fixture
    def invalid_address(self) -> str:
        return "ana\n"

    @pytest.fixture
    def received(self, channel: MemoryChannel) -> Got:
        return lambda: [
            Received(m.text, subject=m.subject, address=m.address, dedupe_key=m.dedupe_key)
            for m in channel.sent
        ]

    @pytest.fixture
    def make_failing(self, channel: MemoryChannel) -> Fail:
        return lambda permanent: channel.fail_next(100, permanent=permanent)


class SmtpConformance(ChannelConformance):
    dedupes = True  # the receiver keeps one mail per Message-ID
    security = "none"

    @pytest.fixture
    def channel(self, smtp: SmtpServers) -> SmtpChannel:
        port = smtp.tls_port if self.security == "ssl" else smtp.plain_port
        return SmtpChannel(
            "127.0.0.1",
            port=port,
            security=self.security,
            sender="support@casekit.test",
            timeout=2,
            ssl_context=smtp.client_context,
        )

    @pytest.fixture
    def address(self) -> str:
        return "ana@example.com"

    @pytest.fixture
    def invalid_address(self) -> str:
        return "not an address"

    @pytest.fixture
    def received(self, smtp: SmtpServers) -> Got:
        def got() -> list[Received]:
            out = []
            for mail in smtp.receiver.mails:
                body = mail.get_body(("plain",))
                assert body is not None
                out.append(
                    Received(
                        str(body.get_content()),
                        subject=str(mail["Subject"]),
                        address=str(mail["To"]),
                        dedupe_key=str(mail["X-Casekit-Dedupe-Key"]),
                    )
                )
            return out

        return got

    @pytest.fixture
    def make_failing(self, smtp: SmtpServers) -> Fail:
        def fail(permanent: bool) -> None:
            if permanent:
                smtp.receiver.rcpt_answer = "550 5.1.1 mailbox unavailable"
            else:
                smtp.receiver.data_answer = "451 4.3.0 try again later"

        return fail


class TestSmtpChannelPlain(SmtpConformance):
    security = "none"


class TestSmtpChannelStartTls(SmtpConformance):
    security = "starttls"


class TestSmtpChannelSsl(SmtpConformance):
    security = "ssl"


def test_every_security_mode_is_tested() -> None:
    tested = {
        cls.security for cls in (TestSmtpChannelPlain, TestSmtpChannelStartTls, TestSmtpChannelSsl)
    }
    assert tested == set(SECURITY_MODES)


class WebhookConformance(ChannelConformance):
    dedupes = True  # the receiver keeps one request per Idempotency-Key

    @pytest.fixture
    def make_failing(self, http: HttpReceiver) -> Fail:
        def fail(permanent: bool) -> None:
            http.status = 400 if permanent else 503

        return fail


class TestWebhookChannel(WebhookConformance):
    @pytest.fixture
    def channel(self, http: HttpReceiver) -> WebhookChannel:
        return WebhookChannel(http.url, SECRET, timeout=2)

    @pytest.fixture
    def address(self) -> str:
        return "ana@example.com"

    @pytest.fixture
    def invalid_address(self) -> str:
        return " "

    @pytest.fixture
    def received(self, http: HttpReceiver) -> Got:
        return lambda: [
            Received(
                r.json["text"],
                subject=r.json["subject"],
                address=r.json["address"],
                dedupe_key=r.headers["Idempotency-Key"],
            )
            for r in http.requests
        ]


class TestSmsWebhook(WebhookConformance):
    max_text_length = 480

    @pytest.fixture
    def channel(self, http: HttpReceiver) -> WebhookChannel:
        return sms_webhook(http.url, SECRET, max_length=480, timeout=2)

    @pytest.fixture
    def address(self) -> str:
        return "+33 6 12 34 56 78"

    @pytest.fixture
    def invalid_address(self) -> str:
        return "0612345678"

    def same_address(self, sent: str, got: str) -> bool:
        return sent.replace(" ", "") == got

    @pytest.fixture
    def received(self, http: HttpReceiver) -> Got:
        return lambda: [
            Received(r.json["text"], address=r.json["to"], dedupe_key=r.headers["Idempotency-Key"])
            for r in http.requests
        ]


class TestChatWebhook(WebhookConformance):
    @pytest.fixture
    def channel(self, http: HttpReceiver) -> WebhookChannel:
        return chat_webhook(http.url, SECRET, timeout=2)

    @pytest.fixture
    def address(self) -> str:
        return "#support"

    @pytest.fixture
    def invalid_address(self) -> str:
        return "two words"

    @pytest.fixture
    def received(self, http: HttpReceiver) -> Got:
        return lambda: [
            Received(
                r.json["text"], address=r.json["channel"], dedupe_key=r.headers["Idempotency-Key"]
            )
            for r in http.requests
        ]


class TestAppriseChannel(ChannelConformance):
    carries_dedupe_key = False

    @pytest.fixture
    def channel(self, http: HttpReceiver) -> AppriseChannel:
        http.require_signature = False
        return AppriseChannel()

    @pytest.fixture
    def address(self, http: HttpReceiver) -> str:
        return f"json://127.0.0.1:{http.port}/hook?cto=1&rto=1"

    @pytest.fixture
    def invalid_address(self) -> str:
        return "nosuchservice://x"

    @pytest.fixture
    def received(self, http: HttpReceiver) -> Got:
        return lambda: [Received(r.json["message"], subject=r.json["title"]) for r in http.requests]

    @pytest.fixture
    def make_failing(self, http: HttpReceiver) -> Fail:
        def fail(permanent: bool) -> None:
            if permanent:
                pytest.skip("apprise reports every failure alike: all are transient")
            http.status = 503

        return fail
