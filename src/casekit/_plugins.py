"""One pluggy plugin manager per Desk, wrapped with one typed method per hook."""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pluggy

from casekit import hookspecs
from casekit.exceptions import CasekitError, PluginError, UnknownStoreScheme
from casekit.model.access import AccessPolicy, Action, Decision, Directory
from casekit.model.actors import Actor
from casekit.model.case import Case, Task
from casekit.notify._channel import ChannelRegistry
from casekit.reactors import ReactorRegistry, SubscriberRegistry
from casekit.routing import StrategyRegistry
from casekit.storage.base import Store, is_store

if TYPE_CHECKING:
    from casekit.desk import Desk
    from casekit.playbook import ActionRegistry

__all__ = ["ENTRY_POINT_GROUP", "Plugins", "StoreFactory", "StoreRegistry"]

ENTRY_POINT_GROUP = "casekit"

StoreFactory = Callable[[str], Store]
"""Builds a store from its URL (``"sqlite:///cases.db"``)."""


class StoreRegistry:
    """Store factories by URL scheme, filled by ``casekit_register_stores``."""

    def __init__(self) -> None:
        self._factories: dict[str, tuple[StoreFactory, str]] = {}
        self._current_plugin = "?"

    def add(self, scheme: str, factory: StoreFactory) -> None:
        """Register ``factory`` for URLs ``scheme://...``.

        Raises:
            PluginError: The scheme is already registered by another plugin.
        """
        scheme = scheme.lower()
        if scheme in self._factories:
            owner = self._factories[scheme][1]
            raise PluginError(
                f"store scheme {scheme!r} registered twice (by {owner} and {self._current_plugin})"
            )
        self._factories[scheme] = (factory, self._current_plugin)

    @property
    def schemes(self) -> list[str]:
        return sorted(self._factories)

    def open(self, url: str) -> Store:
        """Build the store for ``url``."""
        scheme, sep, _ = url.partition("://")
        if not sep:
            raise UnknownStoreScheme(url, f"store URL {url!r} has no scheme (e.g. sqlite:///x.db)")
        try:
            factory, _owner = self._factories[scheme.lower()]
        except KeyError:
            known = ", ".join(self.schemes) or "none"
            raise UnknownStoreScheme(
                scheme,
                f"no store registered for {scheme!r}:// (registered: {known}); "
                "install the plugin that provides it",
            ) from None
        try:
            store = factory(url)
        except CasekitError as exc:
            exc.add_note(f"raised by the {scheme!r} store factory of plugin {_owner}")
            raise
        except Exception as exc:
            raise PluginError(
                f"the {scheme!r} store factory of plugin {_owner} failed on {url!r}: {exc!r}"
            ) from exc
        if not is_store(store):
            raise PluginError(
                f"the {scheme!r} store factory of plugin {_owner} returned {store!r}, "
                "not a casekit Store (see casekit.storage.Store)"
            )
        return store


