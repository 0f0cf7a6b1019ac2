"""OpenLineage events for the course's DVC pipeline, and the graph they draw (ch. 18).

OpenLineage is an open standard for lineage: a job's run emits a ``START``
event and then a ``COMPLETE`` (or ``FAIL``) event naming the datasets it read
and wrote. Marquez, DataHub, OpenMetadata and the cloud catalogs all read the
same JSON. The course writes the events with ``openlineage-python``'s
``FileTransport`` to a local JSON-lines file (configured in the project's
``openlineage.yml``, the client's own configuration file); a team points the
same file at an HTTP endpoint instead.

Chapter 18 builds one event by hand first; this module wraps a DVC stage so
that every stage of the pipeline emits its events::

    python -m mlops_course.lineage train -- python src/train.py

The stage's inputs and outputs are read from ``dvc.yaml`` (its ``deps`` that
are not code, its ``outs`` and ``metrics``); every file gets a
``version`` facet holding its md5, the hash DVC records in ``dvc.lock``, so an
event can be matched to a DVC version of the data. The run also records the
stage's parameters (``params.yaml``) and the thread and seed settings of its
environment (:data:`RECORDED_ENV`): the usual unlogged causes of a model that
cannot be rebuilt.

:func:`read_events` reads the file back; :func:`lineage_graph` turns the
``COMPLETE`` events into a networkx graph (dataset -> job -> dataset).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

#: Identifies the code that wrote an event (OpenLineage's ``producer`` field, a
#: URI). A URN, not the repository's address: that is set once, in _config.yml.
PRODUCER = "urn:mlops-course:mlops_course.lineage"
#: The job namespace of the course's pipeline (one per team or scheduler).
JOB_NAMESPACE = "kestrel-credit"
#: Files on a local disk: OpenLineage's naming convention for a file system.
FILE_NAMESPACE = "file"
#: Environment variables each run records: thread counts and hash seed.
RECORDED_ENV = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "PYTHONHASHSEED",
)
#: A dependency with one of these suffixes is code, not data.
CODE_SUFFIXES = (".py",)


def file_md5(path: str | Path) -> str:
    """md5 of a file's bytes (what DVC 3 records in ``dvc.lock``)."""
    import hashlib

    with Path(path).open("rb") as handle:
        return hashlib.file_digest(handle, "md5").hexdigest()


def stage_io(root: str | Path, stage: str) -> tuple[list[str], list[str], list[str]]:
    """``(data inputs, outputs, params sections)`` of ``stage`` in ``root/dvc.yaml``."""
    stages = yaml.safe_load((Path(root) / "dvc.yaml").read_text())["stages"]
    if stage not in stages:
        raise KeyError(f"no stage {stage!r} in dvc.yaml; stages: {sorted(stages)}")
    spec = stages[stage]

    def paths(entries: Iterable) -> list[str]:
        out = []
        for entry in entries or []:
            out.extend(entry if isinstance(entry, dict) else [entry])
        return [str(p) for p in out]

    inputs = [p for p in paths(spec.get("deps")) if not p.endswith(CODE_SUFFIXES)]
    outputs = paths(spec.get("outs")) + paths(spec.get("metrics"))
    return inputs, outputs, [str(p) for p in paths(spec.get("params"))]


def _datasets(root: Path, names: Sequence[str], kind):
    from openlineage.client.facet_v2 import dataset_version_dataset

    datasets = []
    for name in names:
        facets = {}
        if (root / name).is_file():
            version = dataset_version_dataset.DatasetVersionDatasetFacet(
                datasetVersion=file_md5(root / name)
            )
            facets["version"] = version
        datasets.append(kind(namespace=FILE_NAMESPACE, name=name, facets=facets))
    return datasets


def _run_facets(root: Path, sections: Sequence[str]) -> dict:
    from openlineage.client.facet_v2 import (
        environment_variables_run,
        execution_parameters_run,
    )

    params_file = root / "params.yaml"
    params = yaml.safe_load(params_file.read_text()) if params_file.is_file() else {}
    values = []
    for section in sections:
        for key, value in (params or {}).get(section, {}).items():
            values.append(
                execution_parameters_run.ExecutionParameter(
                    key=f"{section}.{key}", value=str(value)
                )
            )
    variables = [
        environment_variables_run.EnvironmentVariable(name=n, value=os.environ[n])
        for n in RECORDED_ENV
        if n in os.environ
    ]
    return {
        "executionParameters": execution_parameters_run.ExecutionParametersRunFacet(
            parameters=values
        ),
        "environmentVariables": (
            environment_variables_run.EnvironmentVariablesRunFacet(
                environmentVariables=variables
            )
        ),
    }


