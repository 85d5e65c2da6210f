"""Canonical JSON of an attrs class, written by a function generated for the class.

``dumps(unstructure(obj, cls))`` builds a dict per object (and per nested object)
through cattrs, then the JSON encoder sorts each dict's keys and writes it. The
function generated here writes the same text directly: the fields in sorted-key
order, each value by its declared type. What it writes is the same, byte for byte
(the audit chain hashes it):

* every value is checked to be of exactly the type the fast path expects (``str``
  for a ``str`` field, the enum class for an enum field, the very attrs class for a
  nested object, ...); any other value -- a subclass, a non-UTC instant, a non-empty
  dict or tuple, a type no rule below knows -- is written by ``dumps(hook(value))``
  with the field's own cattrs unstructure hook, which is what cattrs does for it;
* texts go through the encoder's own string escaper, integers and floats through
  ``int.__repr__`` and ``float.__repr__`` (as the C encoder does), UTC instants are
  ``isoformat()`` (ASCII, nothing to escape) in quotes, kept by identity;
* a nested attrs class is written by its own generated function only when it is one
  of :data:`NESTED` (plain model classes whose cattrs hook is the generated one);
  any other goes through its hook.

:func:`versions_encoder` writes the same text for successive versions of one object
(a case), keeping each field's text with the value it was written from.
"""

from __future__ import annotations

import ast
import enum
import math
import threading
import types
import typing
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from json.encoder import encode_basestring
from typing import Any, Final

import attrs

from casekit.serialization import converter, dumps

__all__ = ["NESTED", "encoder", "versions_encoder"]

Encoder = Callable[[Any], str]

NESTED: Final[set[type]] = set()
"""The attrs classes nested in events and cases that are written by their own generated
function (filled in by :func:`_nested_classes` on first use)."""

_KEEP: Final = 4096
"""How many instants' and items' JSON is kept (then all is dropped and built again)."""

_encoders: dict[tuple[type, tuple[str, str] | None, bool], Encoder] = {}
_seconds: Callable[[timedelta], int | float] = converter.get_unstructure_hook(timedelta)


def _nested_classes() -> None:
    from casekit.model.actors import ActorRef  # noqa: PLC0415 - the model imports serialization
    from casekit.model.case import Assignment, Interaction, Resolution, Task  # noqa: PLC0415
    from casekit.model.sla import SlaClock  # noqa: PLC0415

    NESTED.update((ActorRef, Assignment, Interaction, Resolution, SlaClock, Task))


def _float(value: float) -> str:
    return float.__repr__(value) if math.isfinite(value) else dumps(value)


_instants: dict[int, tuple[datetime, str]] = {}
"""A UTC instant's JSON by ``id``, with the instant itself (kept alive, so the id
stays its own): ``isoformat`` costs some 5,000 instructions, and a command writes the
same few instants (its time, a clock's start and due times) again and again."""


def _iso(value: datetime) -> str:
    """A UTC instant as its JSON string (``isoformat()`` is ASCII: nothing to escape)."""
    hit = _instants.get(id(value))
    if hit is not None and hit[0] is value:
        return hit[1]
    text = '"' + value.isoformat() + '"'
    if len(_instants) >= _KEEP:
        _instants.clear()
    _instants[id(value)] = (value, text)
    return text


_durations: dict[int, tuple[timedelta, str]] = {}
"""A duration's JSON by ``id``, with the duration itself (as :data:`_instants`): most
durations written are the very objects written before (a definition's targets, a
field's default ``timedelta(0)``)."""


def _timedelta(value: timedelta) -> str:
    hit = _durations.get(id(value))
    if hit is not None and hit[0] is value:
        return hit[1]
    seconds = _seconds(value)
    text = int.__repr__(seconds) if type(seconds) is int else float.__repr__(seconds)
    if len(_durations) >= _KEEP:
        _durations.clear()
    _durations[id(value)] = (value, text)
    return text


