"""A case's canonical JSON (:func:`casekit.serialization.to_json`), built faster.

A command changes a case a little: most of its fields, interactions, tasks and clocks
are the very objects the previous version held (cases are immutable and share what
did not change). The text of each field (``"name":value``, in canonical sorted-key
order) is kept per case with the value it was built from: a field whose value is the
same object (``is``) as last time is reused as it is, and a shared array that changed
is joined from the kept JSON of each item. The text is the same, byte for byte, as
``to_json(case)``.

Sameness is identity, never equality: ``1 == True`` and two equal instants in
different zones are written differently. The dict fields (``custom``, ``skills``) are
mutable, so for them each key and value must be the same object too."""

from __future__ import annotations

import threading
from collections.abc import Callable
from json.encoder import encode_basestring
from operator import is_
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


def _fields() -> tuple[tuple[str, str, Callable[[Any], Any], type | None, bool], ...]:
    """The case's fields in canonical (sorted) order: name, ``"name":`` as JSON, the
    unstructure hook of its type, the item type of a shared tuple field, and whether
    it is a (mutable) dict."""
    attrs.resolve_types(Case)  # as cattrs does: the annotations are strings
    fields: tuple[attrs.Attribute[Any], ...] = attrs.fields(Case)
    return tuple(
        (
            field.name,
            encode_basestring(field.name) + ":",
            converter.get_unstructure_hook(field.type),
            _SHARED.get(field.name),
            getattr(field.type, "__origin__", None) is dict,
        )
        for field in sorted(fields, key=lambda f: f.name)
    )


_FIELDS: Final = _fields()


_fragments: dict[int, tuple[object, str]] = {}
_Kept = tuple[object, tuple[object, ...] | None, str]
"""A field as last written: its value, a dict's keys and values, its text."""
_cases: dict[str, list[_Kept]] = {}
"""Case id -> each field as last written."""
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


def _field_text(
    case: Case, name: str, key: str, hook: Callable[[Any], Any], item: type | None
) -> str:
    if item is not None:
        items = ",".join([_item_json(value, item) for value in getattr(case, name)])
        return f"{key}[{items}]"
    return key + dumps(hook(getattr(case, name)))


def _same(old: _Kept, value: object, contents: tuple[object, ...] | None) -> bool:
    """Whether a field's ``value`` (and a dict's ``contents``) is what ``old`` was."""
    if old[0] is not value:
        return False
    if contents is None:
        return True
    before = old[1]
    return before is not None and len(contents) == len(before) and all(map(is_, contents, before))


def case_json(case: Case) -> str:
    """``to_json(case)``, reusing the text of fields and items written before."""
    kept = _cases.get(case.id)
    written: list[_Kept] = []
    for index, (name, key, hook, item, is_dict) in enumerate(_FIELDS):
        value = getattr(case, name)
        contents = tuple(x for pair in value.items() for x in pair) if is_dict else None
        if kept is not None and _same(kept[index], value, contents):
            written.append(kept[index])
        else:
            written.append((value, contents, _field_text(case, name, key, hook, item)))
    with _lock:
        if len(_cases) >= _KEEP and case.id not in _cases:
            _cases.clear()
        _cases[case.id] = written
    return "{" + ",".join([text for _, _, text in written]) + "}"
