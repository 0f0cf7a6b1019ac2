"""Every notebook in the book runs top to bottom with CI's small parameters (papermill).

nbval (enabled in pyproject.toml) separately re-runs each committed notebook with
its default parameters and compares every output with the stored one.
"""

from __future__ import annotations

import papermill as pm
import pytest

from tests.nbchecks import ci_parameters, output_problems, read, toc_notebooks


@pytest.mark.notebook
@pytest.mark.parametrize("notebook", toc_notebooks(), ids=lambda p: p.stem)
def test_notebook_runs_with_ci_parameters(notebook, tmp_path):
    executed = tmp_path / notebook.name
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
    assert not problems, "\n".join(problems)
