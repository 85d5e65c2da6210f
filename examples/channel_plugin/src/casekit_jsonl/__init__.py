"""casekit-example-channel: a notification channel that appends to a JSON-lines file.

Each delivered message becomes one line of ``path``: a JSON object with the message's
fields (the same object casekit's webhook channel posts). Another program (a mail
gateway, a print shop, an auditor's import) reads the file. The channel is exactly once
per dedupe key *per file*, across threads and processes:

* every send takes an exclusive ``fcntl.flock`` on the file, reads the lines appended
  since its last look (other processes' included), and appends its line only if no line
  holds the message's dedupe key yet; so a message retried after a crash, or sent by
  two draining processes, is written once;
* the line is written with one ``write`` and ``fsync``-ed before ``send`` returns, so a
  message reported sent survives a power cut;
* a process killed in the middle of a write leaves a last line without its newline; the
  next send (holding the lock) cuts it off before appending, so readers never see half
  a message.

Failures: the file cannot be opened or written (a full disk, a missing directory, no
permission) is transient, retried by casekit's outbox; a message whose data cannot be
written as JSON is permanent.

The plugin hook registers the channel as ``jsonl`` when the environment variable
``CASEKIT_JSONL_PATH`` names the file; hosts can also create ``JsonLinesChannel``
themselves and pass it to their desk.
"""

from __future__ import annotations

import fcntl
import json
import os
import pathlib
import threading
from typing import BinaryIO

from casekit import DeliveryFailed, InvalidAddress, InvalidValue, hookimpl
from casekit.notify import ChannelRegistry, Message
from casekit.notify.channels import full_payload

__all__ = ["ENV_PATH", "JsonLinesChannel", "casekit_register_channels"]

ENV_PATH = "CASEKIT_JSONL_PATH"
"""The environment variable naming the file the registered ``jsonl`` channel writes."""


class JsonLinesChannel:
    """Appends each message to ``path`` as one JSON line, once per dedupe key.

    Args:
        path: The file (created on the first send); its directory must exist.
        name: The channel's name (``"jsonl"``).
        fsync: Flush each line to disk before reporting it sent.

    Raises:
        InvalidValue: ``path`` is a directory or its directory does not exist, or
            ``name`` is not a word.
    """

    address_kind = "any"

    def __init__(
        self, path: str | os.PathLike[str], *, name: str = "jsonl", fsync: bool = True
    ) -> None:
        if not isinstance(name, str) or not name or not name.isprintable() or " " in name:
            raise InvalidValue(f"a channel name is a non-empty word, not {name!r}", where="name")
        self.path = pathlib.Path(path).absolute()
        if self.path.is_dir() or not self.path.parent.is_dir():
            raise InvalidValue(
                f"{str(self.path)!r} must be a file in an existing directory", where="path"
            )
        self.name = name
        self.fsync = fsync
        self._lock = threading.Lock()
        self._keys: set[str] = set()
        self._seen = 0  # bytes of the file already read into _keys
        self._inode: int | None = None

    def check_address(self, address: str) -> None:
        """Refuse an empty address or one with line breaks or other control characters."""
        if not isinstance(address, str) or not address.strip() or not address.isprintable():
            raise InvalidAddress(f"not an address: {address!r}", where=f"{self.name}.address")

    def send(self, message: Message) -> None:
        """Append ``message`` unless a line with its dedupe key is already in the file."""
        try:
            self.check_address(message.address)
            line = json.dumps(full_payload(message), ensure_ascii=False, sort_keys=True)
        except (TypeError, ValueError) as error:
            raise DeliveryFailed(
                self.name, f"cannot write the message: {error}", permanent=True
            ) from error
        data = (line + "\n").encode("utf-8")
        try:
            with self._lock, open(self.path, "a+b") as file:
                fcntl.flock(file, fcntl.LOCK_EX)  # released when the file is closed
                self._catch_up(file)
                if message.dedupe_key in self._keys:
                    return
                file.write(data)
                file.flush()
                if self.fsync:
                    os.fsync(file.fileno())
                self._keys.add(message.dedupe_key)
                self._seen += len(data)
        except OSError as error:
            raise DeliveryFailed(self.name, f"{self.path}: {error}", permanent=False) from error

    def _catch_up(self, handle: BinaryIO) -> None:
        """Read the lines others appended since our last look; cut a torn last line."""
        stat = os.fstat(handle.fileno())
        if stat.st_ino != self._inode or stat.st_size < self._seen:
            # A new or replaced file (rotated by its reader): read it from the start.
            self._inode, self._seen = stat.st_ino, 0
            self._keys.clear()
        handle.seek(self._seen)
        for raw in handle:
            if not raw.endswith(b"\n"):
                handle.truncate(self._seen)
                break
            self._seen += len(raw)
            try:
                key = json.loads(raw).get("dedupe_key")
            except (ValueError, AttributeError):
                continue  # not ours: a reader's note, say
            if isinstance(key, str):
                self._keys.add(key)

    def read(self) -> list[dict[str, object]]:
        """Every complete message line of the file, oldest first (for readers and tests)."""
        if not self.path.is_file():
            return []
        lines = self.path.read_bytes().split(b"\n")[:-1]
        return [json.loads(line) for line in lines]

    def __repr__(self) -> str:
        return f"JsonLinesChannel({str(self.path)!r}, name={self.name!r})"


@hookimpl
def casekit_register_channels(registry: ChannelRegistry) -> None:
    """Register ``jsonl`` writing to ``$CASEKIT_JSONL_PATH``, when it is set."""
    path = os.environ.get(ENV_PATH)
    if path:
        registry.add(JsonLinesChannel(path))
