"""Checks for chapter 2's exercises (data versioning and pipelines with DVC).

The checks read the project the learner's commands changed: ``dvc.yaml`` (the
stages, their dependencies and outputs), ``dvc.lock`` (what ``dvc repro``
recorded) and ``params.yaml``. Which stages a change makes stale, and which
``dvc repro`` runs, are recomputed from the declared graph: a stage is stale
when a file or parameter it declares changed, and it runs when it is stale or
when it depends on an output of a stage that ran.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import yaml

from mlops_course import dvc_stages
from mlops_course.exercises import exercise, expect, expect_type

TEST_FRACTION = 0.2  # ex-02-2's new prepare.test_fraction
TAMPERED = "data/prepared/test.parquet"  # the file ex-02-1 appends a byte to


def pipeline(project: Path) -> dict[str, dict]:
    """The ``stages:`` of the project's ``dvc.yaml``, in declaration order."""
    return yaml.safe_load((Path(project) / "dvc.yaml").read_text())["stages"]


def _paths(entries) -> list[str]:
    """Paths from ``deps``/``outs``/``metrics`` entries (strings or one-key dicts)."""
    return [e if isinstance(e, str) else next(iter(e)) for e in entries or []]


def outputs(stage: dict) -> list[str]:
    return _paths(stage.get("outs")) + _paths(stage.get("metrics"))


def param_keys(stage: dict) -> list[str]:
    """The ``params.yaml`` keys a stage declares (``prepare`` or ``prepare.x``)."""
    keys = []
    for entry in stage.get("params", []):
        if isinstance(entry, str):
            keys.append(entry)
        else:
            for names in entry.values():
                keys.extend(names)
    return keys


def reads_param(stage: dict, key: str) -> bool:
    return any(key == k or key.startswith(k + ".") for k in param_keys(stage))


def downstream(stages: dict[str, dict], changed: set[str]) -> list[str]:
    """The stages ``dvc repro`` runs when ``changed`` are stale: and their users."""
    ran = set(changed)
    grew = True
    while grew:
        made = {out for name in ran for out in outputs(stages[name])}
        new = {n for n, s in stages.items() if n not in ran and made & set(s["deps"])}
        ran |= new
        grew = bool(new)
    return [name for name in stages if name in ran]


def _lock(project: Path) -> dict:
    return yaml.safe_load((Path(project) / "dvc.lock").read_text())["stages"]


def locked_param(project: Path, stage: str, key: str):
    """The value of ``key`` (``prepare.test_fraction``) ``dvc.lock`` recorded."""
    recorded = _lock(project)[stage].get("params", {}).get("params.yaml", {})
    if key in recorded:
        return recorded[key]
    value = recorded
    for part in key.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _same_stages(given, expected: list[str], what: str, why: Callable) -> None:
    """Compare a list of stage names with the expected one, explaining the gap."""
    expect_type(given, (list, tuple, set, dict), f"a list of stage names ({what})")
    given = set(given)
    missing = [s for s in expected if s not in given]
    extra = sorted(given - set(expected))
    expect(not missing and not extra, why(missing, extra))


def _explain(stages, stale, what):
    """A ``why`` for :func:`_same_stages`, in terms of the declared graph."""
    ran = downstream(stages, set(stale))

    def why(missing, extra):
        parts = []
        for name in missing:
            if name in stale:
                parts.append(f"{name} declares {what}, which changed")
                continue
            made = {out for s in ran if s != name for out in outputs(stages[s])}
            feeds = [d for d in stages[name]["deps"] if d in made]
            parts.append(
                f"{name} also runs: it depends on {', '.join(feeds)}, an output "
                "of a stage that ran, whose hash changed (stages are linked by "
                "data hashes)"
            )
        for name in extra:
            if name not in stages:
                parts.append(f"there is no stage {name!r} in dvc.yaml")
            elif name in ran:
                parts.append(
                    f"{name} is not stale yet: nothing it declares has changed "
                    "until the stages before it run again"
                )
            else:
                parts.append(f"{name} does not run: nothing it depends on changed")
        return "; ".join(parts)

    return why


