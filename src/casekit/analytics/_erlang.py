"""Queueing formulas: Erlang B, Erlang C (M/M/c) and Erlang A (M/M/c+M, Palm's model).

Everything here is pure Python and ``math``: no numpy, no scipy. Loads are handled
without factorials, so thousands of agents are as cheap and as accurate as ten:

* Erlang B by its recursion ``B(0) = 1``, ``B(k) = a B(k-1) / (k + a B(k-1))``, which
  stays in ``[0, 1]`` at every step (``a`` is the offered load in Erlangs).
* Erlang C from Erlang B: ``C = c B / (c - a (1 - B))``.
* Erlang A from Erlang B and the lower incomplete gamma function, computed in
  logarithms (series below its mode, Lentz's continued fraction above it).

Sources of the formulas (both are summarised in docs/reference/staffing.md):

* Erlang C: the textbook M/M/c results, e.g. G. Koole, *Call Center Optimization*
  (2013), chapter 5; the worked example in the tests (100 calls per 30 minutes,
  180 s handle time) is the classic one that call-centre texts and calculators share.
* Erlang A: A. Mandelbaum and S. Zeltyn, *The M/M/n+G queue: summary of performance
  measures* (Technion, 2004/2009), section "Exponential patience"; O. Garnett,
  A. Mandelbaum and M. Reiman, *Designing a call center with impatient customers*,
  Manufacturing & Service Operations Management 4(3), 2002.
"""

# ruff: noqa: RUF002, RUF003 - the formulas keep the papers' Greek letters (λ μ θ ρ γ)

from __future__ import annotations

import html
import math
import numbers
from collections.abc import Iterable
from datetime import timedelta
from typing import TYPE_CHECKING

import attrs

from casekit.exceptions import InvalidValue

if TYPE_CHECKING:
    pass

__all__ = [
    "MAX_AGENTS",
    "ErlangA",
    "ErlangC",
    "erlang_a",
    "erlang_b",
    "erlang_c",
]

MAX_AGENTS = 100_000
"""The largest agent count the helpers compute with (a sanity bound, not a limit of the
formulas): asking for more, or for a load that needs more, raises ``InvalidValue``."""

_DEFAULT_ANSWER_WITHIN = timedelta(seconds=20)
_EPS = 1e-16
_TINY = 1e-300
_MAX_ITERATIONS = 1_000_000


# --------------------------------------------------------------------------- checks


def _check_agents(agents: object, *, allow_zero: bool = False) -> int:
    if isinstance(agents, bool) or not isinstance(agents, numbers.Integral):
        raise InvalidValue(f"must be a whole number of agents, got {agents!r}", where="agents")
    agents = int(agents)
    if agents < (0 if allow_zero else 1):
        raise InvalidValue(
            f"must be at least {0 if allow_zero else 1}, got {agents}", where="agents"
        )
    if agents > MAX_AGENTS:
        raise InvalidValue(f"must be at most {MAX_AGENTS:,}, got {agents:,}", where="agents")
    return agents


