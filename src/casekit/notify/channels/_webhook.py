"""Webhooks: a signed JSON POST, and the SMS and chat profiles built on it."""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import math
import re
import ssl
import time
import urllib.parse
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import casekit
from casekit._time import require_aware
from casekit.clock import Clock, SystemClock
from casekit.exceptions import DeliveryFailed, InvalidAddress, InvalidValue
from casekit.notify._channel import Message
from casekit.notify.channels._common import (
    check_address_kind,
    check_handle,
    check_headers,
    check_name,
    check_phone,
    check_printable,
    check_timeout,
)

__all__ = [
    "TRANSIENT_STATUSES",
    "Payload",
    "WebhookChannel",
    "chat_payload",
    "chat_webhook",
    "full_payload",
    "idempotency_key",
    "sign",
    "sms_payload",
    "sms_webhook",
    "verify_signature",
]

Payload = Callable[[Message], Mapping[str, Any]]
"""A webhook profile: turns a message into the JSON object to POST."""

TRANSIENT_STATUSES = frozenset({408, 425, 429})
"""The 4xx answers that mean "later" (request timeout, too early, too many requests):
retried like a 5xx. Every other 4xx is permanent."""

_MAX_ERROR_BODY = 2000
_KEY = re.compile(r"[!-~]{1,255}")


def full_payload(message: Message) -> dict[str, Any]:
    """The default profile: the whole message as JSON."""
    return {
        "id": message.id,
        "dedupe_key": message.dedupe_key,
        "channel": message.channel,
        "kind": message.kind,
        "recipient": {"kind": message.recipient.kind.value, "id": message.recipient.id},
        "address": message.address,
        "subject": message.subject,
        "text": message.text,
        "html": message.html,
        "locale": message.locale,
        "case_id": message.case_id,
        "attempt": message.attempt,
        "data": dict(message.data),
    }