def _optional(tp: Any) -> tuple[Any, bool]:
    """``(X, True)`` for ``X | None``; ``(tp, False)`` otherwise."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if len(args) == 2 and type(None) in args:
            return next(arg for arg in args if arg is not type(None)), True
    return tp, False


def _str_enum(tp: Any) -> bool:
    return (
        isinstance(tp, type)
        and issubclass(tp, enum.Enum)
        and all(type(member.value) is str for member in tp)
    )


def _fast(tp: Any, v: str, ns: dict[str, Any], slow: str, shared: bool) -> str | None:
    """A Python expression writing ``v``: by a fast rule when ``v`` is exactly of type
    ``tp``, else by ``slow``; ``None`` when no fast rule applies to ``tp``."""
    fast = None
    if tp is str:
        fast = f"_s({v}) if {v}.__class__ is str"
    elif tp is int:
        fast = f"_int({v}) if {v}.__class__ is int"
    elif tp is bool:
        fast = f"'true' if {v} is True else 'false' if {v} is False"
    elif tp is float:
        fast = f"_float({v}) if {v}.__class__ is float"
    elif tp is datetime:
        fast = f"_iso({v}) if {v}.__class__ is _datetime and {v}.tzinfo is _UTC"
    elif tp is timedelta:
        fast = f"_timedelta({v}) if {v}.__class__ is _timedelta_type"
    elif _str_enum(tp):
        name = f"_enum_{tp.__name__}"
        ns[name] = tp
        fast = f"_s({v}._value_) if {v}.__class__ is {name}"
    elif tp in NESTED:
        name = f"_class_{tp.__name__}"
        ns[name] = tp
        ns[f"_encode_{tp.__name__}"] = _one(tp).write
        fast = f"_encode_{tp.__name__}({v}) if {v}.__class__ is {name}"
    elif typing.get_origin(tp) is tuple or tp is tuple:
        args = typing.get_args(tp)
        if shared and len(args) == 2 and args[1] is Ellipsis and args[0] in NESTED:
            name = f"_items_{args[0].__name__}"
            ns[name] = _items(args[0])
            return f"({name}({v}) if {v}.__class__ is tuple else None) or {slow}"
        fast = f"'[]' if {v}.__class__ is tuple and not {v}"
    elif typing.get_origin(tp) is dict or tp is dict:
        fast = f"'{{}}' if {v}.__class__ is dict and not {v}"
    return None if fast is None else f"{fast} else {slow}"


class _Kept:
    """JSON texts kept by the ``id`` of the object written, with the object itself (kept
    alive, so the id stays its own); all dropped once :data:`_KEEP` are kept."""

    def __init__(self) -> None:
        self.kept: dict[int, tuple[object, str, object]] = {}
        self.lock = threading.Lock()

    def keep(self, obj: object, text: str, more: object = None) -> None:
        """Keep ``text`` as ``obj``'s, with ``more`` (what else must hold to reuse it)."""
        with self.lock:
            if len(self.kept) >= _KEEP:
                self.kept.clear()
            self.kept[id(obj)] = (obj, text, more)


class _One(_Kept):
    """Writes an instance of a :data:`NESTED` class (the caller checked its class),
    keeping its JSON: a new version of a case shares its assignment, its opener and its
    resolution with the one before, unless the command changed them; events share
    their actor with the command's other events, and the fold puts an event's
    interaction, task or clock into the case as it is. One per class (:func:`_one`), for
    every encoder, so the case's JSON reuses what its events' JSON wrote.

    ``write`` is a plain function (a closure), not ``__call__``: the generated code
    calls it for every nested object, and a Python function called from Python code
    costs a fraction of an instance's ``__call__``."""

    def __init__(self, cls: type) -> None:
        super().__init__()
        self.encode = encode = encoder(cls)
        self.mutable = mutable = _mutable_fields(cls)
        kept, keep = self.kept, self.keep  # the dict is cleared, never replaced

        def write(obj: object) -> str:
            hit = kept.get(id(obj))
            if hit is not None and hit[0] is obj:
                return hit[1]
            text = encode(obj)
            keep(obj, text)
            return text

        def write_checked(obj: object) -> str:
            # The object holds a dict, which can change in place: its text is kept
            # with a copy of the dicts, and reused only while they are equal.
            values = tuple([getattr(obj, name) for name in mutable])
            hit = kept.get(id(obj))
            if hit is not None and hit[0] is obj and hit[2] == values:
                return hit[1]
            text = encode(obj)
            copies = tuple([dict(v) if v.__class__ is dict else v for v in values])
            keep(obj, text, copies)
            return text

        self.write = write_checked if mutable else write


_ones: dict[type, _One] = {}


def _one(cls: type) -> _One:
    """The :class:`_One` of ``cls``, shared by every encoder."""
    one = _ones.get(cls)
    if one is None:
        one = _ones.setdefault(cls, _One(cls))
    return one


def _items(cls: type) -> Callable[[tuple[Any, ...]], str | None]:
    """A function writing a tuple of a :data:`NESTED` class, keeping each item's JSON
    (in the class's :class:`_One`): a new version of a case shares most of its
    interactions, tasks and clocks with the one before (they are immutable), and an
    item that is the same object (``is``) as one written before is written as it was.
    It returns ``None`` if an item is not exactly of the class."""
    one = _one(cls)
    kept, keep, encode = one.kept, one.keep, one.encode
    if one.mutable:
        checked = one.write

        def write_checked(items: tuple[Any, ...]) -> str | None:
            texts = []
            for item in items:
                if item.__class__ is not cls:
                    return None
                texts.append(checked(item))
            return "[" + ",".join(texts) + "]"

        return write_checked

    def write(items: tuple[Any, ...]) -> str | None:
        texts = []
        for item in items:
            hit = kept.get(id(item))
            if hit is not None and hit[0] is item:
                texts.append(hit[1])
                continue
            if item.__class__ is not cls:
                return None
            text = encode(item)
            keep(item, text)
            texts.append(text)
        return "[" + ",".join(texts) + "]"

    return write


