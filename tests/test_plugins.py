"""Plugin wiring: one manager per Desk, registration hooks, entry points, failures."""

from __future__ import annotations

import importlib.metadata
from datetime import datetime
from typing import Any

import pytest

import casekit
from casekit import (
    Action,
    Actor,
    Case,
    Decision,
    Desk,
    MemoryStore,
    PluginError,
    Store,
    StoreRegistry,
    hookimpl,
)
from casekit._plugins import ENTRY_POINT_GROUP, Plugins
from casekit.model.access import Directory
from tests.conftest import AGENT, populate


class RedisLikeStore(MemoryStore):
    """Stands in for a third-party store; behaves like the memory store."""

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url


class RedisPlugin:
    @hookimpl
    def casekit_register_stores(self, registry: StoreRegistry) -> None:
        registry.add("redis", RedisLikeStore)


def test_third_party_store_is_opened_by_url() -> None:
    with Desk.open("redis://localhost/0", plugins=[RedisPlugin()], discover=False) as desk:
        assert isinstance(desk.store, RedisLikeStore)
        assert desk.store.url == "redis://localhost/0"
        assert isinstance(desk.store, Store)


def test_duplicate_scheme_names_both_plugins() -> None:
    class Clash:
        @hookimpl
        def casekit_register_stores(self, registry: StoreRegistry) -> None:
            registry.add("memory", lambda url: MemoryStore())

    with pytest.raises(PluginError, match=r"'memory' registered twice \(by casekit\.builtin"):
        Desk.open("memory://", plugins=[Clash()], discover=False)


def test_misspelled_hook_fails_fast() -> None:
    class Typo:
        @hookimpl
        def casekit_register_store(self, registry: StoreRegistry) -> None:
            """Missing the final s."""

    with pytest.raises(PluginError, match="unknown hook"):
        Desk(plugins=[Typo()], discover=False)


def test_registering_the_same_plugin_twice_is_an_error() -> None:
    plugin = RedisPlugin()
    with pytest.raises(PluginError, match="cannot register"):
        Desk(plugins=[plugin, plugin], discover=False)


def test_store_factory_failure_is_a_plugin_error() -> None:
    class Broken:
        @hookimpl
        def casekit_register_stores(self, registry: StoreRegistry) -> None:
            raise RuntimeError("boom")

    with pytest.raises(PluginError, match="boom"):
        Desk.open("memory://", plugins=[Broken()], discover=False)


def test_each_desk_has_its_own_plugin_manager() -> None:
    with_plugin = Desk(plugins=[RedisPlugin()], discover=False)
    without = Desk(discover=False)
    assert "redis" in with_plugin.plugins.stores.schemes
    assert "redis" not in without.plugins.stores.schemes


def test_access_hook_overrides_default(desk: Desk) -> None:
    case = desk.open_case(actor=AGENT, subject="x", account_id="globex")

    class ReadOnlyAuditors:
        @hookimpl
        def casekit_check_access(self, actor: Actor, action: Action) -> Decision | None:
            if "auditor" in actor.roles:
                if action is Action.VIEW:
                    return Decision.allow("auditors read everything")
                return Decision.deny("auditors only read")
            return None

    hosted = Desk(desk.store, clock=desk.clock, plugins=[ReadOnlyAuditors()], discover=False)
    auditor = Actor.agent("audrey", roles={"auditor"}, groups={"nowhere"})
    assert hosted.get(case.id, actor=auditor).id == case.id
    with pytest.raises(casekit.AccessDenied, match="auditors only read"):
        hosted.update(case.id, actor=auditor, subject="y")
    # Other actors fall through to the built-in policy.
    assert hosted.get(case.id, actor=AGENT).id == case.id


def test_access_hook_that_raises_or_returns_junk_is_a_plugin_error(desk: Desk) -> None:
    case = desk.open_case(actor=AGENT, subject="x", account_id="globex")

    class Raises:
        @hookimpl
        def casekit_check_access(self) -> Decision | None:
            raise RuntimeError("directory service down")

    class Junk:
        @hookimpl
        def casekit_check_access(self) -> Any:
            return "yes"

    for plugin in (Raises(), Junk()):
        hosted = Desk(desk.store, clock=desk.clock, plugins=[plugin], discover=False)
        with pytest.raises(PluginError, match="casekit_check_access"):
            hosted.get(case.id, actor=AGENT)


class FakeEntryPoint:
    def __init__(self, name: str, target: object) -> None:
        self.name = name
        self.value = f"{name}:plugin"
        self.target = target

    def load(self) -> object:
        if isinstance(self.target, Exception):
            raise self.target
        return self.target


def test_entry_points_are_discovered_and_can_be_switched_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def fake_entry_points(*, group: str) -> list[FakeEntryPoint]:
        assert group == ENTRY_POINT_GROUP
        return [FakeEntryPoint("casekit-redis", RedisPlugin())]

    monkeypatch.setattr(importlib.metadata, "entry_points", fake_entry_points)
    assert "redis" in Plugins().stores.schemes
    assert "redis" not in Plugins(discover=False).stores.schemes


def test_broken_entry_point_names_the_plugin(monkeypatch: pytest.MonkeyPatch) -> None:
    def fake_entry_points(*, group: str) -> list[FakeEntryPoint]:
        return [FakeEntryPoint("casekit-broken", ImportError("no module named redis"))]

    monkeypatch.setattr(importlib.metadata, "entry_points", fake_entry_points)
    with pytest.raises(PluginError, match="casekit-broken"):
        Desk()


def test_hook_implementations_may_take_fewer_arguments(desk: Desk) -> None:
    seen: list[str] = []

    class Watcher:
        @hookimpl
        def casekit_check_access(
            self, actor: Actor, case: Case, directory: Directory, now: datetime
        ) -> None:
            seen.append(f"{actor}@{case.id}")
            assert directory.get_account("acme").name == "Acme Corp"
            assert now.tzinfo is not None

    hosted = Desk(desk.store, clock=desk.clock, plugins=[Watcher()], discover=False)
    populate(hosted)
    case = hosted.open_case(actor=AGENT, subject="x", account_id="acme")
    assert seen == [f"{AGENT}@{case.id}"]