def truncate(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, ending in ``…`` when it was cut."""
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def sms_payload(max_length: int = 1600) -> Payload:
    """The SMS profile: ``{"to": "+33612345678", "text": ...}``.

    ``to`` is the number in E.164 form; ``text`` is the plain-text body (the subject is
    not sent), cut to ``max_length`` characters with a final ``…``. 1600 characters is
    the longest message most SMS gateways accept (10 concatenated segments); set the
    limit of your gateway and keep SMS templates short.
    """

    def payload(message: Message) -> dict[str, Any]:
        return {
            "to": check_phone(message.channel, message.address),
            "text": truncate(message.text, max_length),
        }

    return payload


def chat_payload(field: str = "channel") -> Payload:
    """The chat profile: ``{field: address, "text": "subject\\n\\ntext"}``.

    The subject (when not empty) becomes the first line, then a blank line and the
    text. ``field`` is ``"channel"`` (Slack and Mattermost incoming webhooks) or
    ``"to"``.
    """

    def payload(message: Message) -> dict[str, Any]:
        text = f"{message.subject}\n\n{message.text}" if message.subject else message.text
        return {field: message.address, "text": text}

    return payload


def idempotency_key(dedupe_key: str) -> str:
    """The ``Idempotency-Key`` header for ``dedupe_key``.

    The key itself when it is 1 to 255 printable ASCII characters without spaces (every
    key casekit makes), otherwise ``sha256:`` and its hex digest (a header cannot carry
    it as is).
    """
    if _KEY.fullmatch(dedupe_key):
        return dedupe_key
    return "sha256:" + hashlib.sha256(dedupe_key.encode("utf-8")).hexdigest()


def _as_bytes(value: str | bytes) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else value


def sign(secret: str | bytes, body: str | bytes, timestamp: int, key: str) -> str:
    """The ``X-Casekit-Signature`` header: ``t=<unix seconds>,v1=<hex>``.

    ``v1`` is HMAC-SHA256, keyed with ``secret``, of ``f"{timestamp}\n{key}\n"``
    followed by the body as sent, bytes for bytes; ``key`` is the request's
    ``Idempotency-Key`` (printable ASCII, so the line breaks are unambiguous). Signing
    the key too means a captured request cannot be replayed under another key to get
    past a receiver's deduplication.
    """
    signed = f"{timestamp}\n{key}\n".encode() + _as_bytes(body)
    digest = hmac.new(_as_bytes(secret), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify_signature(
    secret: str | bytes,
    body: str | bytes,
    header: str | None,
    *,
    idempotency_key: str | None,
    tolerance: float = 300,
    now: datetime | None = None,
) -> bool:
    """Whether ``header`` is a valid, fresh ``X-Casekit-Signature`` of ``body`` and
    ``idempotency_key``.

    For receivers of :class:`WebhookChannel` requests: pass the raw request body (before
    any JSON parsing), the signature header and the ``Idempotency-Key`` header (``None``
    when absent: then only a request signed without one verifies). True when one of its
    ``v1`` signatures matches (compared in constant time; several are allowed while a
    secret is rotated) and its timestamp is within ``tolerance`` seconds of ``now``
    (either side), so a captured request cannot be replayed later. Anything malformed is
    simply ``False``.

    Args:
        secret: The shared secret the channel was configured with.
        body: The raw request body.
        header: The ``X-Casekit-Signature`` header (``None`` when absent).
        idempotency_key: The ``Idempotency-Key`` header the request came with.
        tolerance: The largest accepted age in seconds.
        now: The current instant (aware); the system clock by default.

    Raises:
        NaiveDatetimeError: ``now`` has no time zone.
        InvalidValue: ``tolerance`` is not a finite number of seconds, 0 or more.
    """
    current = time.time() if now is None else require_aware(now, "verify_signature.now").timestamp()
    if (
        isinstance(tolerance, bool)
        or not isinstance(tolerance, int | float)
        or not 0 <= tolerance < math.inf
    ):
        raise InvalidValue(
            f"must be a finite number of seconds, 0 or more, not {tolerance!r}", where="tolerance"
        )
    if not header or not isinstance(header, str):
        return False
    signed_key = "" if idempotency_key is None else idempotency_key
    if not isinstance(signed_key, str) or not signed_key.isascii() or not signed_key.isprintable():
        return False
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if sep:
            parts.setdefault(key, []).append(value)
    stamps = parts.get("t", [])
    if len(stamps) != 1 or not (stamps[0].isascii() and stamps[0].isdigit()) or len(stamps[0]) > 12:
        return False
    timestamp = int(stamps[0])
    if abs(current - timestamp) > tolerance:
        return False
    expected = sign(secret, body, timestamp, signed_key).rpartition("v1=")[2]
    matches = [hmac.compare_digest(expected, candidate) for candidate in parts.get("v1", [])]
    return any(matches)


def _check_url(url: object) -> urllib.parse.SplitResult:
    if not isinstance(url, str) or not url.isprintable() or " " in url:
        raise InvalidValue(f"not a URL: {url!r}", where="url")
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise InvalidValue(f"{url!r} is not an http:// or https:// URL", where="url")
    try:
        port = parts.port
    except ValueError:
        raise InvalidValue(f"{url!r} has an invalid port", where="url") from None
    if not parts.hostname or port == 0:
        raise InvalidValue(f"{url!r} names no host", where="url")
    if parts.username is not None or parts.password is not None:
        raise InvalidValue(
            f"{parts.scheme}://{parts.hostname}: put credentials in headers=, not in the URL",
            where="url",
        )
    if parts.fragment:
        raise InvalidValue(f"{url!r} has a #fragment", where="url")
    return parts


class WebhookChannel:
    """POSTs each message as JSON to a URL, signed with HMAC-SHA256.

    Each request carries:

    * ``Content-Type: application/json; charset=utf-8`` and the body that ``payload``
      makes (:func:`full_payload` by default: the whole message);
    * ``X-Casekit-Timestamp``: the Unix time of the attempt;
    * ``X-Casekit-Signature``: ``t=<timestamp>,v1=<hex>``, HMAC-SHA256 with ``secret``
      of the timestamp, the ``Idempotency-Key`` and the body (see :func:`sign`;
      receivers check it with :func:`verify_signature`);
    * ``Idempotency-Key``: the dedupe key (see :func:`idempotency_key`), the same on
      every attempt, so a receiver that remembers keys acts once;
    * ``X-Casekit-Attempt`` and ``X-Casekit-Message-Id``, and any ``headers`` given.

    A ``2xx`` answer is success. A ``4xx`` answer is permanent, except
    :data:`TRANSIENT_STATUSES` (408, 425, 429); a ``5xx`` answer, a timeout, a refused
    or dropped connection and a TLS error are transient. Redirects are not followed: a
    ``3xx`` is permanent (configure the final URL). ``timeout`` bounds each network
    operation (connect, send, each read), not the whole request.

    Args:
        url: Where to POST (``http`` or ``https``; credentials go in ``headers``).
        secret: The shared signing secret (at least 16 characters).
        name: The channel's name (``"webhook"``).
        address_kind: What addresses it takes (``"any"``).
        payload: The profile that makes the JSON body.
        timeout: Seconds to wait for each network operation.
        headers: Extra headers (an ``Authorization`` token, say).
        address_check: Called as ``address_check(channel_name, address)``; raises
            :class:`~casekit.exceptions.InvalidAddress` for an address that can never
            work (by default any non-empty address without control characters passes).
        clock: The time source for the timestamp (the system clock).
        ssl_context: TLS settings for ``https`` (``ssl.create_default_context()``).

    Raises:
        InvalidValue: A bad argument (``where`` names it).
    """

    def __init__(
        self,
        url: str,
        secret: str | bytes,
        *,
        name: str = "webhook",
        address_kind: str = "any",
        payload: Payload = full_payload,
        timeout: float = 10.0,
        headers: Mapping[str, str] | None = None,
        address_check: Callable[[str, str], object] | None = None,
        clock: Clock | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.name = check_name(name)
        parts = _check_url(url)
        if not isinstance(secret, str | bytes) or len(secret) < 16:
            raise InvalidValue(
                "the signing secret must be a string of at least 16 characters", where="secret"
            )
        check_address_kind(address_kind)
        if not callable(payload):
            raise InvalidValue(f"not a function of a message: {payload!r}", where="payload")
        if address_check is not None and not callable(address_check):
            raise InvalidValue(f"not a function: {address_check!r}", where="address_check")
        if clock is not None and not isinstance(clock, Clock):
            raise InvalidValue(f"not a clock: {clock!r}", where="clock")
        if ssl_context is not None and not isinstance(ssl_context, ssl.SSLContext):
            raise InvalidValue(f"not an ssl.SSLContext: {ssl_context!r}", where="ssl_context")
        self.url = url
        self.address_kind = address_kind
        self.payload = payload
        self.timeout = check_timeout(timeout)
        self.headers = check_headers(headers)
        self.clock: Clock = clock or SystemClock()
        self.ssl_context = ssl_context
        self._secret = _as_bytes(secret)
        self._address_check = address_check or check_printable
        self._parts = parts
        self._target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")

    def check_address(self, address: str) -> None:
        """Refuse an address this webhook's profile can never send to."""
        self._address_check(self.name, address)

    def request(self, message: Message) -> tuple[bytes, dict[str, str]]:
        """The body and headers that :meth:`send` POSTs for ``message``."""
        body = json.dumps(
            dict(self.payload(message)), ensure_ascii=False, separators=(",", ":")
        ).encode("utf-8")
        timestamp = int(self.clock.now().timestamp())
        key = idempotency_key(message.dedupe_key)
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": f"casekit/{casekit.__version__}",
            "X-Casekit-Timestamp": str(timestamp),
            "X-Casekit-Signature": sign(self._secret, body, timestamp, key),
            "Idempotency-Key": key,
            "X-Casekit-Attempt": str(message.attempt),
            "X-Casekit-Message-Id": idempotency_key(message.id),
            **self.headers,
        }
        return body, headers

    def send(self, message: Message) -> None:
        """POST ``message``; raise :class:`DeliveryFailed` unless the answer is 2xx."""
        try:
            self._address_check(self.name, message.address)
            body, headers = self.request(message)
        except (InvalidAddress, TypeError, ValueError) as error:
            raise DeliveryFailed(
                self.name, f"cannot make the request: {error}", permanent=True
            ) from error
        host, port = self._parts.hostname or "", self._parts.port
        connection: http.client.HTTPConnection
        if self._parts.scheme == "https":
            connection = http.client.HTTPSConnection(
                host,
                port,
                timeout=self.timeout,
                context=self.ssl_context or ssl.create_default_context(),
            )
        else:
            connection = http.client.HTTPConnection(host, port, timeout=self.timeout)
        where = f"POST {self._parts.scheme}://{self._parts.netloc}{self._parts.path}"
        try:
            connection.request("POST", self._target, body=body, headers=headers)
            response = connection.getresponse()
            status = response.status
            answer = response.read(_MAX_ERROR_BODY)
        except (OSError, http.client.HTTPException) as error:
            reason = str(error) or type(error).__name__
            raise DeliveryFailed(self.name, f"{where}: {reason}", permanent=False) from error
        finally:
            connection.close()
        if 200 <= status < 300:
            return
        text = answer.decode("utf-8", "replace").strip()
        detail = f"{where} answered {status} {response.reason}" + (f": {text}" if text else "")
        permanent = 300 <= status < 500 and status not in TRANSIENT_STATUSES
        raise DeliveryFailed(self.name, detail, permanent=permanent)

    def __repr__(self) -> str:
        return f"WebhookChannel(url={self.url!r}, name={self.name!r})"