def encoder(cls: type, tag: tuple[str, str] | None = None, *, shared: bool = False) -> Encoder:
    """The function writing an instance of ``cls`` as ``dumps(unstructure(obj, cls))``
    does (with ``tag``'s key and value added, as the event union does). ``shared``:
    its tuple fields of :data:`NESTED` items keep each item's JSON (see
    :func:`_items`), for objects that share items with the ones written before."""
    cached = _encoders.get((cls, tag, shared))
    if cached is not None:
        return cached
    ns, lines, parts = _generate(cls, tag, shared)
    lines.append("    return ''.join((" + ", ".join(parts) + ",))")
    exec("\n".join(lines), ns)  # noqa: S102 - generated from the class's own fields
    encode: Encoder = ns["encode"]
    _encoders[(cls, tag, shared)] = encode
    return encode


_REUSED: Final = (str, int, bool, float, datetime, timedelta)
"""Field types whose values are immutable and written from themselves alone (as are
str enums, :data:`NESTED` classes that hold no dict, and tuples of them): a field
holding the very object it held when last written is written as it was."""


def _reused(tp: Any) -> bool:
    inner, _ = _optional(tp)
    if inner in _REUSED or _str_enum(inner):
        return True
    if inner in NESTED:
        return not _one(inner).mutable
    args = typing.get_args(inner)
    return (
        typing.get_origin(inner) is tuple
        and len(args) == 2
        and args[1] is Ellipsis
        and args[0] in NESTED
        and not _one(args[0]).mutable
    )


def _mutable_fields(cls: type) -> tuple[str, ...]:
    """The fields of ``cls`` typed as dicts (``Task.skills``): a frozen instance still
    holds the same dict after a host changed it in place, so its JSON cannot be kept
    by the instance's identity alone."""
    attrs.resolve_types(cls)
    fields: tuple[attrs.Attribute[Any], ...] = attrs.fields(cls)
    return tuple(
        field.name
        for field in fields
        if typing.get_origin(_optional(field.type)[0]) is dict or _optional(field.type)[0] is dict
    )


def _pure(tp: Any, v: str, ns: dict[str, Any]) -> str:
    """A Python expression: whether ``v`` (of a :func:`_reused` field) was written by
    the fast path, from the object alone. A value written through its hook (a
    subclass, a non-UTC instant, an ill-typed value) can write otherwise while it
    stays the same object (its zone's offset changed, a list changed in place): main
    writes it afresh every time, and so must the kept text."""
    inner, optional = _optional(tp)
    if inner is bool:
        test = f"{v} is True or {v} is False"
    elif inner is datetime:
        test = f"{v}.__class__ is _datetime and {v}.tzinfo is _UTC"
    elif inner in _REUSED or _str_enum(inner) or inner in NESTED:
        name = f"_pure_{v}"  # per field: two types may share a name
        ns[name] = inner
        test = f"{v}.__class__ is {name}"
    else:  # a tuple of a NESTED class, each item written by its own function
        item = typing.get_args(inner)[0]
        name = f"_pure_{v}"
        ns[name] = {item}
        ns["_map"], ns["_set"], ns["_type"] = map, set, type
        test = f"{v}.__class__ is tuple and _set(_map(_type, {v})) <= {name}"
    return f"{v} is None or ({test})" if optional else test


