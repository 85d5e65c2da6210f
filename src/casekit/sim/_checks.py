"""Checks of scenario fields: each refuses a bad value with InvalidScenario naming the
field (the converters and validators :mod:`casekit.sim._scenario` uses)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from casekit._convert import show as _show
from casekit.exceptions import InvalidScenario, NaiveDatetimeError
from casekit.routing import StrategyRegistry, UnknownStrategy
from casekit.sim._dists import MAX_SECONDS
from casekit.sla import BusinessCalendar

MAX_AGENTS = 100_000
"""The most agents one scenario may have (the router keeps each in memory)."""


def show(value: object) -> str:
    """``repr`` cut short; an integer too long to write is described instead."""
    try:
        return _show(value)
    except ValueError:  # more digits than Python writes
        return f"an integer of {value.bit_length()} bits" if isinstance(value, int) else "?"


def _fail(message: str, where: str) -> InvalidScenario:
    return InvalidScenario(message, where=where)


def _finite(value: object) -> bool:
    """A real number, not a bool, finite (an int too large for a float is not)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    if isinstance(value, int):
        return abs(value) < 2**53
    return math.isfinite(value)


def _optional_text(where: str) -> Any:
    def check(_instance: object, attribute: Any, value: Any) -> None:
        if value is not None and not isinstance(value, str):
            raise _fail(f"must be a string, not {show(value)}", f"{where}.{attribute.name}")

    return check


def _probability(where: str) -> Any:
    def check(_instance: object, _attribute: Any, value: Any) -> None:
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not 0 <= value <= 1
            or math.isnan(value)
        ):
            raise _fail(f"must be a probability between 0 and 1, got {show(value)}", where)

    return check


def _weights(count: int, where: str) -> Any:
    def convert(value: object) -> tuple[float, ...]:
        if isinstance(value, str | bytes) or not isinstance(value, Iterable):
            raise _fail(f"must be a list of {count} weights, not {show(value)}", where)
        items = tuple(value)
        if len(items) != count:
            raise _fail(f"must have {count} weights, got {len(items)}", where)
        out = []
        for number, item in enumerate(items):
            if not _finite(item) or item < 0:
                raise _fail(
                    f"must be a weight of 0 or more, got {show(item)}", f"{where}[{number}]"
                )
            out.append(float(item))
        if not any(out):
            raise _fail("at least one weight must be above 0", where)
        return tuple(out)

    return convert


def _zone(value: object) -> str:
    if not isinstance(value, str):
        raise _fail(f"must be a time-zone name, not {show(value)}", "arrivals.zone")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise _fail(f"unknown time zone {value!r}", "arrivals.zone") from None
    return value


def _at_least_a_second(where: str, value: timedelta) -> timedelta:
    # Each sample or tick is an event of the loop: a microsecond period would run
    # billions of them per simulated hour.
    if value < timedelta(seconds=1):
        raise _fail(f"must be at least 1 s, got {value.total_seconds():g} s", where)
    return value


def _strategy_names(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        value = (value,)
    if isinstance(value, bytes) or not isinstance(value, Iterable):
        raise _fail(f"must be a list of strategy names, not {show(value)}", "strategies")
    names = tuple(value)
    known = StrategyRegistry.with_defaults()
    for number, name in enumerate(names):
        if not isinstance(name, str):
            raise _fail(f"must be a strategy name, not {show(name)}", f"strategies[{number}]")
        try:
            known.get(name)
        except UnknownStrategy:
            raise _fail(f"unknown routing strategy {name!r}", f"strategies[{number}]") from None
    return names


def _items(value: object, kind: type[Any], what: str, where: str) -> tuple[Any, ...]:
    """``value`` as a tuple of ``kind`` (a list given in Python), or refused."""
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Iterable):
        # "a Playbook" -> "a list of Playbooks"
        raise _fail(f"must be a list of {what.partition(' ')[2]}s, not {show(value)}", where)
    items = tuple(value)
    for number, item in enumerate(items):
        if not isinstance(item, kind):
            raise _fail(f"must be {what}, not {show(item)}", f"{where}[{number}]")
    return items


def _calendars(value: object) -> dict[str, BusinessCalendar]:
    if not isinstance(value, Mapping):
        raise _fail(
            f"must be a mapping of name to BusinessCalendar, not {show(value)}", "calendars"
        )
    return dict(value)


def _max_units(_instance: object, _attribute: Any, value: Any) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise _fail(
            f"must be a whole number of units, 0 or more, got {show(value)}", "agents.max_units"
        )


def _flag(where: str) -> Any:
    def check(_instance: object, _attribute: Any, value: Any) -> None:
        if not isinstance(value, bool):
            raise _fail(f"must be true or false, not {show(value)}", where)

    return check


def _aware(value: object, where: str) -> datetime:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise _fail(f"is not an ISO 8601 instant: {show(value)}", where) from None
    if not isinstance(value, datetime):
        raise _fail(f"must be an aware datetime, not {show(value)}", where)
    if value.tzinfo is None or value.utcoffset() is None:
        raise NaiveDatetimeError(where)
    return value.astimezone(UTC)


def _optional_positive(where: str) -> Any:
    def convert(value: object) -> timedelta | None:
        if value is None:
            return None
        result: timedelta = _positive(where)(value)
        return result

    return convert


def _positive(where: str) -> Any:
    def convert(value: object) -> timedelta:
        if isinstance(value, timedelta):
            seconds = value.total_seconds()
        elif isinstance(value, int | float) and not isinstance(value, bool):
            seconds = float(value) if isinstance(value, float) or abs(value) < 2**53 else math.inf
        else:
            raise _fail(f"must be a duration in seconds, not {show(value)}", where)
        if seconds > MAX_SECONDS:
            raise _fail(f"must be at most {MAX_SECONDS:,} s (100 years), got {seconds:g} s", where)
        if not math.isfinite(seconds) or seconds <= 0:
            raise _fail(f"must be a positive duration, got {seconds!r} s", where)
        return timedelta(seconds=seconds)

    return convert
