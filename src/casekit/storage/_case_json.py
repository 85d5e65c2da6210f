"""A case's canonical JSON (:func:`casekit.serialization.to_json`), built faster.

A function generated for :class:`~casekit.model.case.Case` (:mod:`casekit._encoders`)
writes the fields in canonical sorted-key order, each by its type, without building
the dicts ``to_json`` builds. A command changes a case a little: the new version
shares most of its fields' values with the one before (cases are immutable), so the
text of each field is kept per case id with the value it was written from, and a
field whose value is the very object it was last time is not written again (only
fields of immutable kinds; the dicts are written every time). Within a changed
interactions, tasks or clocks tuple, most items are the very objects the previous
version held, so the JSON of each such item is kept and reused while the item is the
same object (``is``, never equality: ``1 == True`` and two equal instants in
different zones are written differently). The text is the same, byte for byte, as
``to_json(case)``."""

from __future__ import annotations

from casekit._encoders import versions_encoder
from casekit.model.case import Case
from casekit.serialization import to_json

__all__ = ["case_json"]

_encode = versions_encoder(Case, "id")


def case_json(case: Case) -> str:
    """``to_json(case)``, reusing the text of fields and items written before."""
    if case.__class__ is not Case or case.id.__class__ is not str:
        return to_json(case)
    return _encode(case)
