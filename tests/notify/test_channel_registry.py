"""The channel registry: plugins add channels through ``casekit_register_channels``."""

from __future__ import annotations

from typing import Any

import pytest

from casekit import PluginError, UnknownChannel, hookimpl
from casekit._plugins import Plugins
from casekit.notify import ChannelRegistry, Message


class Pager:
    name = "pager"
    address_kind = "phone"

    def __init__(self) -> None:
        self.sent: list[Message] = []

    def check_address(self, address: str) -> None:
        pass

    def send(self, message: Message) -> None:
        self.sent.append(message)


class PagerPlugin:
    @hookimpl
    def casekit_register_channels(self, registry: ChannelRegistry) -> None:
        registry.add(Pager())


def _registry(*plugins: object) -> ChannelRegistry:
    registry = ChannelRegistry()
    Plugins(plugins, discover=False).register_channels(registry, desk=None)  # type: ignore[arg-type]
    return registry


def test_a_plugin_adds_a_channel_by_hook() -> None:
    registry = _registry(PagerPlugin())
    assert "pager" in registry.names
    assert registry.get("pager").address_kind == "phone"
    assert registry.owner("pager") == "PagerPlugin"


def test_a_channel_registered_twice_names_both_plugins() -> None:
    class Again:
        @hookimpl
        def casekit_register_channels(self, registry: ChannelRegistry) -> None:
            registry.add(Pager())

    with pytest.raises(PluginError, match="registered twice"):
        _registry(PagerPlugin(), Again())


@pytest.mark.parametrize(
    ("channel", "match"),
    [
        (object(), "no name, address_kind, check_address, send"),
        (type("Odd", (Pager,), {"address_kind": "pigeon"})(), "address_kind 'pigeon'"),
        (type("Blank", (Pager,), {"name": ""})(), "invalid name"),
        (type("NotCallable", (Pager,), {"send": 3})(), "must be methods"),
    ],
)
def test_a_channel_of_the_wrong_shape_is_refused(channel: Any, match: str) -> None:
    with pytest.raises(PluginError, match=match):
        ChannelRegistry((channel,))


def test_an_unknown_channel_lists_the_known_ones() -> None:
    with pytest.raises(UnknownChannel, match=r"'fax' \(registered: pager\)"):
        ChannelRegistry((Pager(),)).get("fax")
