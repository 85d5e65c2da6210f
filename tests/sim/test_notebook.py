"""The data team's notebook runs headless, top to bottom, and shows what it promises."""

from __future__ import annotations

from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).parents[2] / "examples" / "notebooks" / "sla_what_if.ipynb"


def test_the_what_if_notebook_runs(tmp_path: Path) -> None:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        notebook,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    html = [o["data"]["text/html"] for o in outputs if "text/html" in o.get("data", {})]
    assert any("Simulation" in h for h in html)  # the result's own table
    assert any("shifts 8-20" in h and "mean_wait_s_se" in h for h in html)  # the comparison
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 2  # the bars and the backlogs
