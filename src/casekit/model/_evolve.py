"""``attrs.evolve`` for the fold's hot path: a copy of a frozen, slotted attrs instance
with some fields changed, built by a function generated once per class and set of
changed fields.

``attrs.evolve`` walks every field in Python and calls ``__init__`` with all of them
as keywords, which runs every validator again; the case has 27 fields and every
command rebuilds it at least once. The generated function copies the unchanged
fields slot by slot and runs the validators of the changed fields only: the unchanged
values were validated when the instance was built (the instance is frozen), so the
result is what ``attrs.evolve`` gives, and a bad new value is refused the same way.

Only classes whose ``__init__`` does nothing but set (and validate) each field are
rebuilt this way: slotted, frozen, without converters, ``__attrs_post_init__``,
``__attrs_pre_init__`` or hidden (``init=False``) fields, and casekit's own (a class
defined elsewhere, a host's subclass of a model class say, may have an ``__init__`` of
its own or a validator that reads other fields, which only ``__init__`` runs again).
Any other class goes through ``attrs.evolve``.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from typing import Any, Final, TypeVar, cast

import attrs

__all__ = ["evolve", "maker"]

T = TypeVar("T")

_Builder = Callable[..., Any]

_builders: dict[tuple[type, tuple[str, ...]], _Builder] = {}
_plain: dict[type, bool] = {}
_drafts: dict[type, type | None] = {}
_lock: Final = threading.Lock()
_FACTORY: Final[type] = cast(Any, attrs.Factory)  # a class (typed as a function)


class _Switch:
    """Reads attrs' validators switch the public way (used if attrs' own module, which
    its generated ``__init__`` reads, is not where it was)."""

    @property
    def _run_validators(self) -> bool:
        return not attrs.validators.get_disabled()


def _config() -> Any:
    """The module holding attrs' switch ``_run_validators``
    (``attrs.validators.set_disabled``), as attrs' own generated ``__init__`` reads it."""
    try:
        module = importlib.import_module("attr._config")
    except ImportError:  # pragma: no cover - attrs moved it
        return _Switch()
    return module if isinstance(getattr(module, "_run_validators", None), bool) else _Switch()


_CONFIG: Final = _config()


def _is_plain(cls: type) -> bool:
    """Whether ``cls``'s instances may be copied slot by slot (see the module doc)."""
    fields: tuple[attrs.Attribute[Any], ...] = attrs.fields(cls)
    return (
        cls.__module__.partition(".")[0] == "casekit"
        and "__attrs_attrs__" in cls.__dict__  # its __init__ is attrs' (not a subclass's)
        and "__slots__" in cls.__dict__
        and getattr(cls, "__setattr__", None) is not object.__setattr__  # frozen
        and not hasattr(cls, "__attrs_post_init__")
        and not hasattr(cls, "__attrs_pre_init__")
        and "_attrs_cached_hash" not in getattr(cls, "__slots__", ())
        and all(
            field.init and field.converter is None and field.alias == field.name for field in fields
        )
    )


def _draft(cls: type) -> type | None:
    """A mutable subclass of ``cls`` (no slots of its own, the plain ``__setattr__``)
    whose instances may become instances of ``cls`` by assigning ``__class__``, or
    ``None``."""
    if cls in _drafts:
        return _drafts[cls]
    if any("__init_subclass__" in base.__dict__ for base in cls.__mro__[:-1]):
        _drafts[cls] = None  # a class that follows its subclasses is not given one
        return None
    # Both: the interpreter gives a class its generic attribute store only when
    # neither is a Python function (attrs' frozen classes define both).
    plain = {"__setattr__": object.__setattr__, "__delattr__": object.__delattr__}
    candidate = type(f"{cls.__name__}Draft", (cls,), {"__slots__": (), **plain})
    draft: type | None = candidate
    try:
        probe: Any = object.__new__(candidate)
        probe.__class__ = cls  # the interpreter checks the layouts
    except TypeError:  # pragma: no cover - a layout the interpreter refuses
        draft = None
    _drafts[cls] = draft
    return draft


