"""The docs' code runs from an installed casekit, not only from a source checkout."""

from __future__ import annotations

import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)
# Ways a block reaches into the source tree: files beside the package, the examples
# folder, running another script.
SOURCE_TREE = re.compile(r"__file__|\bparents\[|\brunpy\b|examples[/\\\"']")
PAGES = sorted((ROOT / "docs").rglob("*.md"))


@pytest.mark.parametrize("path", PAGES, ids=lambda p: p.name)
def test_no_block_needs_the_source_checkout(path: pathlib.Path) -> None:
    for number, block in enumerate(BLOCK.findall(path.read_text(encoding="utf-8")), start=1):
        found = SOURCE_TREE.search(block)
        assert found is None, (
            f"{path.relative_to(ROOT)} block {number} uses {found.group()!r}: after "
            "`pip install casekit` there is no source tree; make the block self-contained"
        )
