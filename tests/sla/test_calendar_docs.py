"""Run the ```python blocks of the calendar docs, in order, one namespace per file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"
FILES = [DOCS / "explanation" / "time-semantics.md", DOCS / "how-to" / "calendars.md"]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_doc_examples_run(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    namespace: dict[str, object] = {"__name__": f"docs_{path.stem}"}
    blocks = BLOCK.findall(path.read_text(encoding="utf-8"))
    assert blocks, f"no python blocks in {path}"
    for number, source in enumerate(blocks, 1):
        code = compile(source, f"{path.name}[block {number}]", "exec")
        exec(code, namespace)  # noqa: S102 - running our own documentation
    capsys.readouterr()
