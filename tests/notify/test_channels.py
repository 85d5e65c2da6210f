"""The built-in channels beyond the conformance suite: configuration, e-mail and HTTP
details, every failure class, signatures."""

from __future__ import annotations

import logging
import ssl
import sys
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pytest

from casekit import DeliveryFailed, InvalidAddress, InvalidValue, ManualClock, NaiveDatetimeError
from casekit._plugins import Plugins
from casekit.notify import (
    AppriseChannel,
    ChannelRegistry,
    LogChannel,
    MemoryChannel,
    Message,
    SmtpChannel,
    WebhookChannel,
    chat_webhook,
    sms_webhook,
    verify_signature,
)
from casekit.notify.channels import idempotency_key, message_id_for, sign
from casekit.testing.channels import make_message
from tests.notify.receivers import (
    PASSWORD,
    SECRET,
    USER,
    HttpReceiver,
    SmtpServers,
    free_port,
    silent_server,
)

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def smtp_channel(smtp: SmtpServers, **options: Any) -> SmtpChannel:
    settings: dict[str, Any] = {
        "port": smtp.plain_port,
        "security": "none",
        "sender": "support@casekit.test",
        "timeout": 2,
        "ssl_context": smtp.client_context,
    }
    settings.update(options)
    return SmtpChannel("127.0.0.1", **settings)


def failure(channel: Any, message: Message) -> DeliveryFailed:
    with pytest.raises(DeliveryFailed) as info:
        channel.send(message)
    return info.value


# --- registration ---------------------------------------------------------------------


def test_the_builtin_plugin_registers_only_the_log_channel() -> None:
    registry = ChannelRegistry()
    Plugins((), discover=False).register_channels(registry, desk=None)  # type: ignore[arg-type]
    assert registry.names == ["log"]
    assert isinstance(registry.get("log"), LogChannel)


# --- configuration ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "where"),
    [
        (lambda: LogChannel(""), "name"),
        (lambda: LogChannel(logger=""), "logger"),
        (lambda: LogChannel(level=15), "level"),
        (lambda: MemoryChannel("two words"), "name"),
        (lambda: MemoryChannel(address_kind="fax"), "address_kind"),
        (lambda: SmtpChannel("", sender="a@b.test"), "host"),
        (lambda: SmtpChannel("mail", sender="a@b.test", port=0), "port"),
        (lambda: SmtpChannel("mail", sender="a@b.test", port=True), "port"),
        (lambda: SmtpChannel("mail", sender="a@b.test", security="tls"), "security"),
        (lambda: SmtpChannel("mail", sender="not an address"), "sender"),
        (lambda: SmtpChannel("mail", sender="Ana <a@b.test>"), "sender"),
        (lambda: SmtpChannel("mail", sender="a@b.test", username="u"), "username"),
        (lambda: SmtpChannel("mail", sender="a@b.test", timeout=0), "timeout"),
        (lambda: SmtpChannel("mail", sender="a@b.test", timeout=float("inf")), "timeout"),
        (lambda: SmtpChannel("mail", sender="a@b.test", ssl_context=object()), "ssl_context"),  # type: ignore[arg-type]
        (lambda: WebhookChannel("ftp://h/x", SECRET), "url"),
        (lambda: WebhookChannel("https:///x", SECRET), "url"),
        (lambda: WebhookChannel("https://u:p@h/x", SECRET), "url"),
        (lambda: WebhookChannel("https://h:99999/x", SECRET), "url"),
        (lambda: WebhookChannel("https://h/x#frag", SECRET), "url"),
        (lambda: WebhookChannel("https://h/x", "short"), "secret"),
        (lambda: WebhookChannel("https://h/x", SECRET, timeout=-1), "timeout"),
        (lambda: WebhookChannel("https://h/x", SECRET, headers={"Bad Name": "x"}), "headers"),
        (lambda: WebhookChannel("https://h/x", SECRET, headers={"X-A": "a\r\nB: c"}), "headers"),
        (lambda: WebhookChannel("https://h/x", SECRET, address_kind="fax"), "address_kind"),
        (lambda: WebhookChannel("https://h/x", SECRET, payload="full"), "payload"),  # type: ignore[arg-type]
        (lambda: WebhookChannel("https://h/x", SECRET, clock="system"), "clock"),  # type: ignore[arg-type]
        (lambda: sms_webhook("https://h/x", SECRET, max_length=1), "max_length"),
        (lambda: chat_webhook("https://h/x", SECRET, field="room"), "field"),
        (lambda: AppriseChannel("json://h/x"), "urls"),
        (lambda: AppriseChannel(["nosuchservice://x"]), "urls[0]"),
    ],
)
def test_bad_configuration_names_the_argument(make: Any, where: str) -> None:
    with pytest.raises(InvalidValue) as info:
        make()
    assert info.value.where.startswith(where.split("[", maxsplit=1)[0])
    assert where in {info.value.where, "headers"}


