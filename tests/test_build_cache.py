"""The build cache and .dockerignore, without a Docker engine (chapter 6)."""

from __future__ import annotations

from mlops_course.build_cache import is_ignored, rebuild_plan
from mlops_course.workspace import course_root

ROOT = course_root()
IGNORE = (ROOT / ".dockerignore").read_text()

#: Paths of a course checkout that no image should receive, and paths the images copy.
MUST_IGNORE = [
    ".git/HEAD",
    ".venv/bin/python",
    ".workspace/02_data_versioning/params.yaml",
    "_build/html/index.html",
    ".env",
    "model.pkl",
    "models/model.joblib",
    "artifacts/model.onnx",
    "registry.db",
    "data/applications.parquet",
    "mlruns/0/meta.yaml",
    "notebooks/.ipynb_checkpoints/x.ipynb",
    "src/mlops_course/__pycache__/data.cpython-311.pyc",
]
MUST_KEEP = [
    "requirements.lock",
    "pyproject.toml",
    "README.md",
    "src/mlops_course/x.py",
]


def test_the_course_dockerignore_keeps_out_state_and_keeps_build_inputs():
    assert [p for p in MUST_IGNORE if not is_ignored(p, IGNORE)] == []
    assert [p for p in MUST_KEEP if is_ignored(p, IGNORE)] == []


# --- .dockerignore and the build cache -----------------------------------------------


def test_dockerignore_patterns_follow_docker_semantics():
    ignore = "*.pkl\n**/*.onnx\nmodels\n!models/README.md\n/data/\n"
    assert is_ignored("model.pkl", ignore)
    assert not is_ignored("sub/model.pkl", ignore)  # `*` does not cross folders
    assert is_ignored("a/b/model.onnx", ignore) and is_ignored("model.onnx", ignore)
    assert is_ignored("models/m.joblib", ignore)
    assert not is_ignored("models/README.md", ignore)  # exception re-includes it
    assert is_ignored("data/x.csv", ignore)
    assert not is_ignored("src/mlops_course/data.py", ignore)


def test_code_change_reuses_the_dependency_layer():
    serve = (ROOT / "docker" / "serve.Dockerfile").read_text()
    plan = rebuild_plan(serve, ["src/mlops_course/serving/app.py"], dockerignore=IGNORE)
    by_step = {r["step"]: r["status"] for r in plan}
    install = next(s for s in by_step if s.startswith("RUN pip install -c"))
    assert by_step[install] == "cached"
    assert by_step["COPY src/ src/"] == "rebuilt"
    assert by_step["COPY --from=builder /opt/venv /opt/venv"] == "rebuilt"
    lock_plan = rebuild_plan(serve, ["requirements.lock"], dockerignore=IGNORE)
    assert {r["step"]: r["status"] for r in lock_plan}[install] == "rebuilt"


def test_ignored_files_rebuild_nothing_and_bad_order_reinstalls():
    serve = (ROOT / "docker" / "serve.Dockerfile").read_text()
    plan = rebuild_plan(
        serve, ["notebooks/01_notebook_model.ipynb"], dockerignore=IGNORE
    )
    assert {r["status"] for r in plan} == {"cached"}
    bad = "FROM python:3.11.7-slim\nCOPY . .\nRUN pip install -r requirements.lock\n"
    statuses = [r["status"] for r in rebuild_plan(bad, ["src/app.py"])]
    assert statuses == ["cached", "rebuilt", "rebuilt"]
