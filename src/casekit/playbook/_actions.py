"""Host actions: the automated activities a host provides, by name.

An action is a callable ``fn(ctx: ActionContext) -> Mapping | None``. The runner calls it
from ``desk.tick`` (or right after the commit that started it, by default), never inside
a transaction; it hands it an idempotency key (run, activity, attempt), so an attempt
retried after a crash or a commit conflict does its work once. A plain exception is a
transient failure (retried with backoff); :class:`ActionFailed` with
``permanent=True`` goes straight to the human fallback.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

import attrs

from casekit.exceptions import ActionFailed, PluginError
from casekit.model.case import Case

__all__ = [
    "MAX_NESTING",
    "ActionContext",
    "ActionFailed",
    "ActionOutcome",
    "ActionRegistry",
    "HostAction",
    "too_deep",
]

MAX_NESTING = 64
"""How deep plain data (a host action's result, a run's inputs, an activity's
parameters or data) may nest: deeper data would exhaust the stack when it is
recorded and read back."""


def too_deep(value: object, limit: int = MAX_NESTING) -> bool:
    """Whether lists and mappings in ``value`` nest more than ``limit`` levels deep
    (checked without recursion)."""
    todo: list[tuple[object, int]] = [(value, 0)]
    while todo:
        item, depth = todo.pop()
        if isinstance(item, Mapping):
            children: Iterable[object] = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        if depth >= limit:
            return True
        todo.extend((child, depth + 1) for child in children)
    return False


@attrs.frozen(kw_only=True)
class ActionContext:
    """What a host action is handed.

    Attributes:
        key: The idempotency key: the same for every try of one attempt (a retry after
            a crash or a conflict), different for the next attempt.
        case: The case as it stands.
        run_id: The playbook run.
        playbook: The playbook's name.
        activity: The activity's id.
        attempt: 1 for the first attempt.
        params: The activity's parameters.
        inputs: The run's inputs (a catalog request's variables).
        now: The instant of the attempt.
    """

    key: str
    case: Case
    run_id: str
    playbook: str
    activity: str
    attempt: int
    params: Mapping[str, Any]
    inputs: Mapping[str, Any]
    now: datetime


HostAction = Callable[[ActionContext], Mapping[str, Any] | None]
"""A host action: returns plain JSON data (recorded) or ``None``."""


@attrs.frozen
class ActionOutcome:
    """How one attempt went."""

    ok: bool
    result: dict[str, Any] = attrs.field(factory=dict)
    error: str = ""
    permanent: bool = False


class ActionRegistry:
    """The host actions by name, filled by ``casekit_register_actions`` and the host."""

    def __init__(self) -> None:
        self._actions: dict[str, HostAction] = {}
        self._owners: dict[str, str] = {}
        self._current_plugin = "?"

    def add(self, name: str, action: HostAction) -> None:
        """Make ``action`` available to playbooks as ``name``.

        Raises:
            PluginError: ``action`` is not callable, the name is not text, or it is taken.
        """
        if not isinstance(name, str) or not name or not name.isprintable():
            raise PluginError(
                f"plugin {self._current_plugin}: an action name is printable text, not {name!r}"
            )
        if not callable(action):
            raise PluginError(
                f"action {name!r} of plugin {self._current_plugin} is not callable: {action!r}"
            )
        if name in self._actions:
            raise PluginError(
                f"action {name!r} registered twice (by {self._owners[name]} and "
                f"{self._current_plugin})"
            )
        self._actions[name] = action
        self._owners[name] = self._current_plugin

    def update(self, actions: Mapping[str, HostAction] | Iterable[tuple[str, HostAction]]) -> None:
        """Add several actions."""
        items = actions.items() if isinstance(actions, Mapping) else actions
        for name, action in items:
            self.add(name, action)

    def __contains__(self, name: object) -> bool:
        return name in self._actions

    def names(self) -> list[str]:
        return sorted(self._actions)

    def get(self, name: str) -> HostAction | None:
        return self._actions.get(name)

    def run(self, name: str, ctx: ActionContext, time_limit: timedelta | None) -> ActionOutcome:
        """Call the action; never raises: every failure is an outcome."""
        action = self._actions.get(name)
        if action is None:
            return ActionOutcome(False, error=f"no action {name!r} is registered", permanent=True)
        if time_limit is None:
            return _call(action, ctx)
        box: list[ActionOutcome] = []
        # A daemon thread, so an action that never returns cannot hold up the host or
        # its exit. It is abandoned after the limit and may still finish later, while
        # the next attempt (with its own key) runs: an action with a time limit checks
        # whether its work is already done before doing it.
        worker = threading.Thread(
            target=lambda: box.append(_call(action, ctx)),
            name=f"casekit-action-{name}",
            daemon=True,
        )
        started = time.monotonic()
        worker.start()
        worker.join(time_limit.total_seconds())
        if not box:
            return ActionOutcome(
                False,
                error=f"timed out after {time.monotonic() - started:.1f} s "
                f"(time limit {time_limit.total_seconds():g} s)",
            )
        return box[0]


def _call(action: HostAction, ctx: ActionContext) -> ActionOutcome:
    try:
        result = action(ctx)
    except ActionFailed as error:
        return ActionOutcome(False, error=str(error), permanent=error.permanent)
    except Exception as error:
        return ActionOutcome(False, error=f"{type(error).__name__}: {error}")
    if result is None:
        return ActionOutcome(True)
    if not isinstance(result, Mapping):
        return ActionOutcome(  # type: ignore[unreachable]  # host code, typed or not
            False,
            error=f"returned {type(result).__name__}, not a mapping of plain data",
            permanent=True,
        )
    try:
        plain = json.loads(json.dumps(dict(result), allow_nan=False))
    except Exception as error:  # not JSON, too deep (RecursionError), a broken mapping
        return ActionOutcome(
            False, error=f"returned data that is not plain JSON: {error}", permanent=True
        )
    if too_deep(plain):
        return ActionOutcome(
            False, error=f"returned data nested more than {MAX_NESTING} levels deep", permanent=True
        )
    return ActionOutcome(True, result=plain)
