"""Checks for chapter 18's exercises (the audit log, the lineage graph)."""

from __future__ import annotations

from collections.abc import Collection

import networkx as nx
import pandas as pd

from mlops_course import audit
from mlops_course.exercises import Wrong, exercise, expect, expect_type

BROKEN = ("dataset", "data/applications.parquet")  # the exercise's buggy file


@exercise("ex-18-1")
def champion_history(moves, *, audit_log, head) -> str:
    """Every champion move, with who made it and why, from the verified audit log."""
    expect_type(moves, (pd.DataFrame, list), "a table (or list) of the champion moves")
    try:
        audit.verify(audit_log.path, head=head)
    except audit.TamperedError as error:
        raise Wrong(
            f"the audit log does not verify ({error}): an answer read from it "
            "proves nothing"
        ) from None
    got = pd.DataFrame(moves)
    missing = [c for c in ("version", "by", "why") if c not in got.columns]
    expect(
        not missing,
        f"your table has no {', '.join(missing)}: the auditor asks which "
        "versions, who put them there and why",
    )
    want = [e for e in audit.read(audit_log.path) if e.get("alias") == "champion"]
    versions = {str(e["version"]) for e in want}
    answered = {str(v) for v in got["version"]}
    expect(
        versions <= answered,
        f"version(s) {', '.join(sorted(versions - answered))} were champion too: "
        "keep every entry of the log that moved the champion alias (promotions "
        "and rollbacks), not only the registry's current champion",
    )
    expect(
        answered <= versions,
        f"version(s) {', '.join(sorted(answered - versions))} never held the "
        "champion alias: keep only the entries whose alias is champion",
    )
    expect(
        len(got) == len(want),
        f"{len(got)} rows for {len(want)} moves of the champion alias: one row "
        "per move, in the log's order",
    )
    pairs = {(str(e["version"]), e["by"], e["why"]) for e in want}
    rows = {(str(r.version), r.by, r.why) for r in got.itertuples()}
    expect(rows == pairs, "the 'by' and 'why' of your rows are not the log's")
    return (
        "read from the verified log alone: every version that was champion, who "
        "moved the alias and why, rollback included"
    )


def _node(item) -> tuple[str, str]:
    if isinstance(item, str) and ": " in item:
        kind, name = item.split(": ", 1)
        return kind, name
    return tuple(item)


@exercise("ex-18-2")
def blast_radius(affected, *, graph) -> str:
    """Everything downstream of data/applications.parquet in the lineage graph."""
    expect_type(affected, Collection, "a set of graph nodes, (kind, name)")
    expect(not isinstance(affected, str), "expected a set of nodes, got one string")
    got = {_node(item) for item in affected}
    want = nx.descendants(graph, BROKEN)
    missing = sorted(want - got)
    if missing:
        raise Wrong(
            f"{len(missing)} artefact(s) downstream are missing, e.g. "
            f"{': '.join(missing[0])}: follow every path out of the file "
            "(descendants), not only its direct successors"
        )
    extra = sorted(got - want)
    if extra:
        raise Wrong(
            f"{': '.join(extra[0])} is not downstream of {BROKEN[1]}: what the bug "
            "cannot reach need not be rebuilt"
        )
    return (
        "every split, job, model, metric and registered version downstream of the "
        "file: the blast radius is a graph query"
    )
