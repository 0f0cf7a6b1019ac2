"""Releases (tools/release.py), the appendix pages' links and the Lab settings.

The release check must pass on this tree and fail, with its reason, on a tree
whose tag, book footer or changelog disagree with pyproject.toml's version.
"""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
import yaml

from mlops_course.servers import serve
from tools import release
from tools.nbchecks import ROOT, toc_files

PAGES = ["book/changelog.md", "book/tool_landscape.md", "book/certifications.md"]
LAB_CONFIG = ROOT / "binder" / "jupyter-config"
ANNOUNCEMENTS = "@jupyterlab/apputils-extension:announcements"


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the four files the release check reads."""
    (tmp_path / "book").mkdir()
    (tmp_path / release.PACKAGE_INIT).parent.mkdir(parents=True)
    for name in [
        "pyproject.toml",
        "_config.yml",
        "book/changelog.md",
        release.PACKAGE_INIT,
    ]:
        shutil.copy(ROOT / name, tmp_path / name)
    return tmp_path


def bump(root: Path, version: str) -> None:
    path = root / "pyproject.toml"
    text = re.sub(r'(?m)^version = ".*"$', f'version = "{version}"', path.read_text())
    path.write_text(text)


def test_this_tree_is_releasable_at_its_own_version():
    version = release.project_version()
    assert release.problems(f"v{version}") == []
    assert release.book_version() == version
    entries = release.changelog_entries((ROOT / "book/changelog.md").read_text())
    assert entries[0][0] == version


def test_every_chapter_of_the_toc_has_a_changelog_line():
    """Each chapter is named in the entry of the release that added or changed it."""
    text = (ROOT / "book/changelog.md").read_text()
    newest = release.changelog_entries(text)[0][0]
    assert newest == release.project_version()
    toc = (ROOT / "_toc.yml").read_text()
    chapters = re.findall(r"file: (notebooks/\S+)", toc)
    assert chapters
    for chapter in chapters:
        assert f"../{chapter}>" in text, f"no changelog line for {chapter}"


def release_tags() -> list[str]:
    """The clone's ``v*`` tags ([] outside a git clone or in one without tags)."""
    done = subprocess.run(
        ["git", "tag", "--list", "v*"], cwd=ROOT, capture_output=True, text=True
    )
    return done.stdout.split() if done.returncode == 0 else []


