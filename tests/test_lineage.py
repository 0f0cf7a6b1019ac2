"""OpenLineage events around a DVC stage: what they name, FAIL runs, the graph."""

from __future__ import annotations

import hashlib
import subprocess
import sys

import pytest
import yaml
from openlineage.client import OpenLineageClient
from openlineage.client.transport.file import FileConfig, FileTransport

from mlops_course import lineage

WRITE = "from pathlib import Path; Path('out/model.txt').write_text('fitted')"


@pytest.fixture
def project(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "out").mkdir()
    (tmp_path / "data" / "train.csv").write_text("a,b\n1,2\n")
    stages = {
        "train": {
            "cmd": "python src/train.py",
            "deps": ["src/train.py", "data/train.csv"],
            "params": ["train"],
            "outs": ["out/model.txt"],
            "metrics": [{"metrics.json": {"cache": False}}],
        }
    }
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump({"stages": stages}))
    params = {"train": {"C": 0.5, "seed": 7}, "data": {"n_rows": 10}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    return tmp_path


def file_client(path) -> OpenLineageClient:
    return OpenLineageClient(
        transport=FileTransport(FileConfig(log_file_path=str(path), append=True))
    )


def test_stage_io_separates_code_from_data(project):
    inputs, outputs, sections = lineage.stage_io(project, "train")
    assert inputs == ["data/train.csv"]
    assert outputs == ["out/model.txt", "metrics.json"]
    assert sections == ["train"]
    with pytest.raises(KeyError, match="no stage 'serve'.*'train'"):
        lineage.stage_io(project, "serve")


def test_a_stage_run_emits_start_then_complete_with_versions(project, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    events_file = project / "events.jsonl"
    status = lineage.run_stage(
        "train",
        [sys.executable, "-c", WRITE],
        root=project,
        client=file_client(events_file),
    )
    assert status == 0
    start, complete = lineage.read_events(events_file)
    assert [start["eventType"], complete["eventType"]] == ["START", "COMPLETE"]
    assert start["run"]["runId"] == complete["run"]["runId"]
    assert (complete["job"]["namespace"], complete["job"]["name"]) == (
        "kestrel-credit",
        "train",
    )
    data_md5 = hashlib.md5(b"a,b\n1,2\n").hexdigest()
    assert lineage.dataset_versions(complete, "inputs") == {"data/train.csv": data_md5}
    assert lineage.dataset_versions(complete, "outputs") == {
        "out/model.txt": hashlib.md5(b"fitted").hexdigest(),
        "metrics.json": None,  # declared but not written: no version
    }
    assert lineage.dataset_versions(start, "outputs") == {}  # nothing written yet
    facets = complete["run"]["facets"]
    params = {p["key"]: p["value"] for p in facets["executionParameters"]["parameters"]}
    assert params == {"train.C": "0.5", "train.seed": "7"}  # only the stage's section
    env = {
        v["name"]: v["value"]
        for v in facets["environmentVariables"]["environmentVariables"]
    }
    assert env["OMP_NUM_THREADS"] == "1"


def test_the_events_folder_is_made_when_missing(project):
    events_file = project / "not-yet" / "events.jsonl"  # a fresh clone lacks it
    assert not events_file.parent.exists()
    command = [sys.executable, "-c", WRITE]
    client = file_client(events_file)
    assert lineage.run_stage("train", command, root=project, client=client) == 0
    assert len(lineage.read_events(events_file)) == 2


def test_a_failing_stage_emits_fail_and_returns_its_status(project):
    events_file = project / "events.jsonl"
    status = lineage.run_stage(
        "train",
        [sys.executable, "-c", "raise SystemExit(3)"],
        root=project,
        client=file_client(events_file),
    )
    assert status == 3
    start, failed = lineage.read_events(events_file)
    assert failed["eventType"] == "FAIL"
    assert "exited with 3" in failed["run"]["facets"]["errorMessage"]["message"]
    assert lineage.lineage_graph([start, failed]).number_of_nodes() == 0


def test_the_graph_links_datasets_through_jobs():
    def event(job, inputs, outputs, state="COMPLETE"):
        def side(names):
            return [
                {"name": n, "facets": {"version": {"datasetVersion": f"md5-{n}"}}}
                for n in names
            ]

        return {
            "eventType": state,
            "job": {"name": job},
            "inputs": side(inputs),
            "outputs": side(outputs),
        }

    graph = lineage.lineage_graph(
        [
            event("prepare", ["raw"], ["train", "test"]),
            event("train", ["train"], ["model"]),
            event("train", ["train"], ["model"]),
            event("evaluate", ["model", "test"], ["metrics"], state="FAIL"),
        ]
    )
    import networkx as nx

    path = nx.shortest_path(graph, ("dataset", "raw"), ("dataset", "model"))
    assert path == [
        ("dataset", "raw"),
        ("job", "prepare"),
        ("dataset", "train"),
        ("job", "train"),
        ("dataset", "model"),
    ]
    assert graph.nodes[("job", "train")]["runs"] == 2
    assert graph.nodes[("dataset", "model")]["version"] == "md5-model"
    assert ("job", "evaluate") not in graph  # its run failed


def test_usage_errors():
    assert lineage.main(["train"]) == 2
    assert lineage.main(["train", "python", "x.py"]) == 2
    with pytest.raises(ValueError, match="no command"):
        lineage.run_stage("train", [])


@pytest.mark.slow
def test_the_command_line_reads_openlineage_yml(project):
    config = {"transport": {"type": "file", "log_file_path": "events.jsonl"}}
    config["transport"]["append"] = True
    (project / "openlineage.yml").write_text(yaml.safe_dump(config))
    done = subprocess.run(
        [sys.executable, "-m", "mlops_course.lineage", "train", "--"]
        + [sys.executable, "-c", WRITE],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    states = [e["eventType"] for e in lineage.read_events(project / "events.jsonl")]
    assert states == ["START", "COMPLETE"]