def versions_encoder(cls: type, key: str, *, keep: int = 1024) -> Encoder:
    """:func:`encoder` of ``cls`` (``shared``) for successive versions of one object,
    told apart by the field ``key`` (a case's id): the text of each field is kept with
    the value it was written from, per key, and a field whose value is the very object
    (``is``, never equality) it was last time is not written again -- a command changes
    a case a little, and the new version shares every other field's value with the old
    one. Only fields of the :data:`_REUSED` kinds are reused, and only while their text
    was written from the object alone (:func:`_pure`: a value written through its hook
    is written again every time); the others (dicts, which can change in place; other
    tuples and classes) are written every time. The text is the same, byte for byte.
    ``keep``: how many keys are kept (then all are dropped)."""
    ns, lines, parts = _generate(cls, None, True)
    fields: tuple[attrs.Attribute[Any], ...] = attrs.fields(cls)
    by_name = {field.name: field for field in fields}
    names = sorted(by_name)
    values = [f"v{index}" for index in range(len(names))]
    old = [f"o{index}" for index in range(len(names))]
    # parts: the "{" / ",key:" prefix (a literal), then the value's expression, per
    # field; each field's text is kept with its prefix (half the items to join)
    texts = [f"{parts[2 * i]} + {parts[2 * i + 1]}" for i in range(len(names))]
    body = [
        "    kept = _kept.get(obj." + key + ")",
        "    if kept is None:",
        "        t = [" + ", ".join(texts) + ", '}']",
        *[
            line
            for index, name in enumerate(names)
            if _reused(by_name[name].type)
            for line in (
                f"        if not ({_pure(by_name[name].type, values[index], ns)}):",
                f"            {values[index]} = _NEVER",
            )
        ],
        "    else:",
        "        (" + ", ".join(old) + ",), t = kept",
        "        t = t.copy()",
    ]
    for index, name in enumerate(names):
        tp, v = by_name[name].type, values[index]
        if _reused(tp):
            body.append(f"        if {v} is not {old[index]}:")
            body.append(f"            t[{index}] = {texts[index]}")
            # kept with a value no field holds unless written from the object alone
            body.append(f"            if not ({_pure(tp, v, ns)}):")
            body.append(f"                {v} = _NEVER")
            continue
        # Written every time; its usual values (None, an empty dict or tuple) as one
        # literal, key included.
        prefix = ast.literal_eval(parts[2 * index])
        inner, optional = _optional(tp)
        origin = typing.get_origin(inner) or inner
        test = "if"
        if optional:
            body.append(f"        {test} {v} is None:")
            body.append(f"            t[{index}] = {prefix + 'null'!r}")
            test = "elif"
        for kind, empty in ((dict, "{}"), (tuple, "[]")):
            if origin is kind:
                body.append(f"        {test} {v}.__class__ is {kind.__name__} and not {v}:")
                body.append(f"            t[{index}] = {prefix + empty!r}")
                test = "elif"
        if test == "if":
            body.append(f"        t[{index}] = {texts[index]}")
        else:
            body.append("        else:")
            body.append(f"            t[{index}] = {texts[index]}")
    body += [
        "    if len(_kept) >= _keep:",
        "        _kept.clear()",
        "    _kept[obj." + key + "] = ((" + ", ".join(values) + ",), t)",
        "    return ''.join(t)",
    ]
    ns["_kept"] = {}
    ns["_keep"] = keep
    ns["_NEVER"] = object()
    exec("\n".join(lines + body), ns)  # noqa: S102 - generated from the class's own fields
    encode: Encoder = ns["encode"]
    return encode


def _generate(
    cls: type, tag: tuple[str, str] | None, shared: bool
) -> tuple[dict[str, Any], list[str], list[str]]:
    """The namespace, the lines reading each field into ``v<index>`` (sorted by name),
    and the parts of the text: each field's ``"{"`` or ``","`` and key (a literal) and
    its value's expression, in order, then ``"}"``."""
    if not NESTED:
        _nested_classes()
    attrs.resolve_types(cls)  # as cattrs does: the annotations may be strings
    ns: dict[str, Any] = {
        "_s": encode_basestring,
        "_int": int.__repr__,
        "_float": _float,
        "_timedelta": _timedelta,
        "_timedelta_type": timedelta,
        "_datetime": datetime,
        "_iso": _iso,
        "_UTC": UTC,
    }
    fields: tuple[attrs.Attribute[Any], ...] = attrs.fields(cls)
    keys: dict[str, attrs.Attribute[Any] | None] = {field.name: field for field in fields}
    if tag is not None:
        if tag[0] in keys:
            raise ValueError(f"{cls.__name__} has a field named {tag[0]!r}, its tag's key")
        keys[tag[0]] = None  # the tag's place in the sorted keys
    lines = ["def encode(obj):"]
    parts: list[str] = []
    for index, key in enumerate(sorted(keys)):
        prefix = ("{" if index == 0 else ",") + encode_basestring(key) + ":"
        field = keys[key]
        if field is None:
            assert tag is not None
            parts.append(repr(prefix + dumps(tag[1])))
            continue
        v = f"v{index}"
        hook = converter.get_unstructure_hook(field.type)
        ns[f"_hook{index}"] = hook
        slow = f"_dumps(_hook{index}({v}))"
        inner, optional = _optional(field.type)
        fast = _fast(inner, v, ns, slow, shared) if field.type is not Any else None
        expr = slow if fast is None else fast
        if optional:
            expr = f"'null' if {v} is None else {expr}"
        lines.append(f"    {v} = obj.{field.name}")
        parts.append(repr(prefix))
        parts.append(f"({expr})")
    parts.append("'}'" if keys else "'{}'")
    ns["_dumps"] = dumps
    return ns, lines, parts