def test_smtp_default_ports_follow_the_security_mode() -> None:
    ports = {
        mode: SmtpChannel("mail", sender="a@b.test", security=mode).port
        for mode in ("none", "starttls", "ssl")
    }
    assert ports == {"none": 25, "starttls": 587, "ssl": 465}


def test_apprise_missing_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "apprise", None)
    with pytest.raises(InvalidValue, match=r"pip install 'casekit\[apprise\]'"):
        AppriseChannel()


def test_apprise_with_configured_urls_takes_any_address(http: HttpReceiver) -> None:
    http.require_signature = False
    channel = AppriseChannel([f"json://127.0.0.1:{http.port}/hook"], name="ops")
    assert channel.address_kind == "any"
    channel.check_address("supervisors")
    channel.send(make_message("supervisors", channel="ops"))
    assert http.requests[0].json["title"] == "Your case CS0000001 was resolved"
    assert "json://" not in repr(channel)


# --- addresses --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "not an address",
        "Ana <ana@example.com>",
        "ana@example.com\r\nBcc: eve@example.com",
        "ana@example.com, eve@example.com",
        "ana@@example.com",
        "@example.com",
        "ana@",
        "",
    ],
)
def test_smtp_refuses_what_is_not_one_bare_address(address: str) -> None:
    channel = SmtpChannel("mail", sender="support@casekit.test")
    with pytest.raises(InvalidAddress) as info:
        channel.check_address(address)
    assert info.value.where == "email.address"


@pytest.mark.parametrize(
    ("address", "ok"),
    [("+33612345678", True), ("+1 (415) 555-0100", True), ("+44.20.7946.0958", True),
     ("0612345678", False), ("+0612345678", False), ("+12", False), ("+1234567890123456", False),
     ("+33 6 12 34 56 78 ext 3", False)],
)  # fmt: skip
def test_sms_addresses_are_international_numbers(address: str, ok: bool) -> None:
    channel = sms_webhook("https://sms.example/send", SECRET)
    if ok:
        channel.check_address(address)
    else:
        with pytest.raises(InvalidAddress):
            channel.check_address(address)


# --- e-mail -----------------------------------------------------------------------------


def test_smtp_sends_text_and_html_alternatives_with_dedupe_headers(smtp: SmtpServers) -> None:
    channel = smtp_channel(smtp)
    message = make_message("ana@example.com", html="<p>Hello <b>Ana</b></p>", locale="fr")
    channel.send(message)
    (mail,) = smtp.receiver.mails
    assert mail.get_content_type() == "multipart/alternative"
    plain, html = mail.get_body(("plain",)), mail.get_body(("html",))
    assert plain is not None
    assert html is not None
    assert "<b>Ana</b>" in html.get_content()
    assert mail["Message-ID"] == message_id_for(message.dedupe_key, "casekit.test")
    assert mail["X-Casekit-Dedupe-Key"] == message.dedupe_key
    assert mail["Content-Language"] == "fr"
    assert mail["X-Casekit-Case"] == "CS0000001"
    assert smtp.receiver.envelopes == [("support@casekit.test", ["ana@example.com"])]


def test_smtp_text_only_is_a_single_part(smtp: SmtpServers) -> None:
    smtp_channel(smtp).send(make_message("ana@example.com"))
    assert smtp.receiver.mails[0].get_content_type() == "text/plain"


def test_message_id_is_stable_per_key_and_distinct_between_keys() -> None:
    assert message_id_for("k1", "x.test") == message_id_for("k1", "x.test")
    assert message_id_for("k1", "x.test") != message_id_for("k2", "x.test")