def _check_number(value: object, where: str, *, allow_zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidValue(f"must be a number, got {value!r}", where=where)
    number = float(value)
    if not math.isfinite(number) or number < 0 or (number == 0 and not allow_zero):
        bound = "zero or more" if allow_zero else "more than zero"
        raise InvalidValue(f"must be {bound}, got {value!r}", where=where)
    return number


def _check_duration(value: object, where: str) -> float:
    if not isinstance(value, timedelta):
        raise InvalidValue(f"must be a timedelta, got {value!r}", where=where)
    if value <= timedelta(0):
        raise InvalidValue(f"must be longer than zero, got {value}", where=where)
    return value.total_seconds()


def _check_fraction(value: object, where: str, *, low_open: bool, high_open: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidValue(f"must be a number, got {value!r}", where=where)
    number = float(value)
    low_ok = number > 0 if low_open else number >= 0
    high_ok = number < 1 if high_open else number <= 1
    if not (math.isfinite(number) and low_ok and high_ok):
        interval = f"{'(' if low_open else '['}0, 1{')' if high_open else ']'}"
        raise InvalidValue(f"must lie in {interval}, got {value!r}", where=where)
    return number


# ------------------------------------------------------------------------- formulas


def erlang_b(agents: int, load: float) -> float:
    """The Erlang B blocking probability for ``agents`` servers offered ``load`` Erlangs.

    Computed by the recursion ``B(k) = a B(k-1) / (k + a B(k-1))``: no factorials and no
    powers, so it is exact to rounding for any agent count (each step keeps the value
    in ``[0, 1]``).

    Args:
        agents: Number of servers (0 or more).
        load: Offered load in Erlangs (arrival rate times mean handle time), 0 or more.

    Returns:
        The probability that all ``agents`` servers are busy in the loss system.

    Raises:
        InvalidValue: ``agents`` is not a whole number from 0 to ``MAX_AGENTS``, or
            ``load`` is negative or not finite.
    """
    agents = _check_agents(agents, allow_zero=True)
    load = _check_number(load, "load", allow_zero=True)
    blocking = 1.0
    for k in range(1, agents + 1):
        blocking = load * blocking / (k + load * blocking)
    return blocking


def _log_a(x: float, y: float) -> float:
    """``log A(x, y)`` with ``A(x, y) = x e^y y^-x γ(x, y) = Σ_j y^j / ((x+1)...(x+j))``.

    This is Mandelbaum and Zeltyn's ``A`` function (γ the lower incomplete gamma
    function): the sum over the queue states of the M/M/n+M chain relative to the state
    where all agents are busy and no one waits. Below the mode (``y < x + 1``) the
    series converges geometrically; above it, ``γ = Γ(x) - Γ(x, y)`` with ``Γ(x, y)``
    from its continued fraction (modified Lentz), where the regularised upper part is
    at most about one half, so nothing cancels. The large terms ``x log y``, ``y`` and
    ``log Γ(x)`` are combined through Stirling's series so that no digits are lost
    when the patience is long (``x`` and ``y`` in the millions).
    """
    if y < x + 1:
        term = 1.0
        total = 1.0
        for j in range(1, _MAX_ITERATIONS):
            term *= y / (x + j)
            total += term
            if term < total * _EPS:
                break
        return math.log(total)
    b = y + 1 - x
    c = 1 / _TINY
    d = 1 / b
    h = d
    for i in range(1, _MAX_ITERATIONS):
        an = -i * (i - x)
        b += 2
        d = an * d + b
        d = _TINY if abs(d) < _TINY else d
        c = b + an / c
        c = _TINY if abs(c) < _TINY else c
        d = 1 / d
        delta = d * c
        h *= delta
        if abs(delta - 1) < _EPS:
            break
    # log Γ(x) - x log y + y, without subtracting large numbers.
    spread = _log_gamma_shifted(x, y)
    # log A = log x + spread + log(1 - Γ(x, y) / Γ(x)), Γ(x, y) = y^x e^-y h.
    return math.log(x) + spread + math.log1p(-math.exp(math.log(h) - spread))


def _log_gamma_shifted(x: float, y: float) -> float:
    """``log Γ(x) - x log y + y``, accurate when ``x`` and ``y`` are large."""
    if x < 10:
        return math.lgamma(x) - x * math.log(y) + y
    # Stirling: log Γ(x) = (x - 1/2) log x - x + log(2π)/2 + 1/(12x) - 1/(360x³) + ...
    inv = 1 / x
    stirling = 0.5 * math.log(2 * math.pi) + inv / 12 - inv**3 / 360 + inv**5 / 1260
    u = (y - x) / x
    return -0.5 * math.log(x) + stirling + x * (u - math.log1p(u))


# -------------------------------------------------------------------------- results


_LONGEST = timedelta.max.total_seconds()


def _duration(value: float) -> timedelta:
    """``value`` seconds; a wait too long for a timedelta (a queue a hair short of
    unstable: 2 agents for 1.99999999999997 Erlangs wait ~10^15 s on average) is
    ``timedelta.max``."""
    return timedelta.max if value >= _LONGEST else timedelta(seconds=value)


def _seconds(value: float | None) -> timedelta | None:
    return None if value is None else _duration(value)


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, timedelta):
        return f"{value.total_seconds():.2f} s"
    if value is None:
        return "—"
    return str(value)


def _html_table(title: str, rows: Iterable[tuple[str, object]]) -> str:
    body = "".join(
        f"<tr><th style='text-align:left'>{html.escape(name)}</th>"
        f"<td style='text-align:right'>{html.escape(_fmt(value))}</td></tr>"
        for name, value in rows
    )
    return f"<table><caption>{html.escape(title)}</caption><tbody>{body}</tbody></table>"


def _plain(value: object) -> object:
    if isinstance(value, timedelta):
        return value.total_seconds()
    return value


@attrs.frozen(repr=False)
class ErlangC:
    """The performance of an M/M/c queue (Erlang C): no one hangs up while waiting.

    Attributes:
        agents: Agents answering calls (on the phones, after shrinkage).
        arrivals: Calls offered per ``interval``.
        interval: The interval ``arrivals`` are counted over.
        handle_time: Mean handle time (talk plus wrap-up), exponentially distributed.
        answer_within: The service-level target time.
        offered_load: Offered load in Erlangs: arrival rate times handle time.
        probability_of_wait: Probability that a call waits at all (the Erlang C formula).
        service_level: Share of calls answered within ``answer_within``.
        average_speed_of_answer: Mean wait over all calls (those answered at once count
            zero); ``None`` when the queue is unstable, ``timedelta.max`` when it is
            stable by a margin so thin that the mean wait is beyond a timedelta.
        occupancy: Share of the agents' time spent handling calls.
        is_stable: ``False`` when ``agents <= offered_load``: the queue then grows
            without bound, so ``probability_of_wait`` is 1, ``service_level`` 0,
            ``occupancy`` 1 and ``average_speed_of_answer`` ``None``.
    """

    agents: int
    arrivals: float
    interval: timedelta
    handle_time: timedelta
    answer_within: timedelta
    offered_load: float
    probability_of_wait: float
    service_level: float
    average_speed_of_answer: timedelta | None
    occupancy: float
    is_stable: bool

    def to_dict(self) -> dict[str, object]:
        """The figures as plain values (durations in seconds), ready for a DataFrame row."""
        return {field.name: _plain(getattr(self, field.name)) for field in attrs.fields(ErlangC)}

    def __repr__(self) -> str:
        asa = _fmt(self.average_speed_of_answer)
        return (
            f"<ErlangC agents={self.agents} load={self.offered_load:.2f} "
            f"P(wait)={self.probability_of_wait:.4f} SL={self.service_level:.4f} "
            f"ASA={asa} occupancy={self.occupancy:.3f}>"
        )

    def _repr_html_(self) -> str:
        return _html_table(
            f"Erlang C, {self.agents} agents",
            [(name, getattr(self, name)) for name in _SHOWN_C],
        )


_SHOWN_C = (
    "offered_load",
    "probability_of_wait",
    "service_level",
    "answer_within",
    "average_speed_of_answer",
    "occupancy",
)


@attrs.frozen(repr=False)
class ErlangA:
    """The performance of an M/M/c+M queue (Erlang A, Palm's model): callers hang up.

    Callers wait at most an exponentially distributed patience with mean ``patience``;
    the queue is therefore stable for any number of agents.

    Attributes:
        agents: Agents answering calls.
        arrivals: Calls offered per ``interval``.
        interval: The interval ``arrivals`` are counted over.
        handle_time: Mean handle time, exponentially distributed.
        patience: Mean patience of a waiting caller, exponentially distributed.
        answer_within: The service-level target time.
        offered_load: Offered load in Erlangs.
        probability_of_wait: Probability that a call waits at all.
        probability_of_abandon: Probability that a call hangs up before an answer.
        service_level: Share of *all offered* calls answered within ``answer_within``
            (a call that abandons is not answered, whenever it hangs up).
        average_speed_of_answer: Mean wait of the calls that are answered.
        average_wait: Mean time in the queue over all calls, until answer or hang-up.
        occupancy: Share of the agents' time spent handling calls (answered calls only).
    """

    agents: int
    arrivals: float
    interval: timedelta
    handle_time: timedelta
    patience: timedelta
    answer_within: timedelta
    offered_load: float
    probability_of_wait: float
    probability_of_abandon: float
    service_level: float
    average_speed_of_answer: timedelta
    average_wait: timedelta
    occupancy: float

    @property
    def is_stable(self) -> bool:
        """Always ``True``: abandonment keeps an Erlang A queue finite."""
        return True

    def to_dict(self) -> dict[str, object]:
        """The figures as plain values (durations in seconds), ready for a DataFrame row."""
        return {field.name: _plain(getattr(self, field.name)) for field in attrs.fields(ErlangA)}

    def __repr__(self) -> str:
        return (
            f"<ErlangA agents={self.agents} load={self.offered_load:.2f} "
            f"P(wait)={self.probability_of_wait:.4f} "
            f"P(abandon)={self.probability_of_abandon:.4f} SL={self.service_level:.4f} "
            f"ASA={_fmt(self.average_speed_of_answer)} occupancy={self.occupancy:.3f}>"
        )

    def _repr_html_(self) -> str:
        return _html_table(
            f"Erlang A, {self.agents} agents",
            [(name, getattr(self, name)) for name in _SHOWN_A],
        )


_SHOWN_A = (
    "offered_load",
    "probability_of_wait",
    "probability_of_abandon",
    "service_level",
    "answer_within",
    "average_speed_of_answer",
    "average_wait",
    "patience",
    "occupancy",
)


# ------------------------------------------------------------------------- Erlang C


def _erlang_c(
    agents: int,
    *,
    arrivals: float,
    interval: float,
    handle: float,
    target: float,
    blocking: float,
) -> tuple[float, float, float | None, float, bool]:
    load = arrivals * handle / interval
    if agents <= load:
        return 1.0, 0.0, None, 1.0, False
    pwait = agents * blocking / (agents - load * (1 - blocking))
    service_level = 1 - pwait * math.exp(-(agents - load) * target / handle)
    asa = pwait * handle / (agents - load)
    return pwait, service_level, asa, load / agents, True


def erlang_c(
    agents: int,
    *,
    arrivals: float,
    interval: timedelta,
    handle_time: timedelta,
    answer_within: timedelta = _DEFAULT_ANSWER_WITHIN,
) -> ErlangC:
    """Erlang C: how ``agents`` agents serve Poisson arrivals with no abandonment.

    With offered load ``a = λ h`` (λ the arrival rate, h the mean handle time) and ``c``
    agents: ``P(wait) = c B / (c - a (1 - B))`` with ``B`` Erlang B,
    ``SL(t) = 1 - P(wait) e^{-(c - a) t / h}``, ``ASA = P(wait) h / (c - a)`` and
    occupancy ``a / c``.

    When ``agents <= a`` the queue is unstable (it grows without bound): the result then
    says so with ``is_stable=False``, ``probability_of_wait=1``, ``service_level=0``,
    ``occupancy=1`` and ``average_speed_of_answer=None``; no exception is raised, so a
    sweep over agent counts can include too few agents.

    Args:
        agents: Agents answering calls (1 to ``MAX_AGENTS``).
        arrivals: Calls offered per ``interval`` (more than zero).
        interval: The interval the arrivals are counted over, e.g. 30 minutes.
        handle_time: Mean handle time.
        answer_within: The service-level target time (20 seconds unless given).

    Returns:
        The figures as an ``ErlangC`` value.

    Raises:
        InvalidValue: A parameter is out of range; ``where`` names it.
    """
    agents = _check_agents(agents)
    rate = _check_number(arrivals, "arrivals")
    length = _check_duration(interval, "interval")
    handle = _check_duration(handle_time, "handle_time")
    target = _check_duration(answer_within, "answer_within")
    load = rate * handle / length
    pwait, service_level, asa, occupancy, stable = _erlang_c(
        agents,
        arrivals=rate,
        interval=length,
        handle=handle,
        target=target,
        blocking=erlang_b(agents, load),
    )
    return ErlangC(
        agents=agents,
        arrivals=rate,
        interval=interval,
        handle_time=handle_time,
        answer_within=answer_within,
        offered_load=load,
        probability_of_wait=pwait,
        service_level=service_level,
        average_speed_of_answer=_seconds(asa),
        occupancy=occupancy,
        is_stable=stable,
    )


# ------------------------------------------------------------------------- Erlang A


def _digamma(z: float) -> float:
    """ψ(z) for ``z > 0``: recurrence up to 10, then the asymptotic series (~1e-13)."""
    shift = 0.0
    while z < 10:
        shift -= 1 / z
        z += 1
    inv2 = 1 / (z * z)
    series = inv2 * (1 / 12 - inv2 * (1 / 120 - inv2 * (1 / 252 - inv2 / 240)))
    return shift + math.log(z) - 0.5 / z - series


def _answered_wait(x: float, y: float, *, exact_up_to: int = 200_000) -> float:
    """``E[wait; answered | the call waits]`` in units of the mean patience.

    A waiting call that finds ``j`` calls ahead of it leaves stage ``i`` (``i`` ahead)
    at rate ``x + i + 1`` (services, the abandonments ahead, its own patience), reaches
    an agent with probability ``x / (x + j + 1)`` and, given that, has waited
    ``Σ_{i<=j} 1 / (x + i + 1)`` on average. Arrivals see ``j`` ahead with weight
    ``y^j / ((x+1)...(x+j))`` (PASTA): ``x + j`` is then Poisson(``y``) conditioned to
    be at least ``x``, so the sum starts 12 standard deviations below the mode (the
    harmonic sum up to there from the digamma function) and is rescaled as it grows.
    When that still means more than ``exact_up_to`` terms (a patience millions of times
    the handle time), the smooth sum is taken on an even grid of 20,000 points instead
    (trapezoid rule, weights from ``lgamma``).
    """
    sd = math.sqrt(y)
    first = max(0, math.floor(y - x - 12 * sd))
    last = max(0.0, y - x) + 12 * sd + 50
    if last - first > exact_up_to:
        return _answered_wait_grid(x, y, first, math.ceil(last))
    harmonic = _digamma(x + first + 1) - _digamma(x + 1) if first else 0.0
    weight = 1.0
    total_weight = 0.0
    total = 0.0
    peak = 0.0
    for j in range(first, first + _MAX_ITERATIONS):
        if j > first:
            weight *= y / (x + j)
        harmonic += 1 / (x + j + 1)
        total_weight += weight
        total += weight * x / (x + j + 1) * harmonic
        if weight > 1e200:
            weight, total_weight, total, peak = (
                weight / 1e200,
                total_weight / 1e200,
                total / 1e200,
                peak / 1e200,
            )
        peak = max(peak, weight)
        if j > y - x and weight < peak * _EPS:
            break
    return total / total_weight


def _answered_wait_grid(x: float, y: float, first: int, last: int, points: int = 20_000) -> float:
    """``_answered_wait`` for a very long queue: the same sum on an even grid.

    The sum over the integers is the trapezoid integral plus half the two end terms
    (Euler-Maclaurin; the end at an empty queue can carry weight near critical load).
    """
    step = (last - first) / points
    mode = max(float(first), min(float(last), y - x))
    log_y = math.log(y)
    base = math.lgamma(x + mode + 1)
    digamma_x = _digamma(x + 1)
    total_weight = 0.0
    total = 0.0
    ends_weight = 0.0
    ends = 0.0
    for k in range(points + 1):
        j = first + k * step
        weight = math.exp((j - mode) * log_y - (math.lgamma(x + j + 1) - base))
        value = x / (x + j + 1) * (_digamma(x + j + 2) - digamma_x)
        if k in {0, points}:
            ends_weight += weight / 2
            ends += weight * value / 2
            weight /= 2
        total_weight += weight
        total += weight * value
    return (step * total + ends) / (step * total_weight + ends_weight)


def _erlang_a(
    agents: int,
    *,
    arrivals: float,
    interval: float,
    handle: float,
    patience: float,
    target: float,
    blocking: float,
) -> tuple[float, float, float, float, float, float]:
    lam = arrivals / interval  # calls per second
    mu = 1 / handle
    theta = 1 / patience
    x = agents * mu / theta  # n μ / θ
    y = lam / theta  # λ / θ
    rho = lam / (agents * mu)
    log_a = _log_a(x, y)
    # P(W > 0) = A B / (1 + (A - 1) B), written to survive a huge A.
    if blocking == 0.0:
        pwait = 0.0
    else:
        inv = (1 - blocking) / blocking * math.exp(-log_a) if log_a < 700 else 0.0
        pwait = 1 / (1 + inv)
    # P(Ab | W > 0) = 1/(ρ A) + 1 - 1/ρ; the second form avoids cancellation near ρ = 1.
    served_if_wait = -math.expm1(-log_a) / rho
    abandon = pwait * (1 - served_if_wait)
    # Answered within t among the waiting: γ(x+1, y) - γ(x+1, y e^{-θt}) over y γ(x, y).
    decay = math.expm1(-theta * target)  # e^{-θt} - 1, exact for a long patience
    z = y * (1 + decay)
    late = (
        x / (x + 1) * math.exp(_log_a(x + 1, z) - log_a - theta * target * (x + 1) - y * decay)
        if z > 0
        else 0.0
    )
    service_level = (1 - pwait) + pwait * max(served_if_wait - late, 0.0)
    average_wait = abandon / theta  # Little's law: E[Q] θ = λ P(Ab) and E[Q] = λ E[W]
    answered = 1 - abandon
    asa = pwait * _answered_wait(x, y) / theta / answered if answered > 0 else math.inf
    occupancy = lam * answered * handle / agents
    return pwait, abandon, service_level, asa, average_wait, occupancy


def erlang_a(
    agents: int,
    *,
    arrivals: float,
    interval: timedelta,
    handle_time: timedelta,
    patience: timedelta,
    answer_within: timedelta = _DEFAULT_ANSWER_WITHIN,
) -> ErlangA:
    """Erlang A: ``agents`` agents, Poisson arrivals, callers who hang up.

    The M/M/n+M model (Palm): exponential handle times with mean ``h`` (rate μ),
    exponential patience with mean ``patience`` (rate θ), arrival rate λ. With Erlang B
    ``B`` for ``n`` agents and ``A(x, y) = x e^y y^-x γ(x, y)`` (γ the lower incomplete
    gamma function), ``x = nμ/θ``, ``y = λ/θ``, ``ρ = λ/(nμ)``:

    * ``P(wait) = A B / (1 + (A - 1) B)``
    * ``P(abandon) = P(wait) (1/(ρA) + 1 - 1/ρ)``
    * ``P(answered within t) = 1 - P(wait)
      + P(wait) (γ(x+1, y) - γ(x+1, y e^{-θt})) / (y γ(x, y))``
    * ``average_wait = P(abandon) / θ``

    (Mandelbaum and Zeltyn, *The M/M/n+G queue: summary of performance measures*,
    exponential patience; Garnett, Mandelbaum and Reiman, MSOM 2002.) The mean wait of
    the answered calls is the series in ``_answered_wait``. As ``patience`` grows the
    figures tend to Erlang C's (for a stable Erlang C queue).

    Args:
        agents: Agents answering calls (1 to ``MAX_AGENTS``).
        arrivals: Calls offered per ``interval`` (more than zero).
        interval: The interval the arrivals are counted over.
        handle_time: Mean handle time.
        patience: Mean time a caller is willing to wait.
        answer_within: The service-level target time (20 seconds unless given).

    Returns:
        The figures as an ``ErlangA`` value.

    Raises:
        InvalidValue: A parameter is out of range; ``where`` names it.
    """
    agents = _check_agents(agents)
    rate = _check_number(arrivals, "arrivals")
    length = _check_duration(interval, "interval")
    handle = _check_duration(handle_time, "handle_time")
    mean_patience = _check_duration(patience, "patience")
    target = _check_duration(answer_within, "answer_within")
    load = rate * handle / length
    pwait, abandon, service_level, asa, wait, occupancy = _erlang_a(
        agents,
        arrivals=rate,
        interval=length,
        handle=handle,
        patience=mean_patience,
        target=target,
        blocking=erlang_b(agents, load),
    )
    return ErlangA(
        agents=agents,
        arrivals=rate,
        interval=interval,
        handle_time=handle_time,
        patience=patience,
        answer_within=answer_within,
        offered_load=load,
        probability_of_wait=pwait,
        probability_of_abandon=abandon,
        service_level=service_level,
        average_speed_of_answer=_duration(asa),
        average_wait=_duration(wait),
        occupancy=occupancy,
    )
