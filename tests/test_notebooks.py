"""Every notebook in the book runs top to bottom with CI's small parameters (papermill),
twice in a row in the same workspace root, so a notebook that depends on what an
earlier run left behind (or trips over it) fails.

nbval (enabled in pyproject.toml) separately re-runs each committed notebook with
its default parameters and compares every output with the stored one.
"""

from __future__ import annotations

import papermill as pm
import pytest

from tests.nbchecks import ci_parameters, output_problems, read, toc_notebooks


@pytest.mark.notebook
@pytest.mark.parametrize("notebook", toc_notebooks(), ids=lambda p: p.stem)
def test_notebook_runs_with_ci_parameters_twice(notebook, tmp_path):
    for run in ("first", "second"):
        executed = tmp_path / f"{run}-{notebook.name}"
        pm.execute_notebook(
            str(notebook),
            str(executed),
            parameters=ci_parameters(notebook.stem),
            cwd=str(notebook.parent),
            kernel_name="python3",
            progress_bar=False,
            execution_timeout=900,
        )
        problems = output_problems(read(executed))
        assert not problems, f"{run} run:\n" + "\n".join(problems)
