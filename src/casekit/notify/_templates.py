"""Templates per notification kind and locale, rendered in a sandbox.

Template authors are not trusted programmers, so templates run in Jinja2's
:class:`~jinja2.sandbox.SandboxedEnvironment` (no attribute access to Python internals,
no imports) with strict undefined values. What can be checked is checked when a
template is added: its syntax, and every name and key it reads against what the kind's
data holds (``{{ case.subjet }}`` is refused then, naming the template and the field).
What cannot (a key of a custom field, a link the host left out of a case) fails when
rendered: the delivery attempt is recorded as failed, with the error.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs
from jinja2 import StrictUndefined, TemplateError, nodes, pass_context
from jinja2 import Template as JinjaTemplate
from jinja2.meta import find_undeclared_variables
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment

from casekit._convert import check_text
from casekit.exceptions import InvalidDefinition
from casekit.notify._builtin_templates import BUILTIN_TEMPLATES
from casekit.notify._kinds import BUILTIN_KINDS, Kind, Template

__all__ = ["DIGEST", "RenderError", "Rendered", "Template", "Templates"]

DIGEST = "digest"
"""The kind of a digest message; its templates get ``items``: the bundled messages
(each with ``kind``, ``subject``, ``text`` and ``case``) and ``recipient``."""


def _when(context: Context, value: object, fmt: str = "%Y-%m-%d %H:%M %Z") -> str:
    """Format an instant (ISO text, as template data holds it) in the data's ``zone``."""
    if value is None or value == "":
        return ""
    try:
        instant = datetime.fromisoformat(str(value))
        zone = ZoneInfo(str(context.get("zone") or "UTC"))
    except (ValueError, ZoneInfoNotFoundError) as exc:
        raise TemplateError(f"cannot format {value!r} as an instant: {exc}") from None
    if instant.utcoffset() is None:  # never read in the system's time zone
        raise TemplateError(f"cannot format {value!r} as an instant: it has no UTC offset")
    return instant.astimezone(zone).strftime(fmt)


_TEXT = SandboxedEnvironment(
    undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True
)
_HTML = SandboxedEnvironment(undefined=StrictUndefined, autoescape=True, keep_trailing_newline=True)
for _environment in (_TEXT, _HTML):
    _environment.filters["when"] = pass_context(_when)
_PARTS = ("subject", "text", "html")


@attrs.frozen
class _Compiled:
    """A template's parts, compiled."""

    subject: JinjaTemplate
    text: JinjaTemplate
    html: JinjaTemplate | None


def describe_error(exc: BaseException) -> str:
    """``str(exc)``, or a placeholder when even that fails."""
    try:
        return str(exc)
    except Exception:  # an exception whose __str__ raises
        return "(the error cannot be shown)"


class RenderError(Exception):
    """A template failed while rendering (recorded as a failed delivery attempt)."""


@attrs.frozen
class Rendered:
    """A rendered template."""

    subject: str
    text: str
    html: str | None
    locale: str


def _kind_fields(kind: Kind | None, links: Iterable[str]) -> Mapping[str, frozenset[str] | None]:
    if kind is None:  # the digest
        fields: dict[str, frozenset[str] | None] = {
            "items": None,
            "recipient": frozenset({"kind", "id", "name"}),
            "links": None,
        }
    else:
        fields = dict(kind.fields(links))
    fields["zone"] = None  # the recipient's time zone, which the ``when`` filter uses
    return fields


def _check_reads(source: str, fields: Mapping[str, frozenset[str] | None], where: str) -> None:
    """Refuse a template that does not parse or reads a name or key its data lacks."""
    try:
        tree = _TEXT.parse(source)
    except TemplateError as exc:
        line = getattr(exc, "lineno", None)
        at = f" (line {line})" if line else ""
        raise InvalidDefinition(f"does not parse{at}: {exc}", where=where) from None
    unknown = sorted(find_undeclared_variables(tree) - set(fields))
    if unknown:
        raise InvalidDefinition(
            f"reads {', '.join(unknown)}, which its data does not hold "
            f"(it holds {', '.join(sorted(fields))})",
            where=where,
        )
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        assert isinstance(node, nodes.Getattr | nodes.Getitem)
        base = node.node
        if not isinstance(base, nodes.Name) or base.ctx != "load":
            continue
        keys = fields.get(base.name)
        if keys is None:
            continue
        key: object
        if isinstance(node, nodes.Getattr):
            key = node.attr
        elif isinstance(node.arg, nodes.Const):
            key = node.arg.value
        else:
            continue
        if key not in keys:
            raise InvalidDefinition(
                f"reads {base.name}.{key}, which is not in {base.name} "
                f"(it holds {', '.join(sorted(keys))})",
                where=where,
            )