def test_every_release_tag_has_its_changelog_entry_and_version():
    """A tag names the version its tree says, and the changelog keeps its entry."""
    tags = release_tags()
    if not tags:
        pytest.skip("this clone has no v* tags (a shallow or tagless clone)")
    text = (ROOT / "book/changelog.md").read_text()
    listed = {version for version, _ in release.changelog_entries(text)}
    for tag in tags:
        pyproject = subprocess.run(
            ["git", "show", f"{tag}:pyproject.toml"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        version = re.search(r'(?m)^version = "(.*)"$', pyproject).group(1)
        assert tag == f"v{version}", f"tag {tag} is on a tree at version {version}"
        assert version in listed, f"no changelog entry for {tag}"
        assert release.entry_text(text, version), f"empty changelog entry for {tag}"


def test_a_tag_that_is_not_the_version_is_refused(tree):
    version = release.project_version(tree)
    assert release.problems(f"v{version}", tree) == []
    assert release.problems("v9.9.9", tree) == [
        f"tag v9.9.9 does not name pyproject.toml's version v{version}"
    ]


def test_a_version_without_a_changelog_entry_or_footer_is_refused(tree):
    bump(tree, "9.9.9")
    found = release.problems("v9.9.9", tree)
    assert any("the book shows version" in p for p in found), found
    assert any("newest entry is" in p and "not 9.9.9" in p for p in found), found
    assert "mlops_course.__version__ is " in "".join(found), found  # not bumped


def test_an_empty_or_misordered_changelog_is_refused(tree):
    path = tree / "book" / "changelog.md"
    text = path.read_text()
    version = release.project_version(tree)
    head = re.search(rf"^## {re.escape(version)} .*$", text, re.M).group(0)
    path.write_text(f"# Changelog\n\n{head}\n\n## 0.0.1 (2020-01-01)\n\nold\n")
    assert release.problems(None, tree) == [
        f"the changelog entry for {version} is empty"
    ]
    path.write_text(f"# Changelog\n\n## 0.0.1 (2020-01-01)\n\nold\n\n{head}\n\nnew\n")
    found = release.problems(None, tree)
    assert any("newest entry is 0.0.1" in p for p in found), found
    assert "changelog entries are not newest first, one per version" in found


def test_pin_binder_points_the_launch_buttons_at_the_tag(tree):
    before = yaml.safe_load((tree / "_config.yml").read_text())
    assert before["repository"]["branch"] == "main"
    release.pin_binder("v1.2.3", tree)
    after = yaml.safe_load((tree / "_config.yml").read_text())
    assert after["repository"]["branch"] == "v1.2.3"
    before["repository"]["branch"] = "v1.2.3"
    assert after == before  # nothing else changed
    assert "# Binder opens this ref." in (tree / "_config.yml").read_text()


def test_the_command_line_says_why_and_exits_1():
    done = subprocess.run(
        [sys.executable, "-m", "tools.release", "check", "v0.0.0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1
    assert "tag v0.0.0 does not name pyproject.toml's version" in done.stderr
    notes = subprocess.run(
        [
            sys.executable,
            "-m",
            "tools.release",
            "notes",
            f"v{release.project_version()}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    text = (ROOT / "book/changelog.md").read_text()
    assert notes.strip() == release.entry_text(text, release.project_version()).strip()
    first_line = text.split(f"## {release.project_version()} (", 1)[1].split("\n")[2]
    assert notes.startswith(first_line)  # the entry's own text, not its heading


@pytest.mark.parametrize("page", PAGES)
def test_page_is_in_the_toc(page):
    toc = (ROOT / "_toc.yml").read_text()
    assert f"file: {page.removesuffix('.md')}\n" in toc


@pytest.mark.parametrize("page", PAGES)
def test_every_internal_link_of_the_page_resolves(page):
    """{doc} targets are files of the book; relative Markdown links are files."""
    path = ROOT / page
    text = path.read_text()
    docs = re.findall(r"\{doc\}`(?:[^`<]*<)?([^`>]+)>?`", text)
    links = [
        target
        for target in re.findall(r"\]\(([^)\s]+)\)", text)
        if not re.match(r"[a-z]+:", target) and not target.startswith("#")
    ]
    assert docs, f"{page} links to no chapter"
    missing = [
        doc
        for doc in docs
        if not any(
            (path.parent / f"{doc}{suffix}").exists() for suffix in (".md", ".ipynb")
        )
    ]
    missing += [link for link in links if not (path.parent / link).exists()]
    assert not missing, f"{page}: {missing}"


@pytest.mark.parametrize("page", PAGES)
def test_external_links_are_https(page):
    text = (ROOT / page).read_text()
    assert not re.findall(r"\]\((http:[^)]*)\)", text)


def test_every_chapter_is_mapped_to_an_exam_domain():
    """A chapter added to the toc must find its place on the certification map."""
    text = (ROOT / "book" / "certifications.md").read_text()
    docs = set(re.findall(r"\{doc\}`(?:[^`<]*<)?([^`>]+)>?`", text))
    chapters = [f for f in toc_files() if f.startswith("notebooks/")]
    assert chapters
    assert [c for c in chapters if f"../{c}" not in docs] == []


#: Tools the landscape page says run here, and the distribution the lock pins
#: for each; and tools it says are not installed. A row that falls behind the
#: lock (a tool added, or removed) fails here.
RUNS_HERE = {
    "DVC": "dvc",
    "MLflow": "mlflow",
    "Weights & Biases": "wandb",
    "Prefect": "prefect",
    "Kubeflow Pipelines": "kfp",
    "Feast": "feast",
    "BentoML": "bentoml",
    "Evidently AI": "evidently",
    "Ray": "ray",
    "ONNX Runtime": "onnxruntime",
    "skops": "skops",
    "pandera": "pandera",
    "Prometheus": "prometheus-client",
    "OpenLineage": "openlineage-python",
    "fairlearn": "fairlearn",
    "copier": "copier",
}
NOT_INSTALLED = {
    "TensorFlow / Keras": "tensorflow",
    "Delta Lake": "deltalake",
    "Airflow": "apache-airflow",
}


def landscape_rows() -> dict[str, tuple[str, str]]:
    """Tool -> (where it runs, what stands in), from every table of the tool
    landscape page."""
    rows = {}
    for line in (ROOT / "book" / "tool_landscape.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| ") and len(cells) == 3 and cells[0] != "tool":
            rows[cells[0]] = (cells[1], cells[2])
    return rows


def pinned() -> set[str]:
    lock = (ROOT / "requirements.lock").read_text()
    return {m.lower() for m in re.findall(r"^([A-Za-z0-9_.-]+)==", lock, re.M)}


def test_the_tool_landscape_agrees_with_the_lock():
    rows, lock = landscape_rows(), pinned()
    for tool, dist in RUNS_HERE.items():
        assert tool in rows, f"no row for {tool}"
        assert dist in lock, f"{tool}: the page says it runs; the lock has no {dist}"
        stand_in = rows[tool][1]
        assert not stand_in.startswith("not installed"), (
            f"{tool} is pinned in the lock, but its row says: {stand_in}"
        )
    for tool, dist in NOT_INSTALLED.items():
        assert tool in rows, f"no row for {tool}"
        assert dist not in lock, f"{tool} is pinned now; update its row"
        assert rows[tool][1].startswith("not installed"), tool


def test_the_landscape_names_where_each_chapter_tool_runs():
    """The Kubernetes pieces of chapter 19 have rows that point at it."""
    rows = landscape_rows()
    for tool in ["Ray", "KubeRay", "Kueue", "Kubeflow (the platform)"]:
        assert "19_distributed_training_ray" in rows[tool][0], tool


def test_lab_settings_disable_the_news_announcements():
    config = json.loads((LAB_CONFIG / "labconfig" / "page_config.json").read_text())
    assert config["disabledExtensions"] == {ANNOUNCEMENTS: True}
    makefile = (ROOT / "Makefile").read_text()
    recipe = makefile.split("\nlab: venv\n", 1)[1].split("\n\n", 1)[0]
    assert "LAB_CONFIG := $(abspath binder/jupyter-config)" in makefile
    assert 'JUPYTER_CONFIG_PATH="$(LAB_CONFIG)' in recipe
    assert (
        "binder/jupyter-config/labconfig/page_config.json"
        in (ROOT / "binder" / "postBuild").read_text()
    )


def lab_page_config(env: dict[str, str]) -> dict:
    """Start JupyterLab on loopback and read the page config /lab sends."""
    jupyter = Path(sys.executable).parent / "jupyter"
    args = [
        str(jupyter), "lab", "--no-browser", "--ServerApp.ip=127.0.0.1",
        "--ServerApp.port={port}", "--IdentityProvider.token=",
        "--ServerApp.password=", f"--ServerApp.root_dir={ROOT}",
        "--allow-root",  # CI containers and this course's machines run as root
    ]  # fmt: skip
    with serve(args, health="/api/status", env=env, timeout=120) as lab:
        page = urllib.request.urlopen(lab.url + "/lab", timeout=30).read().decode()
    data = re.search(
        r'<script id="jupyter-config-data" type="application/json">(.*?)</script>',
        page,
        re.S,
    )
    return json.loads(data.group(1))


@pytest.mark.slow
def test_lab_started_like_make_lab_has_no_news_plugin(tmp_path):
    """The same Lab without the course's config keeps the plugin (the control)."""
    home = {"JUPYTER_CONFIG_DIR": str(tmp_path / "user"), "HOME": str(tmp_path)}
    course = lab_page_config({**home, "JUPYTER_CONFIG_PATH": str(LAB_CONFIG)})
    assert ANNOUNCEMENTS in course["disabledExtensions"]
    plain = lab_page_config({**home, "JUPYTER_CONFIG_PATH": ""})
    assert ANNOUNCEMENTS not in plain["disabledExtensions"]


def config_fields(module: Path, suffix: str) -> tuple[set[str], set[str]]:
    """Fields and required fields of the ``*{suffix}`` pydantic class in ``module``,
    read from the installed Feast source (importing it needs cloud extras)."""
    tree = ast.parse(module.read_text())
    (cls,) = [
        node
        for node in tree.body
        if isinstance(node, ast.ClassDef) and node.name.endswith(suffix)
    ]
    fields, required = set(), set()
    for node in cls.body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            fields.add(node.target.id)
            optional = "Optional" in ast.unparse(node.annotation)
            if node.value is None and not optional:
                required.add(node.target.id)
    return fields, required


def feast_blocks() -> list[dict]:
    text = (ROOT / "book" / "tool_landscape.md").read_text()
    blocks = re.findall(r"```yaml\n(.*?)```", text, re.S)
    return [yaml.safe_load(b) for b in blocks if "provider:" in b]


def test_the_cloud_feature_store_configs_name_real_feast_keys():
    """Every key of the GCP and AWS feature_store.yaml blocks exists in the Feast
    release the lock pins, and every key Feast requires is there."""
    import feast

    infra = Path(feast.__file__).parent / "infra"
    blocks = feast_blocks()
    assert sorted(b["provider"] for b in blocks) == ["aws", "gcp"]
    for block in blocks:
        assert block["entity_key_serialization_version"] == 3
        for kind, suffix in [
            ("offline_store", "OfflineStoreConfig"),
            ("online_store", "OnlineStoreConfig"),
        ]:
            store = dict(block[kind])
            module = infra / f"{kind}s" / f"{store.pop('type')}.py"
            fields, required = config_fields(module, suffix)
            assert set(store) <= fields, (module.name, set(store) - fields)
            assert required <= set(store), (module.name, required - set(store))


def test_the_key_check_refuses_a_misspelt_or_missing_key():
    import feast

    redshift = Path(feast.__file__).parent / "infra/offline_stores/redshift.py"
    fields, required = config_fields(redshift, "OfflineStoreConfig")
    assert "s3_staging_dir" not in fields  # a plausible misspelling
    assert {"region", "database", "s3_staging_location", "iam_role"} <= required
    assert "cluster_id" not in required  # serverless uses a workgroup instead


def test_the_mlflow_uris_on_the_page_are_the_forms_mlflow_recognises():
    from mlflow.utils import uri

    text = (ROOT / "book" / "tool_landscape.md").read_text()
    assert 'set_tracking_uri("databricks")' in text and uri.is_databricks_uri(
        "databricks"
    )
    assert uri.is_databricks_uri("databricks://profile")
    assert f'set_registry_uri("{uri._DATABRICKS_UNITY_CATALOG_SCHEME}")' in text
    arn = re.search(r"`(arn:aws:sagemaker:[^`]*mlflow-tracking-server/[^`]*)`", text)
    example = (
        arn.group(1)
        .replace("<region>", "eu-west-1")
        .replace("<account>", "123456789012")
    )
    assert uri.is_sagemaker_mlflow_tracking_uri(example.replace("<name>", "course"))
    assert not uri.is_sagemaker_mlflow_tracking_uri("http://127.0.0.1:5000")