def _make_room(client, root: Path) -> None:
    """Create the folder of a local FileTransport's file (a fresh clone lacks it)."""
    config = getattr(client.transport, "config", None)
    path = getattr(config, "log_file_path", None)
    if isinstance(path, str) and "://" not in path:
        (root / path).parent.mkdir(parents=True, exist_ok=True)


def now() -> str:
    """The current time as OpenLineage wants it (ISO 8601 with the zone)."""
    return datetime.now(UTC).isoformat()


def run_stage(
    stage: str,
    command: Sequence[str],
    *,
    root: str | Path = ".",
    client=None,
    namespace: str = JOB_NAMESPACE,
) -> int:
    """Run ``command`` as DVC stage ``stage``, emitting START then COMPLETE or FAIL.

    ``client`` defaults to ``OpenLineageClient()``, configured by
    ``openlineage.yml`` in the working directory (or ``OPENLINEAGE_CONFIG``).
    Returns the command's exit status; its output goes where ours goes.
    """
    from openlineage.client import OpenLineageClient
    from openlineage.client.event_v2 import (
        InputDataset,
        Job,
        OutputDataset,
        Run,
        RunEvent,
        RunState,
    )
    from openlineage.client.facet_v2 import error_message_run
    from openlineage.client.uuid import generate_new_uuid

    if not command:
        raise ValueError("no command to run after the stage name")
    root = Path(root)
    client = client or OpenLineageClient()
    _make_room(client, root)
    inputs, outputs, sections = stage_io(root, stage)
    run_id = str(generate_new_uuid())
    job = Job(namespace=namespace, name=stage)
    facets = _run_facets(root, sections)
    client.emit(
        RunEvent(
            eventType=RunState.START,
            eventTime=now(),
            run=Run(runId=run_id, facets=facets),
            job=job,
            inputs=_datasets(root, inputs, InputDataset),
            producer=PRODUCER,
        )
    )
    done = subprocess.run(list(command), cwd=root, check=False)
    if done.returncode == 0:
        state = RunState.COMPLETE
    else:
        state = RunState.FAIL
        facets = {
            **facets,
            "errorMessage": error_message_run.ErrorMessageRunFacet(
                message=f"`{' '.join(command)}` exited with {done.returncode}",
                programmingLanguage="python",
            ),
        }
    client.emit(
        RunEvent(
            eventType=state,
            eventTime=now(),
            run=Run(runId=run_id, facets=facets),
            job=job,
            inputs=_datasets(root, inputs, InputDataset),
            outputs=_datasets(root, outputs, OutputDataset),
            producer=PRODUCER,
        )
    )
    return done.returncode


def read_events(path: str | Path) -> list[dict[str, Any]]:
    """The events of a JSON-lines file, in the order they were written."""
    return [
        json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()
    ]


def dataset_versions(event: Mapping[str, Any], side: str) -> dict[str, str | None]:
    """``{dataset name: md5 or None}`` of an event's ``inputs`` or ``outputs``."""
    return {
        d["name"]: d.get("facets", {}).get("version", {}).get("datasetVersion")
        for d in event.get(side) or []
    }


def lineage_graph(events: Iterable[Mapping[str, Any]]):
    """A networkx DiGraph of the COMPLETE events: dataset -> job -> dataset.

    Nodes are ``("dataset", name)`` and ``("job", name)``; a dataset node's
    ``version`` is the md5 the latest event saw, a job node's ``runs`` counts
    its completed runs. FAIL events are left out: a failed run produced nothing.
    """
    import networkx as nx

    graph = nx.DiGraph()
    for event in events:
        if event.get("eventType") != "COMPLETE":
            continue
        job = ("job", event["job"]["name"])
        runs = graph.nodes[job]["runs"] + 1 if job in graph else 1
        graph.add_node(job, kind="job", runs=runs)
        for side in ("inputs", "outputs"):
            for name, version in dataset_versions(event, side).items():
                node = ("dataset", name)
                graph.add_node(node, kind="dataset", version=version)
                edge = (node, job) if side == "inputs" else (job, node)
                graph.add_edge(*edge)
    return graph


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m mlops_course.lineage <stage> -- <command...>`` in the project."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) < 3 or args[1] != "--":
        print(
            "usage: python -m mlops_course.lineage <stage> -- <command...>",
            file=sys.stderr,
        )
        return 2
    return run_stage(args[0], args[2:])


if __name__ == "__main__":
    sys.exit(main())
