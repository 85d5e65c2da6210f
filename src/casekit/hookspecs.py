"""The hooks casekit calls. Implement them in a plugin with ``@casekit.hookimpl``.

Hooks are for **registration** (stores by URL scheme, routing strategies, reactors,
subscribers) and for **decisions a host may override** (access). They are never used
for CRUD: a store is a plain object that implements :class:`casekit.storage.Store`.
casekit calls hooks with keyword arguments; an implementation may accept fewer
arguments than the spec lists, so specs can grow.

Every registration hook is called once per desk, for every plugin (built-ins first:
they register through the same hooks), and returns nothing; what a plugin hands the
registry is checked there, and a broken plugin raises
:class:`~casekit.exceptions.PluginError` naming it. ``casekit_check_access`` is the
one ``firstresult`` hook. This module is a contract: ``docs/reference/hooks.md``
documents each hook with its exact signature, and a test checks both.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from casekit._plugins import StoreRegistry
    from casekit.desk import Desk
    from casekit.model.access import Action, Decision, Directory
    from casekit.model.actors import Actor
    from casekit.model.case import Case, Task
    from casekit.notify import ChannelRegistry
    from casekit.playbook import ActionRegistry
    from casekit.reactors import ReactorRegistry, SubscriberRegistry
    from casekit.routing import StrategyRegistry

__all__ = ["hookimpl", "hookspec"]

PROJECT = "casekit"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def casekit_register_stores(registry: StoreRegistry) -> None:
    """Register store factories by URL scheme.

    Called once per desk, the first time it opens a store URL. Not ``firstresult``.

    Args:
        registry: Call ``registry.add("scheme", factory)`` where ``factory(url)``
            returns a :class:`~casekit.storage.Store`. A scheme registered twice
            raises :class:`~casekit.exceptions.PluginError`.
    """


@hookspec
def casekit_register_strategies(registry: StrategyRegistry) -> None:
    """Add routing strategies (tie-breakers) that queues can name.

    Called once when a desk builds its router from a factory
    (``Desk(router=lambda registry: Router(..., registry=registry))``); not
    ``firstresult``. The registry
    already holds the built-in strategies; adding a name twice raises
    :class:`~casekit.routing.DuplicateStrategy`.

    Args:
        registry: Call ``registry.add(strategy)``; a strategy is any object with a
            ``name`` and a ``score(item, agent, ctx)`` method (higher wins).
    """


@hookspec
def casekit_register_reactors(registry: ReactorRegistry, desk: Desk) -> None:
    """Add in-commit reactors (see :mod:`casekit.reactors`).

    Called once when a desk is built, after its store, rules, SLA policy and router are
    set. casekit's own reactors (``auto_close``, and ``sla`` when the desk has an SLA
    policy) register here too, first.

    Args:
        registry: Call ``registry.add(reactor, order=...)``; a reactor has a ``name``
            (also the kind of timer it owns) and ``react``, ``timers`` and ``fire``
            methods. A reactor of the wrong shape or a name registered twice raises
            :class:`~casekit.exceptions.PluginError`.
        desk: The desk being built (read its ``rules``, ``fields``, ``sla``, ``store``).
    """


@hookspec
def casekit_register_subscribers(registry: SubscriberRegistry, desk: Desk) -> None:
    """Add after-commit subscribers (see :mod:`casekit.reactors`).

    Called once when a desk is built; casekit's routing follow-up (``routing``, when the
    desk has a router) registers here too, first. A host can also call
    ``desk.subscribe(name, fn)`` at any time.

    Args:
        registry: Call ``registry.add(name, fn)``; ``fn(committed)`` is called after
            every commit of the desk with a :class:`~casekit.reactors.Committed`.
        desk: The desk being built.
    """


@hookspec
def casekit_register_channels(registry: ChannelRegistry, desk: Desk) -> None:
    """Add notification channels (e-mail, SMS, chat, webhooks; see :mod:`casekit.notify`).

    Called once when a desk is built, before its notification rules are checked (a rule
    naming a channel nobody registered is refused then). casekit's own ``log`` channel
    registers here too, first; the host's channels (``Desk(channels=[...])``) last.

    Args:
        registry: Call ``registry.add(channel)``; a channel has a ``name``, an
            ``address_kind`` and ``check_address`` and ``send`` methods. A channel of the
            wrong shape or a name registered twice raises
            :class:`~casekit.exceptions.PluginError` naming the plugin.
        desk: The desk being built.
    """


@hookspec
def casekit_register_actions(registry: ActionRegistry, desk: Desk) -> None:
    """Add host actions that playbooks' automated activities name (see
    :mod:`casekit.playbook`).

    Called once when a desk with playbooks is built, before its definitions are checked
    (an activity naming an action nobody registered is refused then); the host's
    actions (``Playbooks(actions=...)``) are added last.

    Args:
        registry: Call ``registry.add(name, fn)``; ``fn(ctx)`` takes an
            :class:`~casekit.playbook.ActionContext` and returns plain data or ``None``.
            A name registered twice or an object that is not callable raises
            :class:`~casekit.exceptions.PluginError` naming the plugin.
        desk: The desk being built.
    """


@hookspec(firstresult=True)
def casekit_check_access(  # noqa: PLR0917 - pluggy calls hooks with keywords
    actor: Actor,
    action: Action,
    case: Case,
    directory: Directory,
    now: datetime,
    task: Task | None,
) -> Decision | None:
    """Decide whether ``actor`` may do ``action`` on ``case``.

    Called for every command and query, and for each case a ``find`` returns.
    ``firstresult``: return a :class:`~casekit.model.access.Decision` to decide, or
    ``None`` to leave the decision to the next implementation. The built-in
    :class:`~casekit.model.access.AccessPolicy` runs last (``trylast``), so a host
    plugin wins. For ``Action.OPEN``, ``case`` is the case as it would be opened. An
    implementation that raises a :class:`~casekit.exceptions.CasekitError` (say,
    ``CorruptRecord`` from the directory) lets it through unchanged; any other
    exception, or a return value that is not a ``Decision``, becomes
    :class:`~casekit.exceptions.PluginError`.

    Args:
        actor: Who asks.
        action: What they ask to do.
        case: The case concerned.
        directory: Accounts, contacts and relationships (the desk's store).
        now: The current instant.
        task: The task concerned, for task work (``None`` for case actions).
    """
