"""Chapter 18's exercise checks, on a right answer and on wrong ones."""

import json

import pandas as pd
import pytest

from mlops_course import audit, lineage
from mlops_course.exercises import ch18


@pytest.fixture
def audit_log(tmp_path):
    log = audit.AuditLog(tmp_path / "audit.jsonl")
    log.append("register", version="1", by="ci", why="pipeline run")
    log.append("promote", alias="champion", version="1", by="r.osei", why="first")
    log.append("promote", alias="champion", version="2", by="r.osei", why="approved")
    log.append("rollback", alias="champion", version="1", by="j.marsh", why="INC-1")
    return log


def champion_moves(log):
    moves = [e for e in log.entries() if e.get("alias") == "champion"]
    return pd.DataFrame(moves)[["seq", "action", "version", "by", "why"]]


def test_champion_history_accepts_every_move_from_the_verified_log(audit_log):
    fb = ch18.champion_history(
        champion_moves(audit_log), audit_log=audit_log, head=audit_log.head()
    )
    assert fb.ok is True, fb.message


def test_champion_history_refuses_the_registry_s_current_champion_only(audit_log):
    current = champion_moves(audit_log).tail(1)
    fb = ch18.champion_history(current, audit_log=audit_log, head=audit_log.head())
    assert fb.ok is False
    assert fb.message.startswith("version(s) 2 were champion too")


def test_champion_history_refuses_an_answer_without_who_and_why(audit_log):
    versions = champion_moves(audit_log)[["version"]]
    fb = ch18.champion_history(versions, audit_log=audit_log, head=audit_log.head())
    assert "your table has no by, why" in fb.message


def test_champion_history_refuses_a_log_that_does_not_verify(audit_log):
    head = audit_log.head()
    lines = audit_log.path.read_text().splitlines()
    entry = json.loads(lines[2])
    entry["by"] = "someone else"
    lines[2] = json.dumps(entry)
    audit_log.path.write_text("\n".join(lines) + "\n")
    fb = ch18.champion_history([], audit_log=audit_log, head=head)
    assert fb.ok is False
    assert "an answer read from it proves nothing" in fb.message


def event(job, inputs, outputs):
    def side(names):
        return [{"name": n, "facets": {}} for n in names]

    return {
        "eventType": "COMPLETE",
        "job": {"name": job},
        "inputs": side(inputs),
        "outputs": side(outputs),
    }


@pytest.fixture(scope="module")
def graph():
    return lineage.lineage_graph(
        [
            event("prepare", ["data/applications.parquet"], ["train", "test"]),
            event("train", ["train", "params.yaml"], ["model"]),
            event("evaluate", ["model", "test"], ["metrics"]),
        ]
    )


def test_blast_radius_accepts_all_descendants(graph):
    import networkx as nx

    affected = nx.descendants(graph, ("dataset", "data/applications.parquet"))
    assert ch18.blast_radius(affected, graph=graph).ok is True
    as_text = [f"{kind}: {name}" for kind, name in affected]
    fb = ch18.blast_radius(as_text, graph=graph)
    assert fb.ok is True, fb.message


def test_blast_radius_refuses_direct_successors_and_upstream_files(graph):
    direct = set(graph.successors(("dataset", "data/applications.parquet")))
    fb = ch18.blast_radius(direct, graph=graph)
    assert fb.ok is False
    assert "not only its direct successors" in fb.message
    import networkx as nx

    everything = nx.descendants(graph, ("dataset", "data/applications.parquet"))
    fb = ch18.blast_radius(everything | {("dataset", "params.yaml")}, graph=graph)
    assert fb.message.startswith("dataset: params.yaml is not downstream")
