"""The loopback receivers, started once per session and reset before each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.notify.receivers import HttpReceiver, SmtpServers, http_receiver, smtp_servers


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