class Plugins:
    """The plugin manager of one Desk, with typed calls for each hook.

    Setup order: hookspecs, built-in plugins, entry points (group ``casekit``) unless
    ``discover=False``, then the host's own plugin objects. A plugin that names a hook
    casekit does not define fails at once (``check_pending``).
    """

    def __init__(self, plugins: Iterable[object] = (), *, discover: bool = True) -> None:
        self.manager = pluggy.PluginManager(hookspecs.PROJECT)
        self.manager.add_hookspecs(hookspecs)
        from casekit import _builtin  # noqa: PLC0415 - avoids an import cycle

        self.manager.register(_builtin, name="casekit.builtin")
        if discover:
            self._load_entry_points()
        for plugin in plugins:
            self.register(plugin)
        try:
            self.manager.check_pending()
        except pluggy.PluginValidationError as exc:
            raise PluginError(f"plugin implements an unknown hook: {exc}") from exc
        self._stores: StoreRegistry | None = None

    def _load_entry_points(self) -> None:
        for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            if self.manager.get_plugin(entry_point.name) is not None:
                continue
            try:
                plugin = entry_point.load()
            except Exception as exc:
                raise PluginError(
                    f"cannot load casekit plugin {entry_point.name!r} ({entry_point.value}): {exc}"
                ) from exc
            self.register(plugin, name=entry_point.name)

    def register(self, plugin: object, name: str | None = None) -> None:
        """Register a plugin object or module."""
        try:
            self.manager.register(plugin, name=name)
        except (ValueError, pluggy.PluginValidationError) as exc:
            label = name or getattr(plugin, "__name__", type(plugin).__name__)
            raise PluginError(f"cannot register plugin {label!r}: {exc}") from exc

    @property
    def stores(self) -> StoreRegistry:
        """The store registry (filled on first use)."""
        if self._stores is None:
            registry = StoreRegistry()
            # Registration order: built-ins first, so a clash names them as the owner.
            for impl in self.manager.hook.casekit_register_stores.get_hookimpls():
                registry._current_plugin = _label(impl)
                _call_impl(impl, registry=registry)
            self._stores = registry
        return self._stores

    def register_strategies(self, registry: StrategyRegistry) -> None:
        """Let every plugin add its routing strategies to ``registry``."""
        for impl in self.manager.hook.casekit_register_strategies.get_hookimpls():
            _call_impl(impl, registry=registry)

    def register_reactors(self, registry: ReactorRegistry, *, desk: Desk) -> None:
        """Let every plugin add its reactors (built-ins first)."""
        for impl in self.manager.hook.casekit_register_reactors.get_hookimpls():
            registry._current_plugin = _label(impl)
            _call_impl(impl, registry=registry, desk=desk)

    def register_channels(self, registry: ChannelRegistry, *, desk: Desk) -> None:
        """Let every plugin add its notification channels (built-ins first)."""
        for impl in self.manager.hook.casekit_register_channels.get_hookimpls():
            registry._current_plugin = _label(impl)
            _call_impl(impl, registry=registry, desk=desk)
        registry._current_plugin = "the host"

    def register_actions(self, registry: ActionRegistry, *, desk: Desk) -> None:
        """Let every plugin add its playbook actions (built-ins first)."""
        for impl in self.manager.hook.casekit_register_actions.get_hookimpls():
            registry._current_plugin = _label(impl)
            _call_impl(impl, registry=registry, desk=desk)
        registry._current_plugin = "the host"

    def register_subscribers(self, registry: SubscriberRegistry, *, desk: Desk) -> None:
        """Let every plugin add its subscribers (built-ins first)."""
        for impl in self.manager.hook.casekit_register_subscribers.get_hookimpls():
            registry._current_plugin = _label(impl)
            _call_impl(impl, registry=registry, desk=desk)

    @property
    def default_access_only(self) -> bool:
        """Whether the built-in :class:`AccessPolicy` is the only access hook."""
        return len(self.manager.hook.casekit_check_access.get_hookimpls()) == 1

    def check_access(
        self,
        *,
        actor: Actor,
        action: Action,
        case: Case,
        directory: Directory,
        now: datetime,
        task: Task | None = None,
    ) -> Decision:
        """Ask the access hooks; the built-in policy answers when no plugin does."""
        hook = self.manager.hook.casekit_check_access
        try:
            if self.default_access_only:  # skip the dispatch
                return _builtin_policy().decide(actor, action, case, directory, now, task=task)
            decision = hook(
                actor=actor, action=action, case=case, directory=directory, now=now, task=task
            )
        except CasekitError as exc:  # e.g. CorruptRecord from the directory: keep it
            exc.add_note("raised while deciding access (casekit_check_access)")
            raise
        except Exception as exc:
            raise PluginError(f"casekit_check_access raised: {exc!r}") from exc
        if not isinstance(decision, Decision):
            raise PluginError(f"casekit_check_access returned {decision!r}, not a Decision")
        return decision


def _builtin_policy() -> AccessPolicy:
    from casekit._builtin import POLICY  # noqa: PLC0415 - avoids an import cycle

    return POLICY


def _call_impl(impl: pluggy.HookImpl, **kwargs: Any) -> Any:
    """Call one implementation with the arguments it asks for."""
    args = {name: kwargs[name] for name in impl.argnames}
    try:
        return impl.function(**args)
    except PluginError:
        raise
    except Exception as exc:
        raise PluginError(
            f"plugin {_label(impl)} failed in {impl.function.__name__}: {exc!r}"
        ) from exc


def _label(impl: pluggy.HookImpl) -> str:
    """A readable name for the plugin behind ``impl``."""
    if not impl.plugin_name.isdigit():
        return impl.plugin_name
    plugin = impl.plugin
    return getattr(plugin, "__name__", type(plugin).__name__)
