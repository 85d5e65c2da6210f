"""casekit's channel conformance suite, and what this channel promises beyond it.

``ChannelConformance`` holds every test of the contract; ``TestJsonLinesChannel`` only
says how to make the channel and read back what it delivered. pytest collects the
subclass because its name starts with ``Test``.
"""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys
import textwrap
import tomllib
from collections.abc import Callable, Sequence

import attrs
import pytest
from casekit_jsonl import ENV_PATH, JsonLinesChannel, casekit_register_channels

from casekit import DeliveryFailed, InvalidValue
from casekit.notify import ChannelRegistry
from casekit.testing import ChannelConformance, Received
from casekit.testing.channels import make_message

PACKAGE = pathlib.Path(__file__).resolve().parent.parent


class TestJsonLinesChannel(ChannelConformance):
    dedupes = True

    @pytest.fixture
    def channel(self, tmp_path: pathlib.Path) -> JsonLinesChannel:
        return JsonLinesChannel(tmp_path / "out.jsonl", fsync=False)

    @pytest.fixture
    def address(self) -> str:
        return "ana@example.com"

    @pytest.fixture
    def invalid_address(self) -> str:
        return "ana@example.com\n"

    @pytest.fixture
    def received(self, channel: JsonLinesChannel) -> Callable[[], Sequence[Received]]:
        return lambda: [
            Received(
                str(line["text"]),
                subject=str(line["subject"]),
                address=str(line["address"]),
                dedupe_key=str(line["dedupe_key"]),
            )
            for line in channel.read()
        ]

    @pytest.fixture
    def make_failing(self, channel: JsonLinesChannel) -> Callable[[bool], None]:
        def fail(permanent: bool) -> None:
            if permanent:
                pytest.skip("a file has no permanent failure; unwritable data is tested below")
            channel.path.unlink(missing_ok=True)
            channel.path.mkdir()  # opening a directory for writing fails: transient

        return fail


def test_data_that_is_not_json_is_a_permanent_failure(tmp_path: pathlib.Path) -> None:
    channel = JsonLinesChannel(tmp_path / "out.jsonl")
    broken = attrs.evolve(make_message("x", channel="jsonl"), data={"x": object()})
    with pytest.raises(DeliveryFailed) as info:
        channel.send(broken)
    assert info.value.permanent


@pytest.mark.parametrize("path", ["missing-dir/out.jsonl", "."])
def test_path_must_be_a_file_in_an_existing_directory(tmp_path: pathlib.Path, path: str) -> None:
    with pytest.raises(InvalidValue) as info:
        JsonLinesChannel(tmp_path / path)
    assert info.value.where == "path"


def test_a_torn_last_line_is_cut_before_the_next_one(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "out.jsonl"
    first = make_message("x", dedupe_key="k1")
    JsonLinesChannel(path).send(first)
    with path.open("ab") as file:
        file.write(b'{"dedupe_key": "k2", "te')  # a writer killed mid-line
    channel = JsonLinesChannel(path)
    channel.send(make_message("x", dedupe_key="k2"))
    assert [line["dedupe_key"] for line in channel.read()] == ["k1", "k2"]


def test_a_rotated_file_is_read_again(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "out.jsonl"
    channel = JsonLinesChannel(path)
    channel.send(make_message("x", dedupe_key="k1"))
    path.rename(tmp_path / "out.1.jsonl")  # the reader took the file away
    channel.send(make_message("x", dedupe_key="k2"))
    assert [line["dedupe_key"] for line in channel.read()] == ["k2"]


WRITER = textwrap.dedent(
    """
    import sys
    from casekit_jsonl import JsonLinesChannel
    from casekit.testing.channels import make_message

    channel = JsonLinesChannel(sys.argv[1], fsync=False)
    for n in range(40):
        channel.send(make_message("ana@example.com", dedupe_key=f"k{n}", attempt=int(sys.argv[2])))
    """
)


def test_processes_sending_the_same_messages_write_each_once(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "out.jsonl"
    writers = [
        subprocess.Popen(  # noqa: S603 - this interpreter, our own script
            [sys.executable, "-c", WRITER, str(path), str(n)], stderr=subprocess.PIPE
        )
        for n in range(1, 4)
    ]
    for writer in writers:
        _, err = writer.communicate(timeout=60)
        assert writer.returncode == 0, err
    keys = [str(line["dedupe_key"]) for line in JsonLinesChannel(path).read()]
    assert sorted(keys) == sorted(f"k{n}" for n in range(40))


def test_the_hook_registers_the_channel_when_configured(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV_PATH, raising=False)
    registry = ChannelRegistry()
    casekit_register_channels(registry)
    assert registry.names == []
    monkeypatch.setenv(ENV_PATH, str(tmp_path / "out.jsonl"))
    casekit_register_channels(registry)
    channel = registry.get("jsonl")
    assert isinstance(channel, JsonLinesChannel)
    assert channel.path == tmp_path / "out.jsonl"


def test_entry_point_names_the_module_with_the_hook() -> None:
    meta = tomllib.loads((PACKAGE / "pyproject.toml").read_text(encoding="utf-8"))
    assert meta["project"]["name"] == "casekit-example-channel"
    assert meta["project"]["entry-points"]["casekit"] == {"jsonl-channel": "casekit_jsonl"}
    assert json.loads(json.dumps(meta["project"]["dependencies"])) == ["casekit>=0.1.0.dev0"]


def test_a_desk_finds_the_channel_by_entry_point_and_delivers_through_it(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import UTC, datetime  # noqa: PLC0415

    from casekit import Account, Actor, Contact, Desk, ManualClock  # noqa: PLC0415
    from casekit.notify import NotificationRules, Notifications  # noqa: PLC0415

    out = tmp_path / "out.jsonl"
    monkeypatch.setenv(ENV_PATH, str(out))
    rules = NotificationRules.standard(customer_channel="jsonl", agent_channel="jsonl")
    clock = ManualClock(datetime(2026, 3, 2, 9, tzinfo=UTC))
    with Desk.open(
        f"sqlite:///{tmp_path / 'cases.db'}", clock=clock, notifications=Notifications(rules)
    ) as desk:
        assert "jsonl" in desk.channels.names
        desk.save_account(Account(id="acme", name="ACME"))
        desk.save_contact(Contact(id="zoe", account_id="acme", name="Zoé", email="z@x.org"))
        case = desk.open_case(
            actor=Actor.system(), subject="Lost card", account_id="acme", contact_id="zoe"
        )
        assert desk.deliver().delivered == 1
        assert desk.deliver().delivered == 0
    [line] = JsonLinesChannel(out).read()
    assert line["subject"] == f"[{case.id}] We received your request: Lost card"
