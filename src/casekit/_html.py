"""Short reprs and HTML tables for notebooks (Jupyter, JupyterLab, VS Code).

Every ``_repr_html_`` in casekit is built from these pieces so that they look alike
and stay safe:

* Text is escaped by default. :func:`cell`, :func:`table`, :func:`fields` and
  :func:`tag` escape whatever they are given unless it is :class:`Html` (markup this
  module built itself), so a case subject ``<script>...</script>`` renders as text.
* Inline styles only: no ``<style>`` block, no external CSS or JavaScript, so the
  markup survives notebook sanitisers and nbconvert. Colours are inherited
  (``currentColor``, a translucent grey for rules), so light and dark themes both read.
* Tables have captions and ``scope`` on header cells; bars carry an ``aria-label``.
"""

from __future__ import annotations

import html
from collections.abc import Collection, Iterable, Sequence
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from casekit.exceptions import MissingDependency

__all__ = [
    "Html",
    "bar",
    "block",
    "cell",
    "clip",
    "duration",
    "escape",
    "fields",
    "instant",
    "load_pandas",
    "quoted",
    "table",
    "tag",
    "text",
]


def load_pandas(what: str) -> Any:
    """Import pandas on first use, or raise :class:`~casekit.exceptions.MissingDependency`.

    Args:
        what: The method asking, for the message (``"RoutingDecision.to_frame()"``).
    """
    try:
        import pandas  # noqa: PLC0415 - optional dependency, imported on use
    except ImportError as error:
        raise MissingDependency("pandas", "notebook", what) from error
    return pandas


class Html(str):
    """Markup built by this module: inserted as is, never escaped again."""

    __slots__ = ()


# -- text ------------------------------------------------------------------------------


def escape(value: object) -> str:
    """``value`` as text safe inside an element or a quoted attribute."""
    return html.escape(text(value), quote=True)


