"""The built-in plugin: registers casekit's own stores and access policy through the
same hooks a third-party plugin uses."""

from __future__ import annotations

from datetime import datetime

from casekit._plugins import StoreRegistry
from casekit.exceptions import InvalidValue
from casekit.hookspecs import hookimpl
from casekit.model.access import AccessPolicy, Action, Decision, Directory
from casekit.model.actors import Actor
from casekit.model.case import Case, Task
from casekit.storage.base import Store

_POLICY = AccessPolicy()


def _memory(url: str) -> Store:
    from casekit.storage.memory import MemoryStore  # noqa: PLC0415

    if url.rstrip("/") not in ("memory:", "memory:/"):
        raise InvalidValue(f"the memory store takes no path: {url!r}", where="url")
    return MemoryStore()


def _sqlite(url: str) -> Store:
    from casekit.storage.sqlite import SQLiteStore  # noqa: PLC0415

    return SQLiteStore.from_url(url)


@hookimpl
def casekit_register_stores(registry: StoreRegistry) -> None:
    registry.add("memory", _memory)
    registry.add("sqlite", _sqlite)


@hookimpl(trylast=True)
def casekit_check_access(  # noqa: PLR0917 - pluggy calls hooks with keywords
    actor: Actor,
    action: Action,
    case: Case,
    directory: Directory,
    now: datetime,
    task: Task | None,
) -> Decision:
    return _POLICY.decide(actor, action, case, directory, now, task=task)
