"""The built-in plugin: registers casekit's own stores, reactors (auto-close, the SLA
engine), routing follow-up and access policy through the same hooks a third-party
plugin uses."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from casekit._plugins import StoreRegistry
from casekit.exceptions import InvalidValue
from casekit.hookspecs import hookimpl
from casekit.model.access import AccessPolicy, Action, Decision, Directory
from casekit.model.actors import Actor
from casekit.model.case import Case, Task
from casekit.notify._channel import ChannelRegistry
from casekit.reactors import ORDER_FIRST, ORDER_LAST, ReactorRegistry, SubscriberRegistry
from casekit.storage.base import Store

if TYPE_CHECKING:
    from casekit.desk import Desk

POLICY = AccessPolicy()
"""The default access policy, consulted last."""


def _memory(url: str) -> Store:
    from casekit.storage.memory import MemoryStore  # noqa: PLC0415

    if url.rstrip("/") not in ("memory:", "memory:/"):
        raise InvalidValue(f"the memory store takes no path: {url!r}", where="url")
    return MemoryStore()


def _sqlite(url: str) -> Store:
    from casekit.storage.sqlite import SQLiteStore  # noqa: PLC0415

    return SQLiteStore.from_url(url)


def _postgres(url: str) -> Store:
    try:
        from casekit.storage.postgres import PostgresStore  # noqa: PLC0415
    except ImportError as exc:
        raise InvalidValue(
            f"PostgreSQL stores need psycopg and psycopg_pool ({exc}); "
            "install them with: pip install 'casekit[postgres]'",
            where="url",
        ) from None
    return PostgresStore.open(url)


@hookimpl
def casekit_register_stores(registry: StoreRegistry) -> None:
    registry.add("memory", _memory)
    registry.add("sqlite", _sqlite)
    registry.add("postgresql", _postgres)
    registry.add("postgres", _postgres)


@hookimpl
def casekit_register_reactors(registry: ReactorRegistry, desk: Desk) -> None:
    from casekit._autoclose import AutoCloseReactor  # noqa: PLC0415
    from casekit.sla._reactor import SlaReactor  # noqa: PLC0415

    registry.add(AutoCloseReactor(desk.rules, desk.fields), order=ORDER_FIRST)
    if desk.playbooks is not None:  # before the SLA engine: it times the tasks opened
        registry.add(desk.playbooks.reactor)
    if desk.links is not None:
        registry.add(desk.links.reactor)
    if desk.sla is not None:
        registry.add(SlaReactor(desk.sla), order=ORDER_LAST)
    if desk.notifications is not None:  # after the SLA engine: it sees SLA events too
        registry.add(desk.notifications.reactor, order=ORDER_LAST)


@hookimpl
def casekit_register_channels(registry: ChannelRegistry) -> None:
    # The other built-in channels need configuration (a server, a URL, a secret): the
    # host creates them and passes them to the desk.
    from casekit.notify.channels import LogChannel  # noqa: PLC0415

    registry.add(LogChannel())


@hookimpl
def casekit_register_subscribers(registry: SubscriberRegistry, desk: Desk) -> None:
    if desk.routing is not None:
        registry.add(desk.routing.name, desk.routing)
    if desk.playbooks is not None:
        registry.add(desk.playbooks.name, desk.playbooks)
    if desk.links is not None:
        registry.add(desk.links.name, desk.links)


@hookimpl(trylast=True)
def casekit_check_access(  # noqa: PLR0917 - pluggy calls hooks with keywords
    actor: Actor,
    action: Action,
    case: Case,
    directory: Directory,
    now: datetime,
    task: Task | None,
) -> Decision:
    return POLICY.decide(actor, action, case, directory, now, task=task)