def text(value: object) -> str:
    """How a value reads in a table: enums by value, ``None`` as an empty string."""
    if value is None:
        return ""
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, datetime):
        return instant(value)
    if isinstance(value, timedelta):
        return duration(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def clip(value: object, limit: int) -> str:
    """``value`` on one line, whitespace collapsed, cut to ``limit`` characters with ``…``."""
    flat = " ".join(text(value).split())
    if len(flat) <= limit:
        return flat
    return flat[: max(limit - 1, 0)] + "…"


def quoted(value: object, limit: int = 30) -> str:
    """A clipped string for a one-line ``__repr__``, in Python quotes (``'Printer on f…'``)."""
    return repr(clip(value, limit))


def duration(value: timedelta) -> str:
    """A compact duration: ``45s``, ``12m``, ``2h 05m``, ``3d 4h``; negative with ``-``."""
    seconds = int(value.total_seconds())
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    if days:
        out = f"{days}d {hours}h" if hours else f"{days}d"
    elif hours:
        out = f"{hours}h {minutes:02d}m" if minutes else f"{hours}h"
    elif minutes:
        out = f"{minutes}m {secs:02d}s" if secs else f"{minutes}m"
    else:
        out = f"{secs}s"
    return sign + out


def instant(value: datetime) -> str:
    """An instant to the minute (seconds when not zero) with its zone's abbreviation."""
    shape = "%Y-%m-%d %H:%M:%S" if value.second or value.microsecond else "%Y-%m-%d %H:%M"
    zone = value.tzname() or ""
    return f"{value.strftime(shape)} {zone}".rstrip()


# -- markup ----------------------------------------------------------------------------

_RULE = "1px solid rgba(128,128,128,.35)"
_TABLE = (
    "border-collapse:collapse;font-size:0.85em;margin:0.25em 0 0.6em 0;"
    "color:inherit;background:transparent"
)
_CELL = f"padding:.15em .6em;text-align:left;vertical-align:top;border-bottom:{_RULE}"
_HEAD = f"{_CELL};font-weight:600"
_NARROW = f"padding:0.1em 1px;min-width:1.2em;vertical-align:middle;border-bottom:{_RULE}"
_NARROW_HEAD = f"{_NARROW};font-weight:400;font-size:0.75em;text-align:left"
_CAPTION = "caption-side:top;text-align:left;font-weight:600;padding:0.2em 0"
_BLOCK = "font-family:inherit;color:inherit;line-height:1.35"


def cell(value: object) -> str:
    """``value`` for an element's content: :class:`Html` as is, anything else escaped."""
    return value if isinstance(value, Html) else escape(value)


def tag(name: str, content: object = "", **attributes: object) -> Html:
    """``<name attr="...">content</name>``, attribute values and content escaped.

    A trailing underscore is dropped from attribute names (``class_``), other
    underscores become dashes (``aria_label``).
    """
    attrs_text = "".join(
        f' {key.rstrip("_").replace("_", "-")}="{escape(value)}"'
        for key, value in attributes.items()
        if value is not None
    )
    return Html(f"<{name}{attrs_text}>{cell(content)}</{name}>")


def table(
    header: Sequence[object] | None,
    rows: Iterable[Sequence[object]],
    *,
    caption: object = None,
    row_headers: bool = False,
    narrow: Collection[int] = (),
) -> Html:
    """A compact table.

    Args:
        header: Column titles (``None`` for none).
        rows: The cells; :class:`Html` cells are inserted as is, others escaped.
        caption: A title shown above the table.
        row_headers: The first cell of each row is a row header (``<th scope="row">``).
        narrow: Indices of columns drawn without padding (a grid of small cells).
    """
    parts = [f'<table style="{_TABLE}">']
    if caption is not None:
        parts.append(f'<caption style="{_CAPTION}">{cell(caption)}</caption>')
    if header is not None:
        heads = "".join(
            f'<th scope="col" style="{_NARROW_HEAD if index in narrow else _HEAD}">{cell(h)}</th>'
            for index, h in enumerate(header)
        )
        parts.append(f"<thead><tr>{heads}</tr></thead>")
    parts.append("<tbody>")
    for row in rows:
        cells = []
        for index, value in enumerate(row):
            if index == 0 and row_headers:
                cells.append(f'<th scope="row" style="{_HEAD}">{cell(value)}</th>')
            else:
                style = _NARROW if index in narrow else _CELL
                cells.append(f'<td style="{style}">{cell(value)}</td>')
        parts.append(f"<tr>{''.join(cells)}</tr>")
    parts.append("</tbody></table>")
    return Html("".join(parts))


def fields(pairs: Iterable[tuple[str, object]], *, caption: object = None) -> Html:
    """A two-column name/value table; pairs whose value is ``None`` or empty are left out."""
    rows = [(name, value) for name, value in pairs if value is not None and value != ""]
    return table(None, rows, caption=caption, row_headers=True)


def bar(fraction: float, label: str, *, width: str = "7em") -> Html:
    """A small horizontal bar filled to ``fraction`` (clipped to 0-1), in the text colour.

    Over 1 (a breached clock) the frame is drawn dashed. ``label`` is the bar's
    accessible name and tooltip.
    """
    shown = min(max(fraction, 0.0), 1.0)
    frame = "dashed" if fraction > 1 else "solid"
    outer = (
        f"display:inline-block;width:{width};height:0.7em;border:1px {frame} currentColor;"
        "vertical-align:middle;box-sizing:border-box"
    )
    inner = f"display:block;height:100%;width:{shown * 100:.1f}%;background:currentColor"
    return Html(
        f'<span role="img" aria-label="{escape(label)}" title="{escape(label)}" '
        f'style="{outer}"><span style="{inner}"></span></span>'
    )


def block(title: object, *parts: object, note: object = None) -> Html:
    """The outer box of a ``_repr_html_``: a bold title line, then the parts in order."""
    body = "".join(cell(part) for part in parts if part)
    foot = f'<div style="opacity:0.7;font-size:0.8em">{cell(note)}</div>' if note else ""
    return Html(
        f'<div style="{_BLOCK}"><div style="font-weight:600">{cell(title)}</div>{body}{foot}</div>'
    )
