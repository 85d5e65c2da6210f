"""The channels that need no network: ``log`` and the in-memory channel for tests."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from casekit.exceptions import DeliveryFailed, InvalidValue
from casekit.notify._channel import Message
from casekit.notify.channels._common import check_address_kind, check_name, check_printable

__all__ = ["LogChannel", "MemoryChannel"]

_LEVELS = {logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR, logging.CRITICAL}


class LogChannel:
    """Writes each message to a logger: for development, demos and audit trails.

    Every message is one log record on ``logger`` (``casekit.notify`` by default) at
    ``level``: a first line naming the kind, recipient, address, dedupe key, attempt
    and subject, then the text body when ``include_body`` is true. The record carries
    the whole :class:`~casekit.notify.Message` as ``record.casekit_message`` for
    handlers that want structured output. The channel never fails; it does not
    deduplicate (a retried message is logged again, with its attempt number).

    Args:
        name: The channel's name (``"log"``).
        logger: The logger's name.
        level: A :mod:`logging` level (``logging.INFO``).
        include_body: Log the text body under the first line.

    Raises:
        InvalidValue: A bad argument (``where`` names it).
    """

    address_kind = "any"

    def __init__(
        self,
        name: str = "log",
        *,
        logger: str = "casekit.notify",
        level: int = logging.INFO,
        include_body: bool = True,
    ) -> None:
        self.name = check_name(name)
        if not isinstance(logger, str) or not logger:
            raise InvalidValue(
                f"a logger name is a non-empty string, not {logger!r}", where="logger"
            )
        if level not in _LEVELS:
            raise InvalidValue(f"not a logging level: {level!r}", where="level")
        self.logger = logging.getLogger(logger)
        self.level = level
        self.include_body = bool(include_body)

    def check_address(self, address: str) -> None:
        """Refuse an empty address or one with control characters (log injection)."""
        check_printable(self.name, address)

    def send(self, message: Message) -> None:
        """Log ``message`` (never raises)."""
        line = (
            "%s to %s <%s> [dedupe_key=%s attempt=%d]: %s"
            if message.subject
            else "%s to %s <%s> [dedupe_key=%s attempt=%d]%s"
        )
        args: tuple[object, ...] = (
            message.kind,
            message.recipient,
            message.address,
            message.dedupe_key,
            message.attempt,
            message.subject,
        )
        if self.include_body:
            line += "\n%s"
            args += (message.text,)
        self.logger.log(self.level, line, *args, extra={"casekit_message": message})

    def __repr__(self) -> str:
        return f"LogChannel(name={self.name!r}, logger={self.logger.name!r})"


class MemoryChannel:
    """Keeps messages in a list: for tests, notebooks and demos (one process only).

    ``sent`` lists the delivered messages in order. With ``dedupe=True`` (the default)
    the channel behaves like a receiver that remembers keys: a message whose
    ``dedupe_key`` was already delivered is not appended again, and
    ``duplicates_suppressed`` counts it. Failures can be scripted for tests with
    :meth:`fail_next` and :meth:`fail_with`. Thread-safe; the state lives in this
    object, so it is not shared with other processes (use a real receiver to test
    several draining processes, or the example JSON-lines channel).

    Args:
        name: The channel's name (``"memory"``).
        address_kind: What addresses it takes (``"any"``; ``"email"`` to stand in for
            an e-mail channel).
        dedupe: Deliver each dedupe key once.

    Raises:
        InvalidValue: A bad argument (``where`` names it).
    """

    def __init__(
        self, name: str = "memory", *, address_kind: str = "any", dedupe: bool = True
    ) -> None:
        self.name = check_name(name)
        self.address_kind = check_address_kind(address_kind)
        self.dedupe = bool(dedupe)
        self._lock = threading.Lock()
        self._sent: list[Message] = []
        self._keys: set[str] = set()
        self._duplicates = 0
        self._attempts = 0
        self._failures: list[tuple[str, bool]] = []
        self._fail_with: Callable[[Message], None] | None = None

    @property
    def sent(self) -> list[Message]:
        """The delivered messages, oldest first (a copy)."""
        with self._lock:
            return list(self._sent)

    @property
    def duplicates_suppressed(self) -> int:
        """How many sends were dropped because their dedupe key was already delivered."""
        with self._lock:
            return self._duplicates

    @property
    def attempts(self) -> int:
        """How many times :meth:`send` was called, failures and duplicates included."""
        with self._lock:
            return self._attempts

    def fail_next(self, count: int = 1, *, permanent: bool = False, reason: str = "") -> None:
        """Make the next ``count`` sends raise :class:`DeliveryFailed` (and deliver nothing)."""
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise InvalidValue(f"must be a count of 0 or more, not {count!r}", where="count")
        failure = (reason or "scripted failure (MemoryChannel.fail_next)", bool(permanent))
        with self._lock:
            self._failures.extend([failure] * count)

    def fail_with(self, check: Callable[[Message], None] | None) -> None:
        """Call ``check(message)`` before each delivery; what it raises, ``send`` raises.

        ``check`` may raise :class:`DeliveryFailed` (a failing receiver) or anything else
        (a channel with a bug). ``None`` removes it.
        """
        with self._lock:
            self._fail_with = check

    def clear(self) -> None:
        """Forget the delivered messages, keys, counters and scripted failures."""
        with self._lock:
            self._sent.clear()
            self._keys.clear()
            self._duplicates = self._attempts = 0
            self._failures.clear()
            self._fail_with = None

    def check_address(self, address: str) -> None:
        """Refuse an empty address or one with control characters."""
        check_printable(self.name, address)

    def send(self, message: Message) -> None:
        """Deliver ``message`` (once per dedupe key when deduplicating)."""
        with self._lock:
            self._attempts += 1
            if self._failures:
                reason, permanent = self._failures.pop(0)
                raise DeliveryFailed(self.name, reason, permanent=permanent)
            check = self._fail_with
        if check is not None:
            check(message)
        with self._lock:
            if self.dedupe and message.dedupe_key in self._keys:
                self._duplicates += 1
                return
            self._keys.add(message.dedupe_key)
            self._sent.append(message)

    def __repr__(self) -> str:
        return f"MemoryChannel(name={self.name!r}, sent={len(self._sent)})"