def sms_webhook(
    url: str,
    secret: str | bytes,
    *,
    name: str = "sms",
    max_length: int = 1600,
    timeout: float = 10.0,
    headers: Mapping[str, str] | None = None,
    clock: Clock | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> WebhookChannel:
    """A webhook to an SMS gateway: phone addresses, payload ``{"to", "text"}``.

    Addresses are international numbers (``+``, country code, 7 to 15 digits; spaces,
    dashes, dots and parentheses are ignored) sent in E.164 form. The text is cut to
    ``max_length`` characters (see :func:`sms_payload`). Signed and retried like any
    :class:`WebhookChannel`; the gateway can deduplicate on ``Idempotency-Key``.

    Raises:
        InvalidValue: A bad argument (``where`` names it).
    """
    if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 2:
        raise InvalidValue(f"must be a length of 2 or more, not {max_length!r}", where="max_length")
    return WebhookChannel(
        url,
        secret,
        name=name,
        address_kind="phone",
        payload=sms_payload(max_length),
        timeout=timeout,
        headers=headers,
        address_check=check_phone,
        clock=clock,
        ssl_context=ssl_context,
    )


def chat_webhook(
    url: str,
    secret: str | bytes,
    *,
    name: str = "chat",
    field: str = "channel",
    timeout: float = 10.0,
    headers: Mapping[str, str] | None = None,
    clock: Clock | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> WebhookChannel:
    """A webhook to a chat system: handle addresses, payload ``{field, "text"}``.

    Addresses are one-word handles or channel names (``#support``, ``@ana``). ``field``
    (``"channel"`` or ``"to"``) names the key the address goes in; the subject is the
    text's first line (see :func:`chat_payload`).

    Raises:
        InvalidValue: A bad argument (``where`` names it).
    """
    if field not in ("channel", "to"):
        raise InvalidValue(f"must be 'channel' or 'to', not {field!r}", where="field")
    return WebhookChannel(
        url,
        secret,
        name=name,
        address_kind="handle",
        payload=chat_payload(field),
        timeout=timeout,
        headers=headers,
        address_check=check_handle,
        clock=clock,
        ssl_context=ssl_context,
    )
