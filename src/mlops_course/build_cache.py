"""The build cache without a Docker engine: which steps a file change re-runs.

Used by chapter 6 (and its tests). :func:`rebuild_plan` walks a Dockerfile's
steps under the layer-cache rules; :func:`is_ignored` applies a
``.dockerignore``, so a file left out of the build context rebuilds nothing.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable

from mlops_course.dockerfiles import Dockerfile, parse_dockerfile

#: Instructions that add a file-system layer; all others only set metadata.
LAYER_KEYWORDS = frozenset({"RUN", "COPY", "ADD"})


def _ignore_regex(pattern: str) -> re.Pattern:
    pieces = re.split(r"(\*\*/|\*\*|\*|\?)", pattern)
    wildcards = {"**/": "(?:.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}
    return re.compile("".join(wildcards.get(p, re.escape(p)) for p in pieces))


def is_ignored(path: str, dockerignore: str) -> bool:
    """True when ``path`` (in the build context) is left out by ``dockerignore``."""
    parts = path.strip("/").split("/")
    prefixes = ["/".join(parts[: k + 1]) for k in range(len(parts))]
    ignored = False
    for raw in dockerignore.splitlines():
        pattern = raw.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").strip().removeprefix("./").strip("/")
        # Excluding a folder excludes everything under it, as in Docker.
        if any(_ignore_regex(pattern).fullmatch(p) for p in prefixes):
            ignored = not negate
    return ignored


def _copies(source: str, path: str) -> bool:
    source = source.removeprefix("./").rstrip("/")
    if source in {"", ".", "*"}:
        return True
    if any(ch in source for ch in "*?["):
        return fnmatch.fnmatch(path, source) or fnmatch.fnmatch(path, source + "/*")
    return path == source or path.startswith(source + "/")


def rebuild_plan(
    text: str | Dockerfile, changed: Iterable[str], *, dockerignore: str | None = None
) -> list[dict[str, object]]:
    """Which steps ``docker build`` re-runs after the ``changed`` files change.

    A step is reused while it and every step before it in its stage are
    unchanged; COPY also compares the files it copies, and ``COPY --from`` the
    stage it copies from. Once one step misses, the rest of the stage runs
    again. Base images are assumed cached.
    """
    parsed = parse_dockerfile(text)
    changed = [c.strip("/") for c in changed]
    if dockerignore is not None:
        changed = [c for c in changed if not is_ignored(c, dockerignore)]
    rebuilt: dict[str, bool] = {}
    rows: list[dict[str, object]] = []
    for stage in parsed.stages:
        missed = rebuilt.get(stage.base, False)
        for ins in stage.instructions:
            if not missed and ins.keyword in {"COPY", "ADD"}:
                if "from" in ins.flags:
                    missed = rebuilt.get(ins.flags["from"], False)
                else:
                    sources = ins.words()[:-1]
                    missed = any(_copies(s, c) for s in sources for c in changed)
            if ins.keyword in LAYER_KEYWORDS | {"FROM"}:
                status = "rebuilt" if missed else "cached"
                rows.append(
                    {
                        "stage": stage.label,
                        "line": ins.line,
                        "step": str(ins),
                        "status": status,
                    }
                )
        rebuilt[stage.label] = rebuilt[str(stage.index)] = missed
    return rows
