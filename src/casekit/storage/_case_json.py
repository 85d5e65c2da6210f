"""A case's canonical JSON (:func:`casekit.serialization.to_json`), built faster.

A command changes a case a little: most of its fields, interactions, tasks and clocks
are the very objects the previous version held (cases are immutable and share what
did not change). The case is written as *parts* in canonical (sorted-key) order: runs
of plain fields (each run one sorted object, its braces dropped) with the shared
arrays between. Each part's text is kept per case, with the objects it was built
from: a part whose objects are all the same (``is``) as last time is reused as it
is, and an array that changed is joined from the kept JSON of each item. The text is
the same, byte for byte, as ``to_json(case)``.

Sameness is identity, never equality: ``1 == True`` and two equal instants in
different zones are written differently. The dict fields (``custom``, ``skills``) are
mutable, so their parts also compare each key and value, by identity.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from json.encoder import encode_basestring
from operator import attrgetter, is_
from typing import Any, Final

import attrs

from casekit.model.case import Case, Interaction, Task
from casekit.model.sla import SlaClock
from casekit.serialization import converter, dumps

__all__ = ["case_json"]

_KEEP: Final = 4096
"""How many objects' (and cases') JSON is kept (then all is dropped and built again)."""

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
_DICTS: Final = frozenset(
    field.name for field in attrs.fields(Case) if getattr(field.type, "__origin__", None) is dict
)
"""The mutable fields: their keys and values are part of what must be the same."""


class _Part:
    """One part of the case's text: a run of plain fields, or a shared array."""

    __slots__ = ("get", "hooks", "names", "objects", "shared", "watch")

    def __init__(self, run: _Run | None, shared: tuple[str, type] | None) -> None:
        self.hooks = run or ()
        self.shared = shared
        self.names = tuple(name for name, _ in self.hooks) if run else (shared or ("",))[:1]
        # attrgetter of several names returns a tuple (at C speed), of one name the
        # value: a lone field is got with its class, a pair as well.
        names = self.names
        self.get: Callable[[Case], tuple[object, ...]] = (
            attrgetter(*names) if len(names) > 1 else attrgetter(f"{names[0]}.__class__", names[0])
        )
        self.watch = tuple(i for i, name in enumerate(names) if name in _DICTS)
        self.objects = self._with_dicts if self.watch else self.get
        """What the part's text is built from, to compare by identity."""

    def _with_dicts(self, case: Case) -> tuple[object, ...]:
        values = self.get(case)
        for i in self.watch:
            mapping: dict[str, object] = values[i]  # type: ignore[assignment]
            values += tuple(item for pair in mapping.items() for item in pair)
        return values

    def text(self, case: Case) -> str:
        if self.shared is not None:
            name, cls = self.shared
            items = ",".join([_item_json(item, cls) for item in getattr(case, name)])
            return f"{encode_basestring(name)}:[{items}]"
        return dumps({name: hook(getattr(case, name)) for name, hook in self.hooks})[1:-1]


def _parts() -> tuple[_Part, ...]:
    parts: list[_Part] = []
    for run, shared, cls in _LAYOUT:
        parts.append(_Part(run, None))
        if shared is not None and cls is not None:
            parts.append(_Part(None, (shared, cls)))
    return tuple(parts)


_PARTS: Final = _parts()
_fragments: dict[int, tuple[object, str]] = {}
_cases: dict[str, list[tuple[tuple[object, ...], str]]] = {}
"""Case id -> each part's objects and text, as last written."""
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
    """``to_json(case)``, reusing the text of parts and items written before."""
    kept = _cases.get(case.id)
    if kept is None:
        written = [(part.objects(case), part.text(case)) for part in _PARTS]
    else:
        written = []
        for part, old in zip(_PARTS, kept, strict=True):
            objects = part.objects(case)
            before = old[0]
            if len(objects) == len(before) and all(map(is_, objects, before)):
                written.append(old)
            else:
                written.append((objects, part.text(case)))
    with _lock:
        if len(_cases) >= _KEEP and case.id not in _cases:
            _cases.clear()
        _cases[case.id] = written
    return "{" + ",".join([text for _, text in written]) + "}"