def _builder(cls: type, names: tuple[str, ...]) -> _Builder:
    """The function ``(instance, *new values of names) -> copy``, generated."""
    fields: tuple[attrs.Attribute[Any], ...] = attrs.fields(cls)
    known = {field.name for field in fields}
    unknown = [name for name in names if name not in known]
    if unknown:  # as attrs.evolve would: the class does not take such an argument
        raise TypeError(
            f"{cls.__name__}.__init__() got an unexpected keyword argument {unknown[0]!r}"
        )
    namespace: dict[str, Any] = {
        "_new": object.__new__,
        "_setter": object.__setattr__.__get__,  # as attrs' own __init__ sets slots
        "_config": _CONFIG,
        "cls": cls,
    }
    params = [f"v{index}" for index in range(len(names))]
    draft = _draft(cls)
    namespace["draft"] = draft
    lines = [f"def build(instance, {', '.join(params)}):"]
    if draft is None:
        lines += ["    new = _new(cls)", "    _set = _setter(new)"]
    else:
        lines += ["    new = _new(draft)"]
    checks = []
    for field in fields:
        if field.name in names:
            value = params[names.index(field.name)]
            if field.validator is not None:  # run as __init__ does: once all are set
                namespace[f"_check_{field.name}"] = field.validator
                namespace[f"_field_{field.name}"] = field
                checks.append(f"        _check_{field.name}(new, _field_{field.name}, {value})")
        else:
            value = f"instance.{field.name}"
        if draft is None:
            lines.append(f"    _set({field.name!r}, {value})")
        else:
            lines.append(f"    new.{field.name} = {value}")
    if draft is not None:
        lines.append("    new.__class__ = cls")
    if checks:
        lines += ["    if _config._run_validators:", *checks]
    lines.append("    return new")
    exec("\n".join(lines), namespace)  # noqa: S102 - generated from the class's own fields
    build: _Builder = namespace["build"]
    return build


def maker(cls: type[T]) -> Callable[..., T]:
    """A function that builds what ``cls(...)`` builds, taking the same arguments
    (every field by its name, with the same defaults), without ``__init__``'s
    ``object.__setattr__`` per field (~1,000 instructions each): the fields are set on a
    draft (see :func:`_draft`) that then becomes a ``cls``, and the validators run
    after, as ``__init__`` runs them. For a plain class (see the module doc) without
    factory defaults; ``cls`` itself for any other class."""
    fields: tuple[attrs.Attribute[Any], ...] = attrs.fields(cast(Any, cls))
    draft = _draft(cls) if _is_plain(cls) else None
    if draft is None or any(isinstance(field.default, _FACTORY) for field in fields):
        return cls
    namespace: dict[str, Any] = {"_new": object.__new__, "_draft": draft, "_cls": cls}
    namespace["_config"] = _CONFIG
    params: list[str] = []
    keywords: list[str] = []
    checks: list[str] = []
    for field in fields:
        param = field.name
        if field.default is not attrs.NOTHING:
            namespace[f"_default_{field.name}"] = field.default
            param += f"=_default_{field.name}"
        (keywords if field.kw_only else params).append(param)
        if field.validator is not None:
            namespace[f"_check_{field.name}"] = field.validator
            namespace[f"_field_{field.name}"] = field
            checks.append(f"        _check_{field.name}(_self, _field_{field.name}, {field.name})")
    signature = ", ".join([*params, *(["*", *keywords] if keywords else [])])
    lines = [f"def make({signature}):", "    _self = _new(_draft)"]
    lines += [f"    _self.{field.name} = {field.name}" for field in fields]
    lines.append("    _self.__class__ = _cls")
    if checks:
        lines += ["    if _config._run_validators:", *checks]
    lines.append("    return _self")
    exec("\n".join(lines), namespace)  # noqa: S102 - generated from the class's own fields
    make: Callable[..., T] = namespace["make"]
    return make


def evolve(instance: T, changes: dict[str, Any]) -> T:
    """``attrs.evolve(instance, **changes)``, faster for plain frozen slotted classes."""
    cls = type(instance)
    names = tuple(changes)
    build = _builders.get((cls, names))
    if build is None:
        plain = _plain.get(cls)
        if plain is None:
            plain = _plain[cls] = _is_plain(cls)
        if not plain or not names:
            return attrs.evolve(cast(Any, instance), **changes)  # type: ignore[no-any-return]
        build = _builder(cls, names)
        with _lock:
            _builders[(cls, names)] = build
    result: T = build(instance, *changes.values())
    return result
