"""The example notebook runs from top to bottom (issue 14, item 16)."""

from __future__ import annotations

from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "symbackprop.ipynb"


def test_the_example_notebook_executes(tmp_path):
    nbformat = pytest.importorskip("nbformat", reason="nbformat is not installed (the test extra has it)")
    nbclient = pytest.importorskip("nbclient", reason="nbclient is not installed (the test extra has it)")
    pytest.importorskip("ipykernel", reason="ipykernel is not installed (the test extra has it)")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbclient.NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
                            ).execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    text = "".join(o.get("text", "") for o in outputs)
    assert "dA1_dZ1 = Z1 > 0" in text and "OK: every gradient agrees" in text and "without dA1_dZ1" in text
    html = [o["data"]["text/html"] for o in outputs if "text/html" in o.get("data", {})]
    assert any("<math" in h for h in html) and any("A worked example" in h for h in html)
