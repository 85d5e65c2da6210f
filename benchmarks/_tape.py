"""Record a reactor's answers once and play them back at no cost: the floor of what a
reactor costs the command path (the pipeline folding, hashing and storing its events,
with nothing computed). Shared by ``bench_sla.py`` and ``bench_playbook.py``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import attrs

from casekit.model.case import Case
from casekit.model.events import Event
from casekit.reactors import Change, Reactor
from casekit.storage import Timer

__all__ = ["PlaybackReactor", "Tape", "TapingReactor"]


class Tape:
    """What a reactor returned, call by call, in order."""

    def __init__(self) -> None:
        self.calls: dict[str, list[Any]] = {"react": [], "timers": [], "fire": []}
        self.at = dict.fromkeys(self.calls, 0)

    def rewind(self) -> None:
        self.at = dict.fromkeys(self.calls, 0)

    def next(self, kind: str) -> Any:
        i = self.at[kind]
        self.at[kind] = i + 1
        return self.calls[kind][i]


@attrs.frozen
class TapingReactor:
    """A real reactor, its answers recorded on a tape."""

    engine: Reactor
    tape: Tape
    name: str

    def react(self, change: Change) -> Sequence[Event]:
        out = list(self.engine.react(change))
        self.tape.calls["react"].append(out)
        return out

    def timers(self, case: Case) -> list[Timer]:
        out = list(self.engine.timers(case))
        self.tape.calls["timers"].append(out)
        return out

    def fire(self, case: Case, timer: Timer, now: datetime) -> Sequence[Event]:
        out = list(self.engine.fire(case, timer, now))
        self.tape.calls["fire"].append(out)
        return out


@attrs.frozen
class PlaybackReactor:
    """Returns what the taped reactor returned, computing nothing."""

    tape: Tape
    name: str

    def react(self, change: Change) -> Sequence[Event]:  # noqa: ARG002 - played back
        return self.tape.next("react")  # type: ignore[no-any-return]

    def timers(self, case: Case) -> list[Timer]:  # noqa: ARG002 - played back
        return self.tape.next("timers")  # type: ignore[no-any-return]

    def fire(self, case: Case, timer: Timer, now: datetime) -> Sequence[Event]:  # noqa: ARG002
        return self.tape.next("fire")  # type: ignore[no-any-return]