def test_a_retry_reaches_a_deduping_mail_system_once(smtp: SmtpServers) -> None:
    channel = smtp_channel(smtp)
    message = make_message("ana@example.com")
    for attempt in (1, 2, 3):
        channel.send(make_message("ana@example.com", attempt=attempt))
    assert len(smtp.receiver.mails) == 1
    assert smtp.receiver.duplicates == 2
    assert smtp.receiver.mails[0]["Message-ID"] == message_id_for(
        message.dedupe_key, "casekit.test"
    )


def test_a_subject_with_line_breaks_cannot_inject_headers(smtp: SmtpServers) -> None:
    smtp_channel(smtp).send(make_message("ana@example.com", subject="Hi\r\nBcc: eve@evil.test"))
    (mail,) = smtp.receiver.mails
    assert mail["Bcc"] is None
    assert mail["Subject"] == "Hi Bcc: eve@evil.test"
    assert smtp.receiver.envelopes[0][1] == ["ana@example.com"]


def test_smtp_login_over_starttls(smtp: SmtpServers) -> None:
    smtp_channel(smtp, security="starttls", username=USER, password=PASSWORD).send(
        make_message("ana@example.com")
    )
    assert len(smtp.receiver.mails) == 1


@pytest.mark.parametrize(
    ("answer", "stage", "permanent"),
    [
        ("451 4.3.0 try again later", "data", False),
        ("421 4.7.0 too busy", "data", False),
        ("554 5.6.0 message refused", "data", True),
        ("550 5.1.1 no such user", "rcpt", True),
        ("450 4.2.0 mailbox busy", "rcpt", True),  # refused recipients: never retried
    ],
)
def test_smtp_answers_decide_permanence(
    smtp: SmtpServers, answer: str, stage: str, permanent: bool
) -> None:
    setattr(smtp.receiver, f"{stage}_answer", answer)
    error = failure(smtp_channel(smtp), make_message("ana@example.com"))
    assert error.permanent is permanent
    assert answer.split(maxsplit=1)[0] in error.reason
    assert error.channel == "email"


def test_smtp_connection_refused_is_transient() -> None:
    channel = SmtpChannel("127.0.0.1", port=free_port(), security="none", sender="a@b.test")
    assert not failure(channel, make_message("ana@example.com")).permanent


def test_smtp_silent_server_times_out_transiently() -> None:
    with silent_server() as port:
        channel = SmtpChannel(
            "127.0.0.1", port=port, security="none", sender="a@b.test", timeout=0.2
        )
        error = failure(channel, make_message("ana@example.com"))
    assert not error.permanent
    assert "timed out" in error.reason


def test_smtp_ssl_to_a_plain_server_is_transient(smtp: SmtpServers) -> None:
    assert not failure(
        smtp_channel(smtp, security="ssl"), make_message("ana@example.com")
    ).permanent


def test_smtp_untrusted_certificate_is_transient(smtp: SmtpServers) -> None:
    channel = smtp_channel(smtp, security="starttls", ssl_context=ssl.create_default_context())
    error = failure(channel, make_message("ana@example.com"))
    assert not error.permanent
    assert "CERTIFICATE_VERIFY_FAILED" in error.reason


def test_smtp_invalid_address_at_send_is_permanent(smtp: SmtpServers) -> None:
    assert failure(smtp_channel(smtp), make_message("Ana <ana@example.com>")).permanent
    assert smtp.receiver.mails == []


# --- webhooks ---------------------------------------------------------------------------


def test_webhook_posts_the_whole_message_signed(http: HttpReceiver) -> None:
    http.require_signature = False  # signed at NOW, long ago: checked below
    clock = ManualClock(NOW)
    channel = WebhookChannel(
        http.url + "?tenant=acme", SECRET, clock=clock, headers={"Authorization": "Bearer t"}
    )
    message = make_message("ana@example.com", html="<p>hi</p>", attempt=3)
    channel.send(message)
    (request,) = http.requests
    assert request.path == "/hook?tenant=acme"
    assert request.json == {
        "id": message.id,
        "dedupe_key": message.dedupe_key,
        "channel": "test",
        "kind": "case.resolved",
        "recipient": {"kind": "contact", "id": "ana"},
        "address": "ana@example.com",
        "subject": message.subject,
        "text": message.text,
        "html": "<p>hi</p>",
        "locale": "en",
        "case_id": "CS0000001",
        "attempt": 3,
        "data": {"case": {"number": "CS0000001"}, "name": "Ana"},
    }
    stamp = int(NOW.timestamp())
    assert request.headers["X-Casekit-Timestamp"] == str(stamp)
    key = request.headers["Idempotency-Key"]
    assert request.headers["X-Casekit-Signature"] == sign(SECRET, request.body, stamp, key)
    assert verify_signature(
        SECRET, request.body, request.headers["X-Casekit-Signature"], idempotency_key=key, now=NOW
    )
    assert not verify_signature(
        SECRET, request.body, request.headers["X-Casekit-Signature"], idempotency_key="x", now=NOW
    )
    assert request.headers["Idempotency-Key"] == message.dedupe_key
    assert request.headers["X-Casekit-Attempt"] == "3"
    assert request.headers["Authorization"] == "Bearer t"
    assert request.headers["Content-Type"] == "application/json; charset=utf-8"


