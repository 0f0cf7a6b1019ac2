"""Keep each notebook and its MyST Markdown text source in step (`make sync`).

    python -m tools.pair                         # every notebook in notebooks/
    python -m tools.pair notebooks/05_serving_fastapi.ipynb

jupytext pairs the two files (notebooks/jupytext.toml); whichever was saved
last wins, its cells are written to the other file and the stored outputs stay
in the .ipynb. JupyterLab with jupytext saves both at once; an editor or a
script that writes one of them needs this step (the repo test fails until then).
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from jupytext.cli import jupytext


def sync(path: Path) -> None:
    notebook = path.with_suffix(".ipynb")
    jupytext(["--sync", "--quiet", str(notebook)])
    # jupytext records its lexer in the notebook when it writes from the text:
    # drop it, so a synced notebook's metadata is the same as an executed one's.
    nb = nbformat.read(notebook, as_version=4)
    if nb.metadata.pop("jupytext", None) is not None:
        nbformat.write(nb, notebook)


def main(args: list[str]) -> None:
    for arg in args or ["notebooks"]:
        p = Path(arg)
        for path in sorted(p.glob("*.ipynb")) if p.is_dir() else [p]:
            sync(path)


if __name__ == "__main__":
    main(sys.argv[1:])
