"""Execute notebooks in place so their stored outputs are fresh (`make outputs`).

    python -m tools.execute notebooks                  # every notebook in the folder
    python -m tools.execute notebooks/01_notebook_model.ipynb

Runs each notebook top to bottom in a fresh kernel with the notebook's own
(default) parameters, from the notebooks/ folder, exactly as nbval will re-run
it, then writes it back without execution timestamps. Stops at the first cell
error, unless the cell is tagged `raises-exception`. The notebook is first
brought in step with its text source (tools/pair.py), so an edit made in the
.md is what runs.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from tools.nbchecks import CELL_TIMEOUT_S, KERNELSPEC
from tools.pair import sync


def execute(path: Path) -> float:
    sync(path)
    nb = nbformat.read(path, as_version=4)
    started = time.perf_counter()
    client = NotebookClient(
        nb,
        timeout=CELL_TIMEOUT_S,
        kernel_name=KERNELSPEC["name"],
        resources={"metadata": {"path": str(path.parent)}},
        record_timing=False,
    )
    client.execute()
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.metadata.pop("widgets", None)
    nb.metadata.pop("jupytext", None)
    nbformat.write(nb, path)
    return time.perf_counter() - started


def main(args: list[str]) -> None:
    paths: list[Path] = []
    for arg in args or ["notebooks"]:
        p = Path(arg)
        paths += sorted(p.glob("*.ipynb")) if p.is_dir() else [p]
    for path in paths:
        seconds = execute(path)
        print(f"{path}: executed in {seconds:.1f} s", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