def test_a_receiver_refuses_a_bad_signature(http: HttpReceiver) -> None:
    channel = WebhookChannel(http.url, "another-secret-of-16+", timeout=2)
    error = failure(channel, make_message("x"))
    assert error.permanent
    assert "401" in error.reason
    assert len(http.refused) == 1


@pytest.mark.parametrize(
    ("status", "permanent"),
    [(400, True), (404, True), (410, True), (302, True), (408, False), (429, False),
     (500, False), (502, False), (503, False)],
)  # fmt: skip
def test_webhook_status_decides_permanence(
    http: HttpReceiver, status: int, permanent: bool
) -> None:
    http.status = status
    error = failure(WebhookChannel(http.url, SECRET, timeout=2), make_message("x"))
    assert error.permanent is permanent
    assert f"answered {status}" in error.reason


def test_webhook_timeout_is_transient(http: HttpReceiver) -> None:
    http.slow = True
    error = failure(WebhookChannel(http.url, SECRET, timeout=0.2), make_message("x"))
    assert not error.permanent
    assert "timed out" in error.reason


def test_webhook_connection_refused_is_transient() -> None:
    channel = WebhookChannel(f"http://127.0.0.1:{free_port()}/hook", SECRET)
    assert not failure(channel, make_message("x")).permanent


def test_webhook_https_to_a_plain_server_is_transient(http: HttpReceiver) -> None:
    channel = WebhookChannel(http.url.replace("http:", "https:"), SECRET, timeout=1)
    assert not failure(channel, make_message("x")).permanent


def test_unserializable_data_is_permanent(http: HttpReceiver) -> None:
    broken = attrs.evolve(make_message("x"), data={"when": NOW})
    assert failure(WebhookChannel(http.url, SECRET), broken).permanent
    assert http.requests == []


def test_idempotency_key_hashes_keys_a_header_cannot_carry() -> None:
    assert idempotency_key("case:CS1:resolved") == "case:CS1:resolved"
    hashed = idempotency_key("clé avec espaces\n")
    assert hashed.startswith("sha256:")
    assert len(hashed) == 7 + 64
    assert idempotency_key("x" * 300).startswith("sha256:")


def test_sms_payload_is_to_and_a_cut_text(http: HttpReceiver) -> None:
    channel = sms_webhook(http.url, SECRET, max_length=20)
    channel.send(make_message("+33 6 12 34 56 78", text="é" * 50))
    assert http.requests[0].json == {"to": "+33612345678", "text": "é" * 19 + "\u2026"}


def test_chat_payload_puts_the_subject_first(http: HttpReceiver) -> None:
    chat_webhook(http.url, SECRET, field="to").send(make_message("@ana", subject="S", text="T"))
    assert http.requests[0].json == {"to": "@ana", "text": "S\n\nT"}


# --- verify_signature -------------------------------------------------------------------


