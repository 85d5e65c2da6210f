"""Real receivers on loopback for the channel tests: an SMTP server and an HTTP server.

Both remember what they accepted, can be told to fail, and deduplicate like a careful
receiving system does (by ``Message-ID``, by ``Idempotency-Key``).
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import pathlib
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import attrs
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer  # noqa: N811 - not the stdlib's SMTP
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

from casekit.notify import verify_signature

SECRET = "s3cret-for-the-loopback-tests"  # noqa: S105 - a test secret
"""The signing secret every test webhook shares with the HTTP receiver."""

USER, PASSWORD = "casekit", "hunter2-hunter2"


def free_port() -> int:
    """A loopback port nobody listens on (connecting to it is refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def silent_server() -> Iterator[int]:
    """A port that accepts connections (in the kernel's backlog) and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock.getsockname()[1]


def make_certificate(folder: pathlib.Path) -> tuple[pathlib.Path, pathlib.Path]:
    """A self-signed certificate for 127.0.0.1 and localhost (EC P-256, one day)."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
            "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj", "/CN=localhost",
            "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )  # fmt: skip
    return cert, key


# --- SMTP ------------------------------------------------------------------------------


class _Controller(Controller):
    """aiosmtpd's controller on an ephemeral port (it wants a fixed one)."""

    def _trigger_server(self) -> None:
        assert isinstance(self.server, asyncio.Server)
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()  # type: ignore[no-untyped-call]


class SmtpReceiver:
    """An aiosmtpd handler that keeps each mail once per ``Message-ID``."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.mails: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.duplicates = 0
        self.rcpt_answer: str | None = None
        self.data_answer: str | None = None

    def reset(self) -> None:
        with self.lock:
            self.mails.clear()
            self.envelopes.clear()
            self.duplicates = 0
            self.rcpt_answer = self.data_answer = None

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self,
        server: SMTPServer,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if self.rcpt_answer is not None:
            return self.rcpt_answer
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTPServer, session: Session, envelope: Envelope
    ) -> str:
        if self.data_answer is not None:
            return self.data_answer
        content = envelope.original_content or b""
        mail = email.message_from_bytes(content, policy=email.policy.default)
        assert isinstance(mail, EmailMessage)
        with self.lock:
            if any(seen["Message-ID"] == mail["Message-ID"] for seen in self.mails):
                self.duplicates += 1
            else:
                self.mails.append(mail)
                self.envelopes.append((str(envelope.mail_from), list(envelope.rcpt_tos)))
        return "250 OK"


def _authenticate(
    server: SMTPServer, session: Session, envelope: Envelope, mechanism: str, data: object
) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
        USER.encode(),
        PASSWORD.encode(),
    )
    return AuthResult(success=ok)


@attrs.define
class SmtpServers:
    """One receiver behind three servers: plain (+ STARTTLS, AUTH), implicit TLS."""

    receiver: SmtpReceiver
    plain_port: int
    tls_port: int
    client_context: ssl.SSLContext


@contextmanager
def smtp_servers(folder: pathlib.Path) -> Iterator[SmtpServers]:
    cert, key = make_certificate(folder)
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    client_context = ssl.create_default_context(cafile=str(cert))
    receiver = SmtpReceiver()
    plain = _Controller(
        receiver,
        hostname="127.0.0.1",
        port=0,
        tls_context=server_context,
        authenticator=_authenticate,
        auth_require_tls=True,
        enable_SMTPUTF8=True,
    )
    tls = _Controller(
        receiver, hostname="127.0.0.1", port=0, ssl_context=server_context, enable_SMTPUTF8=True
    )
    plain.start()
    try:
        tls.start()
        try:
            yield SmtpServers(receiver, plain.port, tls.port, client_context)
        finally:
            tls.stop()
    finally:
        plain.stop()


# --- HTTP ------------------------------------------------------------------------------


@attrs.frozen
class Request:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


class HttpReceiver:
    """A webhook receiver: checks signatures, answers ``status``, keeps each key once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.release = threading.Event()
        self.requests: list[Request] = []
        self.refused: list[Request] = []
        self.duplicates = 0
        self.status = 200
        self.slow = False
        self.require_signature = True
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()
            self.refused.clear()
            self.duplicates = 0
            self.status = 200
            self.slow = False
            self.require_signature = True

    def handle(self, request: Request) -> int | None:
        """The status to answer, or ``None`` to hang up without one."""
        if self.slow:
            self.release.wait(5)
            return None
        if self.require_signature and not verify_signature(
            SECRET,
            request.body,
            request.headers.get("X-Casekit-Signature"),
            idempotency_key=request.headers.get("Idempotency-Key"),
        ):
            with self.lock:
                self.refused.append(request)
            return 401
        if self.status != 200:
            return self.status
        key = request.headers.get("Idempotency-Key")
        with self.lock:
            if key is not None and any(
                r.headers.get("Idempotency-Key") == key for r in self.requests
            ):
                self.duplicates += 1
            else:
                self.requests.append(request)
        return 200


def _handler(receiver: HttpReceiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            headers = {name.title(): value for name, value in self.headers.items()}
            request = Request(self.path, headers, self.rfile.read(length))
            status = receiver.handle(request)
            if status is None:
                self.close_connection = True
                return
            self.send_response(status)
            if 300 <= status < 400:
                self.send_header("Location", "http://127.0.0.1:1/elsewhere")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"no" if status >= 300 else b"ok")

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that timed out and left: expected in the timeout tests


@contextmanager
def http_receiver() -> Iterator[HttpReceiver]:
    receiver = HttpReceiver()
    server = _Server(("127.0.0.1", 0), _handler(receiver))
    receiver.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield receiver
    finally:
        receiver.release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)
