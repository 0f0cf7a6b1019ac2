"""The book builds with warnings as errors (a bad reference or a broken page fails)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.nbchecks import ROOT, toc_files


@pytest.mark.book
def test_book_builds_without_warnings(tmp_path):
    jb = Path(sys.executable).parent / "jupyter-book"
    done = subprocess.run(
        [
            str(jb),
            "build",
            str(ROOT),
            "--path-output",
            str(tmp_path),
            "-W",
            "-n",
            "--keep-going",
        ],
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-6000:]
    html = tmp_path / "_build" / "html"
    assert (html / "index.html").is_file()
    for page in toc_files():
        assert (html / f"{page}.html").is_file(), f"no HTML page for {page}"