def test_verify_signature_accepts_fresh_and_refuses_stale_or_tampered() -> None:
    stamp = int(NOW.timestamp())
    header = sign(SECRET, b'{"a":1}', stamp, "k")
    assert verify_signature(SECRET, b'{"a":1}', header, idempotency_key="k", now=NOW)
    assert verify_signature(
        SECRET, '{"a":1}', header, idempotency_key="k", now=NOW + timedelta(seconds=300)
    )
    assert not verify_signature(
        SECRET, b'{"a":1}', header, idempotency_key="k", now=NOW + timedelta(seconds=301)
    )
    assert not verify_signature(
        SECRET, b'{"a":1}', header, idempotency_key="k", now=NOW - timedelta(seconds=301)
    )
    assert not verify_signature(SECRET, b'{"a":2}', header, idempotency_key="k", now=NOW)
    assert not verify_signature(
        "another-secret-of-16+", b'{"a":1}', header, idempotency_key="k", now=NOW
    )
    assert not verify_signature(
        SECRET, b'{"a":1}', header.replace(str(stamp), str(stamp + 1)), idempotency_key="k", now=NOW
    )
    assert not verify_signature(SECRET, b'{"a":1}', header, idempotency_key="k2", now=NOW)
    assert not verify_signature(SECRET, b'{"a":1}', header, idempotency_key=None, now=NOW)


@pytest.mark.parametrize(
    "header",
    [None, "", "v1=abc", "t=abc,v1=00", "t=1,t=2,v1=00", "garbage", "t=99999999999999,v1=0"],
)
def test_verify_signature_refuses_malformed_headers(header: str | None) -> None:
    assert not verify_signature(SECRET, b"{}", header, idempotency_key="k", now=NOW)


def test_verify_signature_accepts_any_of_several_signatures() -> None:
    stamp = int(NOW.timestamp())
    old = sign("the-old-secret-16chars", b"{}", stamp, "k")
    new = sign(SECRET, b"{}", stamp, "k")
    rotated = f"{new},v1={old.rpartition('v1=')[2]}"
    assert verify_signature("the-old-secret-16chars", b"{}", rotated, idempotency_key="k", now=NOW)
    assert verify_signature(SECRET, b"{}", rotated, idempotency_key="k", now=NOW)


def test_verify_signature_needs_an_aware_now() -> None:
    with pytest.raises(NaiveDatetimeError):
        verify_signature(
            SECRET,
            b"{}",
            "t=1,v1=0",
            idempotency_key="k",
            now=datetime(2026, 1, 1),  # noqa: DTZ001
        )


# --- log and memory ---------------------------------------------------------------------


def test_log_channel_writes_one_record_with_the_message(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="casekit.notify")
    message = make_message("ana@example.com")
    LogChannel().send(message)
    (record,) = [r for r in caplog.records if r.name == "casekit.notify"]
    assert record.levelno == logging.INFO
    assert record.casekit_message is message  # type: ignore[attr-defined]
    assert record.getMessage().startswith(
        "case.resolved to contact:ana <ana@example.com> [dedupe_key=conformance-1 attempt=1]: "
        "Your case CS0000001 was resolved\nHello Ana,"
    )
    LogChannel(include_body=False).send(message)
    assert "Hello" not in caplog.records[-1].getMessage()


def test_memory_channel_scripted_failures_then_success() -> None:
    channel = MemoryChannel("mem")
    channel.fail_next(2, permanent=False)
    message = make_message("x", channel="mem")
    for _ in range(2):
        error = failure(channel, message)
        assert error.permanent is False
        assert error.channel == "mem"
    channel.send(message)
    assert channel.sent == [message]
    assert channel.attempts == 3


def test_memory_channel_failure_function_may_raise_anything() -> None:
    channel = MemoryChannel()
    channel.fail_with(lambda m: (_ for _ in ()).throw(RuntimeError("a plugin bug")))
    with pytest.raises(RuntimeError, match="a plugin bug"):
        channel.send(make_message("x"))
    channel.fail_with(None)
    channel.send(make_message("x"))
    assert len(channel.sent) == 1


def test_memory_channel_without_dedupe_keeps_every_send() -> None:
    channel = MemoryChannel(dedupe=False)
    for _ in range(3):
        channel.send(make_message("x"))
    assert len(channel.sent) == 3
    assert channel.duplicates_suppressed == 0
    channel.clear()
    assert channel.sent == []


def test_memory_channel_delivers_each_key_once_across_threads() -> None:
    channel = MemoryChannel()
    barrier = threading.Barrier(8)

    def work() -> None:
        barrier.wait()
        for n in range(50):
            channel.send(make_message("x", dedupe_key=f"k{n}"))

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(m.dedupe_key for m in channel.sent) == sorted(f"k{n}" for n in range(50))
    assert channel.duplicates_suppressed == 7 * 50