@exercise("ex-02-1")
def audit(audit_fn, *, project) -> str:
    """An audit of recorded against current md5 that catches a one-byte change."""
    expect(callable(audit_fn), "expected your audit function, audit(project)")
    project = Path(project)
    recorded = {
        out["path"]
        for stage in _lock(project).values()
        for out in stage.get("outs", [])
    }
    for pointer in project.glob("**/*.dvc"):
        if not pointer.is_file() or ".dvc" in pointer.relative_to(project).parts:
            continue
        folder = pointer.parent.relative_to(project)
        for out in yaml.safe_load(pointer.read_text())["outs"]:
            recorded.add((folder / out["path"]).as_posix())
    table = audit_fn(project)
    expect_type(table, pd.DataFrame, "a DataFrame with the columns path and matches")
    expect(
        {"path", "matches"} <= set(table.columns),
        f"the table needs the columns path and matches, it has {list(table.columns)}",
    )
    listed = set(table["path"].astype(str))
    missing = sorted(recorded - listed)
    expect(
        not missing,
        f"your audit does not list {', '.join(missing)}: every output in dvc.lock "
        "and every file a .dvc pointer tracks has a recorded md5",
    )
    changed = sorted(
        p for p in recorded if dvc_stages.file_md5(project / p) != _md5_of(project, p)
    )
    flagged = sorted(table.loc[~table["matches"].astype(bool), "path"])
    expect(
        flagged == changed,
        f"your audit flags {flagged or 'nothing'}, but the files whose md5 differs "
        f"from the recorded one are {changed or 'none'}",
    )
    with tempfile.TemporaryDirectory() as scratch:
        copy = Path(scratch) / project.name
        shutil.copytree(project, copy, ignore=_skip_dvc_cache)
        with (copy / TAMPERED).open("ab") as handle:
            handle.write(b"\0")
        table = audit_fn(copy)
        flagged = sorted(table.loc[~table["matches"].astype(bool), "path"])
    expect(
        flagged == [TAMPERED],
        f"after one byte appended to {TAMPERED} (in a copy of the project) your "
        f"audit flags {flagged or 'nothing'}: compare the md5 of the bytes on disk "
        "with the recorded md5, as DVC does",
    )
    return (
        "every tracked file listed, and a one-byte change caught: the same hashes "
        "dvc status compares"
    )


def _md5_of(project: Path, path: str) -> str:
    """The md5 DVC recorded for ``path`` (dvc.lock or its pointer file)."""
    for stage in _lock(project).values():
        for out in stage.get("outs", []):
            if out["path"] == path:
                return out["md5"]
    pointer = project / (path + ".dvc")
    return dvc_stages.recorded_md5(pointer)


def _skip_dvc_cache(folder: str, names: list[str]) -> list[str]:
    return ["cache", "tmp"] if Path(folder).name == ".dvc" else []


@exercise("ex-02-2")
def params_change(stale, ran, *, project) -> str:
    """After prepare.test_fraction changes: what is stale, and what repro runs."""
    project = Path(project)
    key = "prepare.test_fraction"
    value = yaml.safe_load((project / "params.yaml").read_text())["prepare"]
    expect(
        value.get("test_fraction") == TEST_FRACTION,
        f"params.yaml has {key} = {value.get('test_fraction')}: set it to "
        f"{TEST_FRACTION}",
    )
    stages = pipeline(project)
    direct = [name for name, stage in stages.items() if reads_param(stage, key)]
    why = _explain(stages, direct, key)
    _same_stages(stale, direct, "what dvc status calls stale", why)
    for name in direct:
        expect(
            locked_param(project, name, key) == TEST_FRACTION,
            f"dvc.lock still records {key} = {locked_param(project, name, key)} "
            f"for {name}: run dvc repro",
        )
    _same_stages(ran, downstream(stages, set(direct)), "what dvc repro ran", why)
    return (
        "dvc status sees only the stage that reads the changed parameter; dvc repro "
        "also runs the stages fed by its outputs"
    )


@exercise("ex-02-3")
def comment_change(stale, ran, *, project, script="src/evaluate.py") -> str:
    """After a comment changes in a stage's script: what is stale, what runs."""
    project = Path(project)
    expect(
        (project / script).read_bytes() != (dvc_stages.TEMPLATE / script).read_bytes(),
        f"{script} is the file the chapter copied, unchanged: edit a comment in it",
    )
    stages = pipeline(project)
    direct = [n for n, s in stages.items() if script in s["deps"]]
    why = _explain(stages, direct, script)
    _same_stages(stale, direct, "what dvc status calls stale", why)
    current = dvc_stages.file_md5(project / script)
    for name in direct:
        locked = {d["path"]: d["md5"] for d in _lock(project)[name]["deps"]}
        expect(
            locked.get(script) == current,
            f"dvc.lock records another md5 of {script} for {name}: run dvc repro",
        )
    _same_stages(ran, downstream(stages, set(direct)), "what dvc repro ran", why)
    return (
        "only the stages that declare the script run: DVC compares file hashes, "
        "not what the change means"
    )
