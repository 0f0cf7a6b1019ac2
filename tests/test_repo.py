"""Consistency of the repository: toc, notebooks, environments, CI wiring."""

from __future__ import annotations

import importlib.util
import re

import nbformat
import pytest

from tests.nbchecks import (
    ROOT,
    ci_parameters,
    output_problems,
    read,
    tags,
    toc_files,
    toc_notebooks,
)

NOTEBOOK_FILES = sorted((ROOT / "notebooks").glob("*.ipynb"))


def _lock_module():
    spec = importlib.util.spec_from_file_location("lock", ROOT / "tools" / "lock.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_toc_entry_exists():
    missing = [
        f
        for f in toc_files()
        if not any((ROOT / f"{f}{ext}").is_file() for ext in (".md", ".ipynb"))
    ]
    assert not missing, f"_toc.yml lists files that do not exist: {missing}"


def test_every_notebook_is_in_the_toc():
    listed = {p.resolve() for p in toc_notebooks()}
    orphans = [p.name for p in NOTEBOOK_FILES if p.resolve() not in listed]
    assert not orphans, f"notebooks missing from _toc.yml: {orphans}"


def test_notebook_names_follow_the_convention():
    bad = [
        p.name
        for p in NOTEBOOK_FILES
        if not re.fullmatch(r"\d\d_[a-z0-9_]+\.ipynb", p.name)
    ]
    assert not bad, f"notebooks must be named NN_slug.ipynb: {bad}"


@pytest.mark.parametrize("path", NOTEBOOK_FILES, ids=lambda p: p.stem)
def test_notebook_is_valid_and_has_one_parameters_cell(path):
    nb = read(path)
    nbformat.validate(nb)
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"
    marked = [i for i, c in enumerate(nb.cells) if "parameters" in tags(c)]
    assert len(marked) == 1, (
        f"{path.name}: expected one cell tagged 'parameters', got {marked}"
    )
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")


@pytest.mark.parametrize("path", NOTEBOOK_FILES, ids=lambda p: p.stem)
def test_stored_outputs_are_clean(path):
    nb = read(path)
    assert any(c.get("outputs") for c in nb.cells), (
        f"{path.name} is stored without outputs"
    )
    assert not output_problems(nb)
    unexecuted = [
        i
        for i, c in enumerate(nb.cells)
        if c.cell_type == "code"
        and c.source.strip()
        and c.get("execution_count") is None
    ]
    assert not unexecuted, f"{path.name}: code cells never executed: {unexecuted}"


@pytest.mark.parametrize("path", NOTEBOOK_FILES, ids=lambda p: p.stem)
def test_notebook_code_avoids_known_anti_patterns(path):
    code = "\n".join(c.source for c in read(path).cells if c.cell_type == "code")
    forbidden = {
        r"sys\.path\.(append|insert)": "import the installed course package instead",
        r"from mlops_course[\w.]* import \*": "use explicit imports",
        r"artifact_path\s*=": "MLflow 3 uses name=",
        r"transition_model_version_stage": "registry stages are deprecated: use aliases",
        r"evidently\.(report|test_suite|metric_preset)\b": "removed Evidently modules",
        r"shell\s*=\s*True": "pass argument lists, never a shell string",
        r"filterwarnings\(\s*['\"]ignore['\"]\s*\)": "filter one warning narrowly, not all",
        r"\bport\s*=\s*\d{2,5}\b": "never hard-code a port: use servers.free_port()",
    }
    found = [f"{pat}: {why}" for pat, why in forbidden.items() if re.search(pat, code)]
    assert not found, f"{path.name}: {found}"


def test_ci_parameters_name_existing_notebooks_and_parameters():
    import yaml

    table = yaml.safe_load((ROOT / "tests" / "ci_parameters.yml").read_text()) or {}
    for name in table:
        path = ROOT / "notebooks" / f"{name}.ipynb"
        assert path.is_file(), (
            f"tests/ci_parameters.yml names a missing notebook {name}"
        )
        source = next(c.source for c in read(path).cells if "parameters" in tags(c))
        for key in ci_parameters(name):
            assert re.search(rf"^{key}\s*=", source, re.M), (
                f"{name}: no parameter {key!r}"
            )


def test_environment_files_are_derived_from_the_lock():
    lock = _lock_module()
    text = (ROOT / "requirements.lock").read_text()
    assert (ROOT / "environment.yml").read_text() == lock.render_environment(
        text, binder=False
    )
    assert (ROOT / "binder" / "environment.yml").read_text() == lock.render_environment(
        text, binder=True
    ), (
        "binder/environment.yml drifted from requirements.lock: run `python tools/lock.py --envs`"
    )


def test_lock_pins_every_top_level_requirement():
    pinned = {
        line.split("==")[0].lower().replace("_", "-")
        for line in (ROOT / "requirements.lock").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    }
    wanted = [
        re.split(r"[<>=\[ ]", line.strip())[0].lower().replace("_", "-")
        for line in (ROOT / "requirements.in").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    missing = [w for w in wanted if w not in pinned]
    assert not missing, (
        f"requirements.in names packages the lock does not pin: {missing}"
    )


def test_binder_installs_the_course_package():
    post_build = (ROOT / "binder" / "postBuild").read_text()
    assert "pip install" in post_build and "--no-deps" in post_build


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in readme and "make book" in readme
    assert re.search(r"^make test\b", ci, re.M), (
        ".ci/run must call the README's test command"
    )


def test_no_generated_state_is_tracked():
    import subprocess

    files = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    bad = [
        f
        for f in files
        if re.search(r"(\.db|\.pkl|\.joblib|\.onnx|mlruns/|\.workspace/)", f)
    ]
    assert not bad, f"generated state tracked in git: {bad}"
