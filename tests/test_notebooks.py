"""Run the design notebooks headless, as a reader would, and fail on any error or assert.

Each notebook starts its own kernel (``python3``, the interpreter running pytest) and its own
Spark driver, so each takes a minute or more on 2 cores.
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = {"synthea_design.ipynb": "synthea", "pagila_design.ipynb": "pagila"}
# Per cell; the slowest cells (finding relations, sampling, checking) take under a minute.
CELL_TIMEOUT_SECONDS = 600


@pytest.mark.parametrize("notebook_name", sorted(NOTEBOOKS))
def test_notebook_runs_clean(notebook_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    notebook = nbformat.read(REPO / "notebooks" / notebook_name, as_version=4)
    # The kernel inherits this environment; the notebook writes its outputs there.
    monkeypatch.setenv("DESIGN_OUTPUT", str(tmp_path))
    client = NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT_SECONDS,
        kernel_name="python3",
        resources={"metadata": {"path": str(REPO)}},
    )
    client.execute()
    name = NOTEBOOKS[notebook_name]
    report = json.loads((tmp_path / f"{name}.check.json").read_text(encoding="utf-8"))
    assert report["ok"]
    assert report["leaks"] == []
    assert [fk for fk in report["foreign_keys"] if fk["status"] != "ok"] == []
    assert (tmp_path / f"{name}.yaml").read_text(encoding="utf-8") == (
        REPO / "configs" / f"{name}.yaml"
    ).read_text(encoding="utf-8")


@pytest.mark.parametrize("notebook_name", sorted(NOTEBOOKS))
def test_notebook_stored_without_outputs(notebook_name: str) -> None:
    notebook = nbformat.read(REPO / "notebooks" / notebook_name, as_version=4)
    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(cell.outputs == [] for cell in code_cells)
    assert all(cell.execution_count is None for cell in code_cells)
