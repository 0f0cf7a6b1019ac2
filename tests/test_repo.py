"""Consistency of the repository: toc, notebooks, environments, CI wiring."""

from __future__ import annotations

import re
import subprocess

import pytest

from mlops_course.shell import executable
from tools import lock
from tools.nbchecks import (
    CHAPTER_MAP_END,
    CHAPTER_MAP_HEADER,
    CHAPTER_MAP_START,
    NOTEBOOK_NAME,
    ROOT,
    anti_pattern_problems,
    chapter_map,
    chapter_row,
    ci_parameters,
    covering_tests,
    fence_problems,
    format_row,
    imported_modules,
    output_problems,
    pair_problems,
    read,
    structure_problems,
    tags,
    text_source,
    toc_files,
    toc_notebooks,
)

NOTEBOOK_FILES = sorted((ROOT / "notebooks").glob("*.ipynb"))


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
    bad = [p.name for p in NOTEBOOK_FILES if not NOTEBOOK_NAME.fullmatch(p.name)]
    assert not bad, f"notebooks must be named NN_slug.ipynb: {bad}"


def test_chapter_titles_carry_the_chapter_number():
    """The book does not number pages (parts would restart it); the titles do."""
    bad = []
    for path in NOTEBOOK_FILES:
        first = read(path).cells[0].source.splitlines()[0]
        if not re.match(rf"# {int(path.stem[:2])}b?\. \S", first):
            bad.append(f"{path.name}: {first!r}")
    assert not bad, f"titles must start with '# <chapter number>. ': {bad}"


@pytest.mark.parametrize("path", NOTEBOOK_FILES, ids=lambda p: p.stem)
def test_notebook_is_valid_and_has_one_parameters_cell(path):
    problems = structure_problems(read(path))
    assert not problems, f"{path.name}: {problems}"


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
def test_notebook_and_its_text_source_are_a_pair(path):
    assert pair_problems(path) == []


def test_pair_check_names_the_cell_a_hand_edit_changed(tmp_path):
    notebook = NOTEBOOK_FILES[0]
    (tmp_path / "jupytext.toml").write_bytes(
        (ROOT / "notebooks/jupytext.toml").read_bytes()
    )
    copy = tmp_path / notebook.name
    copy.write_bytes(notebook.read_bytes())
    text = text_source(notebook).read_text()
    text_source(copy).write_text(text)
    assert pair_problems(copy) == []
    text_source(copy).write_text(text.replace("seed = 42", "seed = 7", 1))
    assert [p for p in pair_problems(copy) if "seed" in p and "differs" in p]
    text_source(copy).write_text(text + "\n")
    assert [p for p in pair_problems(copy) if "not the text jupytext writes" in p]
    text_source(copy).unlink()
    assert [p for p in pair_problems(copy) if "missing" in p]


def test_chapter_map_keeps_submodules_and_finds_their_tests():
    code = (
        "from mlops_course import data, serving\n"
        "from mlops_course.serving import canary\n"
        "from mlops_course.serving.metrics import UNMATCHED\n"
        "import mlops_course.serving.rollout_app\n"
    )
    assert imported_modules(code) == {
        "data",
        "serving",
        "serving.canary",
        "serving.metrics",
        "serving.rollout_app",
    }
    assert {"test_canary.py", "test_serving_metrics.py"} <= set(
        covering_tests({"serving.canary", "serving.metrics"})
    )


def test_book_pages_open_directives_the_parser_can_read():
    problems = {
        str(page.relative_to(ROOT)): fence_problems(page.read_text())
        for page in sorted((ROOT / "book").glob("*.md"))
    }
    assert {page: found for page, found in problems.items() if found} == {}


def test_fence_check_catches_a_backtick_in_a_directive_title():
    assert fence_problems("```{dropdown} Why `dvc pull`?\nBecause.\n```") != []
    assert fence_problems(":::{dropdown} Why `dvc pull`?\nBecause.\n:::") == []
    assert fence_problems("```{dropdown} Why dvc pull?\nBecause.\n```") == []


@pytest.mark.parametrize("path", NOTEBOOK_FILES, ids=lambda p: p.stem)
def test_notebook_code_avoids_known_anti_patterns(path):
    found = anti_pattern_problems(read(path))
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
    text = (ROOT / "requirements.lock").read_text()
    assert (ROOT / "environment.yml").read_text() == lock.render_environment(
        text, binder=False
    ), "environment.yml drifted from requirements.lock: run `make lock`"
    assert (ROOT / "binder" / "environment.yml").read_text() == lock.render_environment(
        text, binder=True
    ), "binder/environment.yml drifted: run `python -m tools.lock --envs`"


def test_binder_leaves_out_only_what_learners_never_import():
    pinned = lock.pinned_names((ROOT / "requirements.lock").read_text())
    binder = (ROOT / "binder" / "environment.yml").read_text()
    for name in lock.BINDER_LEAVES_OUT:
        assert name in pinned, f"{name} is left out of Binder but not in the lock"
        assert f"- {name}==" not in binder
    imported = set()
    for path in [*ROOT.glob("notebooks/*.ipynb"), *ROOT.glob("src/**/*.py")]:
        text = path.read_text()
        imported |= set(re.findall(r"(?:from|import)\s+([A-Za-z_][\w]*)", text))
    modules = {name.replace("-", "_") for name in lock.BINDER_LEAVES_OUT}
    assert not modules & imported, "Binder leaves out a package a learner imports"