class Templates:
    """The templates of a desk, by kind and locale, with locale fallback.

    Built-in kinds come with English and French templates; a host's templates for the
    same kind and locale replace them. Looking up ``fr-CA`` tries ``fr-CA``, then
    ``fr``, then the default locale.

    Args:
        templates: The host's templates (added after the built-ins, checked now).
        kinds: Extra notification kinds the host defines.
        links: Names of further links the host's ``links`` give every template
            (``case`` and ``survey``, which the built-in templates read, are always
            there): templates may read ``links.<name>``.
        default_locale: The last fallback.
    """

    def __init__(
        self,
        templates: Iterable[Template] = (),
        *,
        kinds: Iterable[Kind] = (),
        links: Iterable[str] = ("case", "survey"),
        default_locale: str = "en",
    ) -> None:
        self.links = frozenset(links) | {"case", "survey"}
        self.default_locale = check_text(
            default_locale, "templates.default_locale", InvalidDefinition
        )
        self._kinds: dict[str, Kind] = {kind.name: kind for kind in BUILTIN_KINDS}
        for kind in kinds:
            if not isinstance(kind, Kind):
                raise InvalidDefinition(f"{kind!r} is not a Kind", where="kinds")
            self._kinds[kind.name] = kind
        self._templates: dict[tuple[str, str], Template] = {}
        self._compiled: dict[tuple[str, str], _Compiled] = {}  # filled on first render
        for builtin in BUILTIN_TEMPLATES:
            self.add(builtin)
        for template in templates:
            self.add(template)

    @property
    def kinds(self) -> dict[str, Kind]:
        """Every kind known, by name."""
        return dict(self._kinds)

    def kind(self, name: str) -> Kind:
        """The kind called ``name``.

        Raises:
            InvalidDefinition: No such kind (the message lists the known ones).
        """
        try:
            return self._kinds[name]
        except KeyError:
            known = ", ".join(sorted(self._kinds))
            raise InvalidDefinition(
                f"unknown notification kind {name!r} (known: {known})", where="kind"
            ) from None

    def add(self, template: Template) -> None:
        """Check ``template`` against its kind's data and add it (replacing one of the
        same kind and locale).

        Raises:
            InvalidDefinition: Unknown kind, bad locale, a template that does not parse
                or reads data its kind does not have; ``where`` names it
                (``templates.case.resolved.fr.subject``).
        """
        if not isinstance(template, Template):
            raise InvalidDefinition(f"{template!r} is not a Template", where="templates")
        where = f"templates.{template.kind}.{template.locale}"
        kind = None if template.kind == DIGEST else self.kind(template.kind)
        locale = check_text(template.locale, f"{where}.locale", InvalidDefinition)
        if not locale or not all(part.isalnum() for part in locale.split("-")):
            raise InvalidDefinition(
                f"locale {locale!r} is not a language tag like 'en' or 'fr-CA'", where=where
            )
        fields = _kind_fields(kind, self.links)
        for part in _PARTS:
            source = getattr(template, part)
            if source is None and part == "html":
                continue
            check_text(source, f"{where}.{part}", InvalidDefinition)
            _check_reads(source, fields, f"{where}.{part}")
        self._templates[(template.kind, locale.lower())] = template
        self._compiled.pop((template.kind, locale.lower()), None)

    def template(self, kind: str, locale: str | None) -> Template:
        """The template for ``kind`` in ``locale``, falling back (see the class docs).

        Raises:
            InvalidDefinition: ``kind`` has no template in any fallback locale.
        """
        for candidate in self._fallbacks(locale):
            template = self._templates.get((kind, candidate))
            if template is not None:
                return template
        raise InvalidDefinition(
            f"no template for kind {kind!r} in {locale or self.default_locale!r} or its fallbacks",
            where=f"templates.{kind}",
        )

    def has_template(self, kind: str) -> bool:
        """Whether ``kind`` has a template in the default locale (the last fallback)."""
        return (kind, self.default_locale.lower()) in self._templates

    def _fallbacks(self, locale: str | None) -> list[str]:
        chain = []
        if locale:
            tag = locale.lower().replace("_", "-")
            chain.append(tag)
            if "-" in tag:
                chain.append(tag.split("-", 1)[0])
        chain.append(self.default_locale.lower())
        return chain

    def render(self, kind: str, locale: str | None, data: Mapping[str, Any]) -> Rendered:
        """Render ``kind`` in ``locale`` (with fallback) with ``data``.

        Raises:
            RenderError: The template failed (missing data, a sandbox violation).
        """
        try:
            template = self.template(kind, locale)
        except InvalidDefinition as exc:
            raise RenderError(str(exc)) from None
        key = (template.kind, template.locale.lower())
        try:
            compiled = self._compiled.get(key)
            if compiled is None:  # compiled once: sources never change once added
                compiled = self._compiled[key] = _Compiled(
                    _TEXT.from_string(template.subject),
                    _TEXT.from_string(template.text),
                    _HTML.from_string(template.html) if template.html is not None else None,
                )
            subject = compiled.subject.render(data)
            text = compiled.text.render(data)
            html = compiled.html.render(data) if compiled.html is not None else None
        except Exception as exc:  # a template's arithmetic or filters may raise anything
            failed = f"{type(exc).__name__}: {describe_error(exc)}"
            raise RenderError(f"template {kind}/{template.locale} failed: {failed}") from None
        subject = " ".join(subject.split())
        return Rendered(subject, text, html, template.locale)
