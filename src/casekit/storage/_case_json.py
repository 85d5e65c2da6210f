"""A case's canonical JSON (:func:`casekit.serialization.to_json`), built faster.

A function generated for :class:`~casekit.model.case.Case` (:mod:`casekit._encoders`)
writes the fields in canonical sorted-key order, each by its type, without building
the dicts ``to_json`` builds. A command changes a case a little: most of its
interactions, tasks and clocks are the very objects the previous version held (cases
are immutable and share what did not change), so the JSON of each such item is kept
and reused while the item is the same object (``is``, never equality: ``1 == True``
and two equal instants in different zones are written differently). The text is the
same, byte for byte, as ``to_json(case)``."""

from __future__ import annotations

from casekit._encoders import encoder
from casekit.model.case import Case
from casekit.serialization import to_json

__all__ = ["case_json"]

_encode = encoder(Case, shared=True)


def case_json(case: Case) -> str:
    """``to_json(case)``, reusing the text of items written before."""
    if case.__class__ is not Case:
        return to_json(case)
    return _encode(case)