def test_lock_pins_every_top_level_requirement():
    pinned = lock.pinned_names((ROOT / "requirements.lock").read_text())
    lines = (ROOT / "requirements.in").read_text().splitlines()
    wanted = [name for name in map(lock.requirement_name, lines) if name]
    assert len(wanted) > 10, "requirements.in parsed to almost nothing"
    missing = [name for name in wanted if name not in pinned]
    assert not missing, (
        f"requirements.in names packages the lock does not pin: {missing}"
    )


def test_lock_records_hashes_for_every_exact_pin():
    text = (ROOT / "requirements.lock").read_text()
    assert len(lock.pins(text)) > 100
    bad = lock.unpinned_or_unhashed(text)
    assert not bad, f"lock entries without an exact pin or a sha256 hash: {bad}"


def test_torch_is_pinned_exactly_and_its_dependencies_are_locked():
    """torch sits outside the hashed lock; a loose pin would fetch a CUDA build."""
    from importlib.metadata import requires

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    torch_pins = [Requirement(p) for p in lock.pins(lock.TORCH.read_text())]
    assert torch_pins and all(r.name == "torch" for r in torch_pins)
    for req in torch_pins:
        (spec,) = req.specifier
        assert spec.operator == "==" and "*" not in spec.version, req
        assert req.marker is not None, f"{req}: say which platforms it is for"
    versions = {str(next(iter(r.specifier))).split("+")[0] for r in torch_pins}
    assert len(versions) == 1, f"one torch release on every platform: {versions}"
    needed = requires("torch") or []  # `make venv` installs torch: absent is a failure
    pinned = lock.pinned_names((ROOT / "requirements.lock").read_text())
    deps = [Requirement(r) for r in needed]
    missing = [
        d.name
        for d in deps
        if d.marker is None and canonicalize_name(d.name) not in pinned
    ]
    assert not missing, f"torch needs packages the lock does not pin: {missing}"


def test_lock_checks_catch_a_missing_hash_and_a_loose_pin():
    text = "\n".join(
        ["a==1.0 \\", "    --hash=sha256:00", "b==2.0", "    # via a"]
        + ["c>=1 \\", "    --hash=sha256:11"]
    )
    assert lock.unpinned_or_unhashed(text) == ["b==2.0", "c>=1"]
    assert lock.pinned_names(text) == {"a", "b", "c"}


@pytest.mark.parametrize(
    "command",
    [["check", "--output-format", "concise"], ["format", "--check"]],
    ids=["check", "format"],
)
def test_ruff_passes_on_the_repository(command):
    done = subprocess.run(
        [executable("ruff"), *command, "--no-cache", "."],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, (
        f"`ruff {command[0]}` fails (fix it, or run `ruff format FILE`):\n"
        + (done.stdout + done.stderr)[-4000:]
    )


def test_chapter_map_in_contributing_matches_the_notebooks():
    text = (ROOT / "CONTRIBUTING.md").read_text()
    assert CHAPTER_MAP_START in text and CHAPTER_MAP_END in text
    assert CHAPTER_MAP_HEADER in text, "the chapter map's header row changed"
    rows = {row[1]: row for row in chapter_map(text) if len(row) > 1}
    expected = [chapter_row(path) for path in toc_notebooks()]
    fixes = []
    for row in expected:
        if rows.get(row[1]) != row:
            verb = "replace the row" if row[1] in rows else "add a row"
            fixes.append(f"{verb} for {row[1]} with:\n{format_row(row)}")
    wanted = {row[1] for row in expected}
    fixes += [f"remove the row for {name}" for name in rows if name not in wanted]
    order = [row[1] for row in chapter_map(text)]
    if not fixes and order != [row[1] for row in expected]:
        fixes.append("put the rows in _toc.yml order")
    assert not fixes, "CONTRIBUTING.md chapter map drifted:\n" + "\n".join(fixes)


def test_binder_installs_the_course_package():
    post_build = (ROOT / "binder" / "postBuild").read_text()
    assert "pip install" in post_build and "--no-deps" in post_build


def test_ci_runs_the_readme_test_command():
    """.ci/run runs the README's test command, and the CI workflow runs .ci/run."""
    import yaml

    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in readme and "make book" in readme
    assert re.search(r'^make test "\$@"$', ci, re.M), (
        ".ci/run must call the README's test command, passing its arguments on"
    )
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text())
    commands = [
        step.get("run", "").strip()
        for job in workflow["jobs"].values()
        for step in job["steps"]
    ]
    assert any(re.match(r"bash \.ci/run\b", c) for c in commands), (
        ".github/workflows/ci.yml must run .ci/run, the one definition of a CI run"
    )


def test_no_generated_state_is_tracked():
    files = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    bad = [
        f
        for f in files
        if re.search(r"(\.db|\.pkl|\.joblib|\.onnx|mlruns/|\.workspace/)", f)
    ]
    assert not bad, f"generated state tracked in git: {bad}"
