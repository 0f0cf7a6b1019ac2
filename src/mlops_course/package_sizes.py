"""What the Python packages of an image weigh, without building it.

Used by chapter 6 (and its tests): :func:`pip_installs` reads the ``pip
install`` steps of a Dockerfile, :func:`dependency_closure` follows what those
packages require and :func:`installed_size` measures each one, all from the
installed metadata of this environment; :func:`lock_names` lists what a lock
file pins.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from mlops_course.dockerfiles import Dockerfile, parse_dockerfile


@dataclass(frozen=True)
class PipInstall:
    """One ``pip install`` of a RUN step: packages, constraint files, local paths."""

    line: int
    packages: tuple[str, ...]
    constraints: tuple[str, ...]
    local: tuple[str, ...]
    options: tuple[str, ...]


_PIP = re.compile(r"\b(?:python3?\s+-m\s+)?pip3?\s+install\s+(.*)")


def pip_installs(text: str | Dockerfile) -> list[PipInstall]:
    """Every ``pip install`` in the RUN steps of ``text``, with what it installs."""
    found = []
    for ins in parse_dockerfile(text).instructions:
        if ins.keyword != "RUN":
            continue
        for command in re.split(r"&&|;|\|\|", ins.value):
            match = _PIP.search(command)
            if not match:
                continue
            words = shlex.split(match.group(1))
            packages, constraints, local, options = [], [], [], []
            while words:
                word = words.pop(0)
                if word in {"-c", "--constraint"} and words:
                    constraints.append(words.pop(0))
                elif word in {"-r", "--requirement", "-i", "--index-url"} and words:
                    options.append(f"{word} {words.pop(0)}")
                elif word.startswith("-"):
                    options.append(word)
                elif word.startswith((".", "/")) or word.endswith(".whl"):
                    local.append(word)
                else:
                    packages.append(word)
            found.append(
                PipInstall(
                    ins.line,
                    tuple(packages),
                    tuple(constraints),
                    tuple(local),
                    tuple(options),
                )
            )
    return found


def canonical(name: str) -> str:
    """A distribution name in its canonical form (``PyYAML`` -> ``pyyaml``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def lock_names(lock_text: str) -> list[str]:
    """The distribution names pinned in a requirements lock file."""
    return sorted(
        canonical(re.split(r"[<>=!~;\[ @]", line.strip(), maxsplit=1)[0])
        for line in lock_text.splitlines()
        if line.strip() and not line.lstrip().startswith(("#", "-"))
    )


def dependency_closure(names: Iterable[str]) -> set[str]:
    """``names`` and all they require (no extras), from the installed metadata."""
    from packaging.requirements import Requirement

    todo, seen = [canonical(n) for n in names], set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.distribution(name).requires or []
        except metadata.PackageNotFoundError:
            continue
        for spec in map(Requirement, requires):
            if spec.marker is None or spec.marker.evaluate({"extra": ""}):
                todo.append(canonical(spec.name))
    return seen


def installed_size(name: str) -> int:
    """Bytes on disk of the installed distribution ``name`` (.pyc files left out)."""
    try:
        files = metadata.distribution(name).files or []
    except metadata.PackageNotFoundError:
        return 0
    total = 0
    for file in files:
        if file.suffix != ".pyc" and (path := Path(file.locate())).is_file():
            total += path.stat().st_size
    return total
