"""Durations drawn at random: handle times, customers' answers, patience, reopen delays.

Each distribution is a small frozen attrs class with a ``kind`` tag for data files
(``{"kind": "exponential", "mean": 300}``, seconds) and a :meth:`sampler` that turns it
into a function of a :class:`random.Random` giving whole microseconds, the simulator's
unit of time. Samplers are plain closures over precomputed constants: the simulator
calls one or two per case, so they cost a method call and a multiplication.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from typing import Any, ClassVar

import attrs

from casekit.exceptions import InvalidDefinition, InvalidScenario

__all__ = [
    "Distribution",
    "Empirical",
    "Exponential",
    "Fixed",
    "LogNormal",
    "Uniform",
    "distribution_from_data",
    "distribution_to_data",
]

Sampler = Callable[[random.Random], int]
"""Draws one duration, in microseconds (at least 1)."""

_US = 1_000_000
MAX_SECONDS = 100 * 366 * 86_400
"""The longest duration a scenario may give (longer ones overflow the calendars)."""


def _seconds(value: object, where: str) -> float:
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value) if isinstance(value, float) or abs(value) < 2**53 else math.inf
    else:
        raise InvalidScenario(
            f"must be a duration (seconds or timedelta), not {type(value).__name__}", where=where
        )
    if abs(seconds) > MAX_SECONDS and not math.isnan(seconds):
        raise InvalidScenario(
            f"must be at most {MAX_SECONDS:,} s (100 years), got {seconds:g} s", where=where
        )
    if not math.isfinite(seconds):
        raise InvalidScenario(f"must be finite, got {seconds!r}", where=where)
    return seconds


def _duration(where: str, *, allow_zero: bool = False) -> Callable[[object], timedelta]:
    def convert(value: object) -> timedelta:
        seconds = _seconds(value, where)
        if seconds < 0 or (seconds == 0 and not allow_zero):
            raise InvalidScenario(
                f"must be {'zero or more' if allow_zero else 'positive'}, got {seconds:g} s",
                where=where,
            )
        return timedelta(seconds=seconds)

    return convert


def _exponential_mean(value: object) -> timedelta:
    return _duration("exponential.mean")(value)


def _lognormal_mean(value: object) -> timedelta:
    return _duration("lognormal.mean")(value)


def _fixed_value(value: object) -> timedelta:
    return _duration("fixed.value")(value)


def _uniform_low(value: object) -> timedelta:
    return _duration("uniform.low", allow_zero=True)(value)


def _uniform_high(value: object) -> timedelta:
    return _duration("uniform.high")(value)


def _micros(value: timedelta) -> int:
    return value // timedelta(microseconds=1)


@attrs.frozen
class Exponential:
    """Memoryless durations with the given mean (the M in M/M/c)."""

    kind: ClassVar[str] = "exponential"
    mean: timedelta = attrs.field(converter=_exponential_mean)

    def sampler(self) -> Sampler:
        rate = exponential_rate(self)

        def draw(rng: random.Random) -> int:
            return int(rng.expovariate(rate)) + 1

        return draw

    @property
    def expected(self) -> timedelta:
        """The mean duration."""
        return self.mean


def exponential_rate(distribution: Exponential) -> float:
    """Draws per microsecond of an exponential duration: its sampler's is
    ``int(rng.expovariate(rate)) + 1``, which the simulator's loop computes inline as
    ``int(-log(1.0 - rng.random()) / rate) + 1`` (the same numbers, CPython's
    ``expovariate``, without two calls)."""
    return 1 / max(1, _micros(distribution.mean))


@attrs.frozen
class LogNormal:
    """Right-skewed durations (typical of handle times) with the given mean; ``sigma`` is
    the standard deviation of the underlying normal (0.5 to 1.0 is common)."""

    kind: ClassVar[str] = "lognormal"
    mean: timedelta = attrs.field(converter=_lognormal_mean)
    sigma: float = attrs.field(default=0.75)

    def __attrs_post_init__(self) -> None:
        if isinstance(self.sigma, bool) or not isinstance(self.sigma, int | float):
            raise InvalidScenario("must be a number", where="lognormal.sigma")
        if not 0 < self.sigma <= 5:  # beyond 5 the mean means little
            raise InvalidScenario(
                f"must be above 0 and at most 5, got {self.sigma!r}", where="lognormal.sigma"
            )

    def sampler(self) -> Sampler:
        mu = math.log(max(1, _micros(self.mean))) - self.sigma**2 / 2
        sigma = self.sigma

        def draw(rng: random.Random) -> int:
            return int(rng.lognormvariate(mu, sigma)) + 1

        return draw

    @property
    def expected(self) -> timedelta:
        return self.mean


@attrs.frozen
class Fixed:
    """Always the same duration."""

    kind: ClassVar[str] = "fixed"
    value: timedelta = attrs.field(converter=_fixed_value)

    def sampler(self) -> Sampler:
        value = max(1, _micros(self.value))

        def draw(_: random.Random) -> int:
            return value

        return draw

    @property
    def expected(self) -> timedelta:
        return self.value


@attrs.frozen
class Uniform:
    """Durations spread evenly between ``low`` and ``high``."""

    kind: ClassVar[str] = "uniform"
    low: timedelta = attrs.field(converter=_uniform_low)
    high: timedelta = attrs.field(converter=_uniform_high)

    def __attrs_post_init__(self) -> None:
        if self.high <= self.low:
            raise InvalidScenario(
                f"must be above low ({self.low.total_seconds():g} s)", where="uniform.high"
            )

    def sampler(self) -> Sampler:
        low, span = _micros(self.low), _micros(self.high) - _micros(self.low)

        def draw(rng: random.Random) -> int:
            return low + int(rng.random() * span) + 1

        return draw

    @property
    def expected(self) -> timedelta:
        return (self.low + self.high) / 2


def _samples(value: object) -> tuple[timedelta, ...]:
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        raise InvalidScenario(
            f"must be a list of durations, not {type(value).__name__}", where="empirical.samples"
        )
    convert = _duration("empirical.samples", allow_zero=True)
    out = []
    for number, item in enumerate(value):
        try:
            out.append(convert(item))
        except InvalidDefinition as exc:
            raise InvalidScenario(
                str(exc).partition(": ")[2], where=f"empirical.samples[{number}]"
            ) from None
    if not out:
        raise InvalidScenario("needs at least one sample", where="empirical.samples")
    return tuple(out)


@attrs.frozen
class Empirical:
    """Durations resampled from observed ones (say, last quarter's handle times)."""

    kind: ClassVar[str] = "empirical"
    samples: tuple[timedelta, ...] = attrs.field(converter=_samples)

    def sampler(self) -> Sampler:
        values = [max(1, _micros(s)) for s in self.samples]
        count = len(values)

        def draw(rng: random.Random) -> int:
            return values[int(rng.random() * count)]

        return draw

    @property
    def expected(self) -> timedelta:
        return sum(self.samples, timedelta(0)) / len(self.samples)


Distribution = Exponential | LogNormal | Fixed | Uniform | Empirical
"""Any duration distribution the simulator draws from."""

_KINDS: dict[str, type[Any]] = {
    cls.kind: cls for cls in (Exponential, LogNormal, Fixed, Uniform, Empirical)
}


def distribution_from_data(data: object, where: str) -> Distribution:
    """A distribution from ``{"kind": ..., ...}`` (durations in seconds), or a number of
    seconds (an exponential with that mean), or a distribution object as is.

    Raises:
        InvalidScenario: An unknown kind, an unknown or missing field, an impossible
            value; ``where`` names the field.
    """
    if isinstance(data, Exponential | LogNormal | Fixed | Uniform | Empirical):
        return data
    if isinstance(data, int | float | timedelta) and not isinstance(data, bool):
        try:
            return Exponential(data)
        except InvalidDefinition as exc:
            raise InvalidScenario(str(exc).partition(": ")[2], where=where) from None
    if not isinstance(data, Mapping):
        raise InvalidScenario(
            "must be a distribution: {kind = 'exponential', mean = 300} or a number of seconds",
            where=where,
        )
    fields = dict(data)
    kind = fields.pop("kind", None)
    cls = _KINDS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise InvalidScenario(
            f"unknown distribution kind {kind!r} (known: {sorted(_KINDS)})", where=f"{where}.kind"
        )
    names = {a.name for a in attrs.fields(cls)}
    unknown = sorted(set(fields) - names)
    if unknown:
        raise InvalidScenario(
            f"unknown field {unknown[0]!r} for {kind}", where=f"{where}.{unknown[0]}"
        )
    missing = sorted(
        a.name for a in attrs.fields(cls) if a.default is attrs.NOTHING and a.name not in fields
    )
    if missing:
        raise InvalidScenario(
            f"missing field {missing[0]!r} for {kind}", where=f"{where}.{missing[0]}"
        )
    try:
        return cls(**fields)  # type: ignore[no-any-return]
    except InvalidDefinition as exc:
        message = str(exc)
        field = exc.where.partition(".")[2]
        raise InvalidScenario(
            message.partition(": ")[2] or message, where=f"{where}.{field}"
        ) from None


def distribution_to_data(value: Distribution) -> dict[str, Any]:
    """Plain data that :func:`distribution_from_data` reads back."""
    data: dict[str, Any] = {"kind": value.kind}
    for field in attrs.fields(type(value)):
        item = getattr(value, field.name)
        if isinstance(item, timedelta):
            data[field.name] = item.total_seconds()
        elif isinstance(item, tuple):
            data[field.name] = [s.total_seconds() for s in item]
        else:
            data[field.name] = item
    return data
