"""A case's canonical JSON (:func:`casekit.serialization.to_json`), built faster.

A command changes a case a little: most of its interactions, tasks and clocks are
the very objects the previous version held (cases are immutable and share what did
not change). Their JSON is kept per object, so writing the case again serializes
only what is new. The text is the same, byte for byte, as ``to_json(case)``: the
canonical form writes the keys sorted, so the case is written as runs of its other
fields (each run one sorted object, its braces dropped) with the kept arrays between.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from json.encoder import encode_basestring
from typing import Any, Final

import attrs

from casekit.model.case import Case, Interaction, Task
from casekit.model.sla import SlaClock
from casekit.serialization import converter, dumps

__all__ = ["case_json"]

_KEEP: Final = 4096
"""How many objects' JSON is kept (then all is dropped and built again)."""

_SHARED: Final[dict[str, type]] = {"interactions": Interaction, "tasks": Task, "slas": SlaClock}
"""The tuple fields whose items a new version of a case shares with the old one."""

_Run = tuple[tuple[str, Callable[[Any], Any]], ...]
"""Fields written as one object: (name, unstructure hook of its type)."""


def _layout() -> tuple[tuple[_Run, str | None, type | None], ...]:
    """The case's fields in canonical (sorted) order, as runs of plain fields, each
    followed by a shared tuple field (its name and item type) or by nothing (last)."""
    attrs.resolve_types(Case)  # as cattrs does: the annotations are strings
    layout: list[tuple[_Run, str | None, type | None]] = []
    run: list[tuple[str, Callable[[Any], Any]]] = []
    fields: tuple[attrs.Attribute[Any], ...] = attrs.fields(Case)
    for field in sorted(fields, key=lambda f: f.name):
        if field.name in _SHARED:
            layout.append((tuple(run), field.name, _SHARED[field.name]))
            run = []
        else:
            run.append((field.name, converter.get_unstructure_hook(field.type)))
    layout.append((tuple(run), None, None))
    assert all(run for run, _, _ in layout), "two shared fields must not be adjacent"
    return tuple(layout)


_LAYOUT: Final = _layout()
_fragments: dict[int, tuple[object, str]] = {}
_lock = threading.Lock()


def _item_json(item: object, cls: type) -> str:
    hit = _fragments.get(id(item))
    if hit is not None and hit[0] is item:
        return hit[1]
    text = dumps(converter.unstructure(item, cls))
    with _lock:
        if len(_fragments) >= _KEEP:
            _fragments.clear()
        _fragments[id(item)] = (item, text)  # kept alive, so the id stays its own
    return text


def case_json(case: Case) -> str:
    """``to_json(case)``, reusing the JSON of interactions, tasks and clocks seen before."""
    parts = []
    for run, shared, cls in _LAYOUT:
        parts.append(dumps({name: hook(getattr(case, name)) for name, hook in run})[1:-1])
        if shared is not None and cls is not None:
            items = ",".join([_item_json(item, cls) for item in getattr(case, shared)])
            parts.append(f"{encode_basestring(shared)}:[{items}]")
    return "{" + ",".join(parts) + "}"
