"""Read and check Dockerfiles without a Docker engine (chapter 6, reused by the capstone).

A container image is built from a Dockerfile, and most of what makes an image
safe, small and quick to rebuild can be read from that file alone. This module

- parses a Dockerfile the way the builder does (parser directives, line
  continuations, comments, heredocs, stages): :func:`parse_dockerfile`;
- checks it against the course's rules (pinned base, multi-stage, non-root
  user, health check for services, no secrets in the build, no remote ``ADD``,
  filtered build context, dependencies before code...): :func:`check_dockerfile`
  and, for the build context, :func:`check_dockerignore`;
- explains what ``docker build`` does with each line and which steps a change
  would rebuild, from the layer-cache rules: :func:`explain`, :func:`rebuild_plan`;
- measures what the Python packages an image installs weigh on disk, from the
  installed distributions: :func:`pip_installs`, :func:`dependency_closure`,
  :func:`installed_size`.

Command line (used by the course's pre-commit hook)::

    python -m mlops_course.containers docker/serve.Dockerfile docker/train.Dockerfile

prints one line per finding and exits 1 when there is any.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

#: The rules :func:`check_dockerfile` and :func:`check_dockerignore` apply: id -> why.
RULES: dict[str, str] = {
    "base-not-pinned": "FROM must name an exact version tag (or a digest), never latest",
    "single-stage": "build tools and caches stay behind in a builder stage",
    "runs-as-root": "the final stage must switch to a non-root USER",
    "no-healthcheck": "a service image needs a HEALTHCHECK the engine can poll",
    "no-expose": "a service image documents the port it listens on with EXPOSE",
    "secret-in-build": "ENV and ARG values end up in the image: no secrets there",
    "add-remote-url": "ADD of a URL downloads unverified bytes at every build",
    "copy-unfiltered-context": "COPY . without a .dockerignore sends .git, data, models",
    "cache-order": "copy and install the pinned requirements before the code",
    "pip-cache-kept": "pip's download cache doubles the size of the final image",
    "apt-lists-kept": "apt package lists left in the final image",
    "shell-form-command": "CMD/ENTRYPOINT in shell form: the app never gets SIGTERM",
    "dockerignore-misses": "the .dockerignore lets in something no image needs",
    "dockerignore-drops-input": "the .dockerignore excludes a file the build copies",
}

ERROR, WARNING = "error", "warning"

_SEVERITY = {
    "single-stage": WARNING,
    "no-expose": WARNING,
    "cache-order": WARNING,
    "pip-cache-kept": WARNING,
    "apt-lists-kept": WARNING,
    "shell-form-command": WARNING,
}

#: Words that make an ENV or ARG name look like it carries a credential.
SECRET_NAME = re.compile(r"TOKEN|PASSW(OR)?D|SECRET|KEY|CREDENTIAL", re.IGNORECASE)
#: An exact version: three numbers (``3.11.7``), as in ``python:3.11.7-slim-bookworm``.
EXACT_VERSION = re.compile(r"\d+\.\d+\.\d+")
DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
#: Commands whose presence makes an image a long-running service.
SERVICE_COMMANDS = re.compile(r"\b(uvicorn|gunicorn|hypercorn|flask|serve|nginx)\b")

#: Paths of a course checkout that no image should receive (checked against .dockerignore).
MUST_IGNORE = (
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
)
#: Paths the course's Dockerfiles copy: the .dockerignore must let them through.
MUST_KEEP = (
    "requirements.lock",
    "pyproject.toml",
    "README.md",
    "src/mlops_course/__init__.py",
    "src/mlops_course/data.py",
)

_LAYER_EFFECT = {
    "FROM": (
        "new stage",
        "starts a stage from a base image (pulled once, then cached)",
    ),
    "RUN": (
        "layer",
        "runs a command at build time; the files it changes become a layer",
    ),
    "COPY": ("layer", "copies files from the build context or another stage"),
    "ADD": ("layer", "like COPY, but also unpacks archives and fetches URLs"),
    "ENV": (
        "metadata",
        "sets a variable for later steps and for the running container",
    ),
    "ARG": (
        "metadata",
        "a build-time variable; not in the running container's environment",
    ),
    "WORKDIR": ("metadata", "sets (and creates) the working folder"),
    "USER": ("metadata", "the user for later RUN steps and for the running container"),
    "EXPOSE": (
        "metadata",
        "documents the listening port; `docker run -p` publishes it",
    ),
    "HEALTHCHECK": (
        "metadata",
        "a command the engine runs in the container to judge health",
    ),
    "CMD": ("metadata", "the default command `docker run` starts (build ignores it)"),
    "ENTRYPOINT": (
        "metadata",
        "the program `docker run` starts; CMD becomes its arguments",
    ),
    "LABEL": ("metadata", "key-value annotations (version, source, licence)"),
    "VOLUME": (
        "metadata",
        "marks a folder as a mount point for data kept outside the image",
    ),
    "STOPSIGNAL": ("metadata", "the signal `docker stop` sends"),
    "SHELL": ("metadata", "the shell used by shell-form RUN, CMD and ENTRYPOINT"),
    "ONBUILD": ("metadata", "an instruction deferred to images built FROM this one"),
}


@dataclass(frozen=True)
class Instruction:
    """One Dockerfile instruction: keyword, flags (``--from=...``), value, source lines."""

    keyword: str
    value: str
    line: int
    end_line: int
    flags: dict[str, str] = field(default_factory=dict)
    heredocs: tuple[str, ...] = ()

    @property
    def exec_form(self) -> list[str] | None:
        """The JSON (exec) form as a list, or None for the shell form."""
        text = self.value.strip()
        if not text.startswith("["):
            return None
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError:
            return None
        if isinstance(parsed, list) and all(isinstance(x, str) for x in parsed):
            return parsed
        return None

    def words(self) -> list[str]:
        """The value split like a shell would (exec form: the JSON list)."""
        form = self.exec_form
        if form is not None:
            return form
        try:
            return shlex.split(self.value, comments=False)
        except ValueError:
            return self.value.split()

    def __str__(self) -> str:
        flags = " ".join(f"--{k}={v}" if v else f"--{k}" for k, v in self.flags.items())
        return " ".join(part for part in (self.keyword, flags, self.value) if part)


@dataclass(frozen=True)
class Stage:
    """A build stage: the instructions from one FROM to the next."""

    index: int
    base: str
    name: str | None
    instructions: tuple[Instruction, ...]

    @property
    def line(self) -> int:
        return self.instructions[0].line


@dataclass(frozen=True)
class Dockerfile:
    """A parsed Dockerfile: its global ARGs (before the first FROM) and its stages."""

    instructions: tuple[Instruction, ...]
    directives: dict[str, str]

    @property
    def global_args(self) -> dict[str, str]:
        """ARG defaults declared before the first FROM (usable in FROM lines)."""
        found: dict[str, str] = {}
        for ins in self.instructions:
            if ins.keyword == "FROM":
                break
            if ins.keyword == "ARG":
                name, _, default = ins.value.strip().partition("=")
                found[name.strip()] = default.strip().strip("\"'")
        return found

    @property
    def stages(self) -> list[Stage]:
        """The build stages in order."""
        stages: list[Stage] = []
        current: list[Instruction] = []
        for ins in self.instructions:
            if ins.keyword == "FROM":
                if current:
                    stages.append(_stage(len(stages), current))
                current = [ins]
            elif current:
                current.append(ins)
        if current:
            stages.append(_stage(len(stages), current))
        return stages

    @property
    def final(self) -> Stage | None:
        """The stage ``docker build`` produces by default (the last one)."""
        stages = self.stages
        return stages[-1] if stages else None


def _stage(index: int, instructions: list[Instruction]) -> Stage:
    words = instructions[0].value.split()
    base = words[0] if words else ""
    name = words[2] if len(words) >= 3 and words[1].lower() == "as" else None
    return Stage(index=index, base=base, name=name, instructions=tuple(instructions))


@dataclass(frozen=True)
class Finding:
    """A rule a Dockerfile (or .dockerignore) breaks, where, and how to fix it."""

    rule: str
    severity: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.line}: {self.rule}: {self.message}"


_DIRECTIVE = re.compile(r"^#\s*([A-Za-z]+)\s*=\s*(.*?)\s*$")
_HEREDOC = re.compile(r"<<(-?)([\"']?)([A-Za-z_][A-Za-z0-9_]*)\2")


def parse_dockerfile(text: str) -> Dockerfile:
    """Parse Dockerfile ``text`` into instructions and stages (as ``docker build`` reads it)."""
    lines = text.splitlines()
    directives: dict[str, str] = {}
    i = 0
    # Parser directives: only at the very top, before any comment, blank line or instruction.
    while i < len(lines):
        match = _DIRECTIVE.match(lines[i])
        if not match or match.group(1).lower() in directives:
            break
        directives[match.group(1).lower()] = match.group(2)
        i += 1
    escape = directives.get("escape", "\\")[:1] or "\\"
    instructions: list[Instruction] = []
    while i < len(lines):
        raw = lines[i]
        start = i
        i += 1
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        parts = [raw]
        # Line continuations: an escape character at the end of a line joins the next one;
        # comment lines and empty lines inside a continued instruction are skipped.
        while parts[-1].rstrip().endswith(escape):
            parts[-1] = parts[-1].rstrip()[:-1]
            while i < len(lines) and (
                not lines[i].strip() or lines[i].lstrip().startswith("#")
            ):
                i += 1
            if i >= len(lines):
                break
            parts.append(lines[i])
            i += 1
        joined = " ".join(p.strip() for p in parts if p.strip())
        keyword, _, rest = joined.partition(" ")
        keyword = keyword.upper()
        flags, value = (
            _split_flags(rest.strip()) if keyword in _FLAGGED else ({}, rest.strip())
        )
        heredocs: list[str] = []
        if keyword in {"RUN", "COPY", "ADD"}:
            for match in _HEREDOC.finditer(value):
                strip_tabs, terminator = match.group(1) == "-", match.group(3)
                body: list[str] = []
                while i < len(lines):
                    line = lines[i]
                    i += 1
                    if (line.lstrip("\t") if strip_tabs else line) == terminator:
                        break
                    body.append(line)
                heredocs.append("\n".join(body))
        instructions.append(
            Instruction(
                keyword=keyword,
                value=value,
                line=start + 1,
                end_line=i,
                flags=flags,
                heredocs=tuple(heredocs),
            )
        )
    return Dockerfile(instructions=tuple(instructions), directives=directives)


_FLAGGED = {"FROM", "COPY", "ADD", "RUN", "HEALTHCHECK"}


def _split_flags(rest: str) -> tuple[dict[str, str], str]:
    flags: dict[str, str] = {}
    while rest.startswith("--"):
        token, _, rest = rest.partition(" ")
        name, _, value = token[2:].partition("=")
        flags[name] = value
        rest = rest.lstrip()
    return flags, rest


def _as_dockerfile(text_or_parsed: str | Dockerfile) -> Dockerfile:
    if isinstance(text_or_parsed, Dockerfile):
        return text_or_parsed
    return parse_dockerfile(text_or_parsed)


def is_service(dockerfile: str | Dockerfile) -> bool:
    """True when the final stage looks like a long-running server (EXPOSE or a server command)."""
    final = _as_dockerfile(dockerfile).final
    if final is None:
        return False
    for ins in final.instructions:
        if ins.keyword in {"EXPOSE", "HEALTHCHECK"}:
            return True
        if ins.keyword in {"CMD", "ENTRYPOINT"} and SERVICE_COMMANDS.search(
            " ".join(ins.words())
        ):
            return True
    return False


def _finding(rule: str, line: int, message: str) -> Finding:
    return Finding(
        rule=rule, severity=_SEVERITY.get(rule, ERROR), line=line, message=message
    )


def _env_names(ins: Instruction) -> list[str]:
    """Variable names an ENV (``a=b c=d`` or legacy ``a b``) or ARG instruction sets."""
    words = ins.words()
    if not words:
        return []
    if ins.keyword == "ENV" and "=" not in words[0]:
        return [words[0]]  # legacy form: ENV NAME value with spaces
    return [w.split("=", 1)[0] for w in words if w and not w.startswith("-")]


def _base_finding(
    stage: Stage, known_stages: set[str], args: dict[str, str]
) -> Finding | None:
    image = stage.base
    for name, value in args.items():
        image = image.replace("${" + name + "}", value).replace("$" + name, value)
    if image.lower() == "scratch" or image in known_stages:
        return None
    if "$" in image:
        return _finding(
            "base-not-pinned",
            stage.line,
            f"base image {stage.base!r} comes from a build ARG "
            "without a default: the image it builds is not fixed by this file",
        )
    if DIGEST.search(image):
        return None
    last = image.rsplit("/", 1)[-1]
    tag = last.split(":", 1)[1] if ":" in last else ""
    if not tag:
        why = "has no tag, so it means latest"
    elif tag == "latest":
        why = "uses the moving tag latest"
    elif not EXACT_VERSION.search(tag):
        why = f"uses the floating tag {tag!r}, which moves with every patch release"
    else:
        return None
    return _finding(
        "base-not-pinned",
        stage.line,
        f"base image {image!r} {why}: pin an exact version such as "
        "python:3.11.7-slim-bookworm",
    )


def _runs(stage: Stage) -> list[tuple[Instruction, str]]:
    """Every RUN of a stage with its full script (heredoc bodies included)."""
    return [
        (ins, " ".join([ins.value, *ins.heredocs]))
        for ins in stage.instructions
        if ins.keyword == "RUN"
    ]


_PIP_INSTALL = re.compile(r"\bpip3?\s+install\b|\bpython3?\s+-m\s+pip\s+install\b")
_INSTALLS_DEPS = re.compile(
    r"\bpip3?\s+install\b.*(\s-r\s|\s-c\s|--requirement|--constraint"
    r"|requirements)|\b(poetry|pdm)\s+install\b|\buv\s+(sync|pip\s+install)\b"
)


def _copies_code(ins: Instruction) -> bool:
    if ins.keyword not in {"COPY", "ADD"} or "from" in ins.flags:
        return False
    sources = ins.words()[:-1]
    return any(
        s in {".", "./"} or s.rstrip("/") in {"src", "app"} or s.endswith(".py")
        for s in sources
    )


def check_dockerfile(
    text: str | Dockerfile,
    *,
    dockerignore: str | None = None,
    service: bool | None = None,
) -> list[Finding]:
    """The course rules ``text`` breaks, sorted by line (empty when it passes).

    ``dockerignore`` is the text of the build context's ``.dockerignore`` (None: there is
    none); ``service`` says whether the image runs a server (None: guessed by
    :func:`is_service`).
    """
    parsed = _as_dockerfile(text)
    stages = parsed.stages
    findings: list[Finding] = []
    if not stages:
        return [
            _finding(
                "base-not-pinned", 1, "no FROM instruction: this is not a Dockerfile"
            )
        ]
    args = parsed.global_args
    known: set[str] = set()
    for stage in stages:
        problem = _base_finding(stage, known, args)
        if problem:
            findings.append(problem)
        if stage.name:
            known.add(stage.name)
    if len(stages) == 1:
        findings.append(
            _finding(
                "single-stage",
                stages[0].line,
                "one stage only: compilers, pip caches and build files all ship in the image; "
                "install into a venv in a builder stage and copy only the venv",
            )
        )

    for ins in parsed.instructions:
        if ins.keyword in {"ENV", "ARG"}:
            for name in _env_names(ins):
                if SECRET_NAME.search(name):
                    findings.append(
                        _finding(
                            "secret-in-build",
                            ins.line,
                            f"{ins.keyword} {name} looks like a credential: anything set by ENV "
                            "or ARG can be read from the image; pass secrets at run time "
                            "(environment, mounted file) or with `RUN --mount=type=secret`",
                        )
                    )
        if ins.keyword == "ADD":
            remote = [
                w for w in ins.words()[:-1] if re.match(r"(https?|git)://|git@", w)
            ]
            if remote and "checksum" not in ins.flags:
                findings.append(
                    _finding(
                        "add-remote-url",
                        ins.line,
                        f"ADD fetches {remote[0]} at build time with no checksum: vendor the "
                        "file, or download it in a RUN step that verifies its hash",
                    )
                )
        if (
            ins.keyword in {"COPY", "ADD"}
            and "from" not in ins.flags
            and dockerignore is None
        ):
            if any(s in {".", "./", "*"} for s in ins.words()[:-1]):
                findings.append(
                    _finding(
                        "copy-unfiltered-context",
                        ins.line,
                        f"`{ins.keyword} {ins.value}` copies the whole build context and there "
                        "is no .dockerignore: .git, the venv, data and model files go in too",
                    )
                )

    for stage in stages:
        code_line = None
        for ins in stage.instructions:
            if _copies_code(ins) and code_line is None:
                code_line = ins.line
            if ins.keyword == "RUN" and code_line is not None:
                script = " ".join([ins.value, *ins.heredocs])
                if _INSTALLS_DEPS.search(script):
                    findings.append(
                        _finding(
                            "cache-order",
                            ins.line,
                            f"dependencies are installed after the code is copied (line "
                            f"{code_line}): every code change re-runs this install; copy "
                            "requirements.lock and install first, then copy the code",
                        )
                    )
                    break

    final = stages[-1]
    users = [ins for ins in final.instructions if ins.keyword == "USER"]
    if not users:
        findings.append(
            _finding(
                "runs-as-root",
                final.line,
                "the final stage never sets USER, so the container runs as root: create a "
                "user and switch to it (USER 10001)",
            )
        )
    elif users[-1].value.split(":")[0].strip() in {"root", "0"}:
        findings.append(
            _finding(
                "runs-as-root",
                users[-1].line,
                f"USER {users[-1].value} runs the container as root: switch to an "
                "unprivileged user",
            )
        )

    # ENV carries over only along FROM <earlier stage>, not from other stages.
    lineage, by_name = [final], {s.name: s for s in stages if s.name}
    while lineage[-1].base in by_name and by_name[lineage[-1].base] not in lineage:
        lineage.append(by_name[lineage[-1].base])
    env_text = " ".join(
        ins.value for s in lineage for ins in s.instructions if ins.keyword == "ENV"
    )
    pip_cache_off = re.search(r"PIP_NO_CACHE_DIR\s*=\s*(1|true|on|yes)", env_text, re.I)
    for ins, script in _runs(final):
        if (
            _PIP_INSTALL.search(script)
            and "--no-cache-dir" not in script
            and not pip_cache_off
            and "type=cache" not in ins.flags.get("mount", "")
        ):
            findings.append(
                _finding(
                    "pip-cache-kept",
                    ins.line,
                    "pip install keeps its download cache in the final image: add "
                    "--no-cache-dir (or ENV PIP_NO_CACHE_DIR=1), or install in a builder stage",
                )
            )
        if (
            re.search(r"\bapt(-get)?\s+install\b", script)
            and "/var/lib/apt/lists" not in script
        ):
            findings.append(
                _finding(
                    "apt-lists-kept",
                    ins.line,
                    "apt-get install without `rm -rf /var/lib/apt/lists/*` in the same RUN "
                    "leaves the package lists in the layer",
                )
            )

    for ins in final.instructions:
        if ins.keyword in {"CMD", "ENTRYPOINT"} and ins.exec_form is None:
            findings.append(
                _finding(
                    "shell-form-command",
                    ins.line,
                    f"{ins.keyword} in shell form runs under /bin/sh -c, which does not pass "
                    'SIGTERM on: use the JSON form, e.g. CMD ["uvicorn", ...]',
                )
            )

    if service if service is not None else is_service(parsed):
        keywords = {ins.keyword: ins for ins in final.instructions}
        check = keywords.get("HEALTHCHECK")
        if check is None or check.value.strip().upper() == "NONE":
            findings.append(
                _finding(
                    "no-healthcheck",
                    final.line,
                    "a service image without HEALTHCHECK: the engine cannot tell a hung server "
                    'from a healthy one; add e.g. HEALTHCHECK CMD ["python", "-c", ...] '
                    "that requests /health",
                )
            )
        if "EXPOSE" not in keywords:
            findings.append(
                _finding(
                    "no-expose",
                    final.line,
                    "a service image without EXPOSE: say which port the server listens on",
                )
            )
    return sorted(findings, key=lambda f: (f.line, f.rule))


# --- .dockerignore --------------------------------------------------------------------


def _ignore_regex(pattern: str) -> re.Pattern:
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out += "(?:.*/)?"
            i += 3
        elif pattern.startswith("**", i):
            out += ".*"
            i += 2
        elif pattern[i] == "*":
            out += "[^/]*"
            i += 1
        elif pattern[i] == "?":
            out += "[^/]"
            i += 1
        else:
            out += re.escape(pattern[i])
            i += 1
    return re.compile(out)


def dockerignore_patterns(text: str) -> list[tuple[bool, re.Pattern]]:
    """The patterns of a .dockerignore as (is_exception, regex) pairs, in order."""
    patterns = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        line = line[1:].strip() if negate else line
        line = line.strip("/") if line not in {"/"} else line
        if line.startswith("./"):
            line = line[2:]
        patterns.append((negate, _ignore_regex(line)))
    return patterns


def is_ignored(path: str, dockerignore: str) -> bool:
    """True when ``path`` (relative to the build context) is left out by ``dockerignore``."""
    path = path.strip("/")
    parts = path.split("/")
    prefixes = ["/".join(parts[: k + 1]) for k in range(len(parts))]
    ignored = False
    for negate, regex in dockerignore_patterns(dockerignore):
        # Excluding a folder excludes everything under it, as in Docker.
        if any(regex.fullmatch(p) for p in prefixes):
            ignored = not negate
    return ignored


def check_dockerignore(
    text: str,
    *,
    must_ignore: Sequence[str] = MUST_IGNORE,
    must_keep: Sequence[str] = MUST_KEEP,
) -> list[Finding]:
    """What a .dockerignore lets into the build context that it should not, and vice versa."""
    findings = [
        _finding("dockerignore-misses", 0, f"{path} would be sent to the builder")
        for path in must_ignore
        if not is_ignored(path, text)
    ]
    findings += [
        _finding(
            "dockerignore-drops-input", 0, f"{path} is excluded but the build needs it"
        )
        for path in must_keep
        if is_ignored(path, text)
    ]
    return findings


# --- what a build does, and what a change rebuilds --------------------------------------


def _short(ins: Instruction, width: int = 60) -> str:
    """An instruction as text, cut to ``width`` characters for a table."""
    shown = str(ins)
    return shown if len(shown) <= width else shown[: width - 3] + "..."


def explain(text: str | Dockerfile) -> list[dict[str, object]]:
    """One row per instruction: stage, line, instruction, kind (layer/metadata) and effect."""
    parsed = _as_dockerfile(text)
    rows = []
    for stage in parsed.stages:
        label = stage.name or str(stage.index)
        for ins in stage.instructions:
            kind, effect = _LAYER_EFFECT.get(ins.keyword, ("metadata", ""))
            rows.append(
                {
                    "stage": label,
                    "line": ins.line,
                    "instruction": _short(ins),
                    "kind": kind,
                    "effect": effect,
                }
            )
    return rows


def _copy_sources(ins: Instruction) -> list[str]:
    words = [w for w in ins.words() if not w.startswith("<<")]
    return words[:-1]


def _source_matches(source: str, path: str) -> bool:
    source = source.strip()
    if source.startswith("./"):
        source = source[2:]
    source = source.rstrip("/")
    if source in {"", ".", "*"}:
        return True
    if any(ch in source for ch in "*?["):
        return fnmatch.fnmatch(path, source) or fnmatch.fnmatch(path, source + "/*")
    return path == source or path.startswith(source + "/")


def rebuild_plan(
    text: str | Dockerfile,
    changed: Iterable[str],
    *,
    dockerignore: str | None = None,
) -> list[dict[str, object]]:
    """Which steps ``docker build`` re-runs after ``changed`` files (context-relative) change.

    Layer-cache rules: a step is reused while its instruction and everything before
    it in the stage are unchanged; COPY/ADD also compare the files they copy; once
    one step misses, every later step of that stage runs again, and so does a
    ``COPY --from`` of a stage that was rebuilt. Base images are assumed cached.
    """
    parsed = _as_dockerfile(text)
    changed = [c.strip("/") for c in changed]
    if dockerignore is not None:
        changed = [c for c in changed if not is_ignored(c, dockerignore)]
    rebuilt_stages: dict[str, bool] = {}
    rows: list[dict[str, object]] = []
    for stage in parsed.stages:
        label = stage.name or str(stage.index)
        missed = rebuilt_stages.get(stage.base, False)
        for ins in stage.instructions:
            if ins.keyword == "FROM":
                status = "rebuilt" if missed else "cached"
            else:
                if not missed and ins.keyword in {"COPY", "ADD"}:
                    source_stage = ins.flags.get("from")
                    if source_stage is not None:
                        missed = rebuilt_stages.get(source_stage, False)
                    else:
                        missed = any(
                            _source_matches(s, c)
                            for s in _copy_sources(ins)
                            for c in changed
                        )
                status = "rebuilt" if missed else "cached"
            if ins.keyword in {"RUN", "COPY", "ADD", "FROM"}:
                rows.append(
                    {
                        "stage": label,
                        "line": ins.line,
                        "step": _short(ins),
                        "status": status,
                    }
                )
        rebuilt_stages[label] = missed
        rebuilt_stages[str(stage.index)] = missed
    return rows


# --- what the Python packages of an image weigh -------------------------------------------


@dataclass(frozen=True)
class PipInstall:
    """One ``pip install`` command of a RUN step: its files, packages and local paths."""

    line: int
    requirements: tuple[str, ...]
    constraints: tuple[str, ...]
    packages: tuple[str, ...]
    local: tuple[str, ...]
    options: tuple[str, ...]


_PIP_OPTIONS_WITH_VALUE = {
    "-r",
    "--requirement",
    "-c",
    "--constraint",
    "-i",
    "--index-url",
    "--extra-index-url",
    "-f",
    "--find-links",
    "-t",
    "--target",
    "--prefix",
    "--root",
    "--platform",
    "--python-version",
    "--implementation",
    "--abi",
    "--src",
    "--progress-bar",
}


def pip_installs(text: str | Dockerfile) -> list[PipInstall]:
    """Every ``pip install`` in the RUN steps of ``text``, with what it installs."""
    found = []
    for stage in _as_dockerfile(text).stages:
        for ins, script in _runs(stage):
            for command in re.split(r"&&|;|\|\|", script):
                try:
                    words = shlex.split(command)
                except ValueError:
                    words = command.split()
                if "install" not in words or not any(
                    w.startswith("pip") for w in words
                ):
                    continue
                words = words[words.index("install") + 1 :]
                req, con, pkgs, local, opts = [], [], [], [], []
                k = 0
                while k < len(words):
                    word = words[k]
                    if word in _PIP_OPTIONS_WITH_VALUE and k + 1 < len(words):
                        target = {
                            "-r": req,
                            "--requirement": req,
                            "-c": con,
                            "--constraint": con,
                        }.get(word, opts)
                        target.append(
                            words[k + 1]
                            if target is not opts
                            else f"{word} {words[k + 1]}"
                        )
                        k += 2
                        continue
                    if word.startswith("-"):
                        opts.append(word)
                    elif word.startswith((".", "/")) or word.endswith(
                        (".whl", ".tar.gz")
                    ):
                        local.append(word)
                    else:
                        pkgs.append(word)
                    k += 1
                found.append(
                    PipInstall(
                        ins.line,
                        tuple(req),
                        tuple(con),
                        tuple(pkgs),
                        tuple(local),
                        tuple(opts),
                    )
                )
    return found


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_name(spec: str) -> str:
    return _canonical(re.split(r"[<>=!~;\[ @]", spec.strip(), maxsplit=1)[0])


def lock_names(lock_text: str) -> list[str]:
    """The distribution names pinned in a requirements lock file."""
    return sorted(
        _requirement_name(line)
        for line in lock_text.splitlines()
        if line.strip() and not line.lstrip().startswith(("#", "-"))
    )


def dependency_closure(names: Iterable[str]) -> set[str]:
    """``names`` and everything they require (extras not requested), from installed metadata."""
    from packaging.requirements import Requirement

    todo = [_canonical(n) for n in names]
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.distribution(name).requires or []
        except metadata.PackageNotFoundError:
            continue
        for spec in requires:
            req = Requirement(spec)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(_canonical(req.name))
    return seen


def installed_size(name: str) -> int:
    """Bytes on disk of the installed distribution ``name`` (compiled .pyc files left out)."""
    try:
        dist = metadata.distribution(name)
    except metadata.PackageNotFoundError:
        return 0
    total = 0
    for file in dist.files or []:
        if file.suffix == ".pyc" or "__pycache__" in file.parts:
            continue
        path = Path(file.locate())
        if path.is_file():
            total += path.stat().st_size
    return total


# --- the engine ------------------------------------------------------------------------


def docker_engine_available(timeout: float = 5.0) -> bool:
    """True when a Docker client is installed and its engine answers ``docker info``."""
    client = shutil.which("docker")
    if client is None:
        return False
    try:
        done = subprocess.run(
            [client, "info", "--format", "{{.ServerVersion}}"],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except (subprocess.TimeoutExpired, OSError):
        return False
    return done.returncode == 0 and bool(done.stdout.strip())


# --- command line (pre-commit hook) ---------------------------------------------------------


def _dockerignore_for(path: Path, context: Path) -> str | None:
    own = path.with_name(path.name + ".dockerignore")
    for candidate in (own, context / ".dockerignore"):
        if candidate.is_file():
            return candidate.read_text()
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Check Dockerfiles (and .dockerignore files) given on the command line; exit 1 on findings."""
    parser = argparse.ArgumentParser(
        prog="python -m mlops_course.containers", description=main.__doc__
    )
    parser.add_argument(
        "files", nargs="*", type=Path, help="Dockerfiles or .dockerignore files"
    )
    parser.add_argument(
        "--context",
        type=Path,
        default=Path("."),
        help="build context holding the .dockerignore (default: .)",
    )
    args = parser.parse_args(argv)
    failed = False
    for path in args.files:
        if path.name.endswith(".dockerignore"):
            findings = check_dockerignore(path.read_text())
        else:
            ignore = _dockerignore_for(path, args.context)
            findings = check_dockerfile(path.read_text(), dockerignore=ignore)
        for finding in findings:
            where = f"{path}:{finding.line}" if finding.line else str(path)
            print(f"{where}: {finding.rule}: {finding.message}")
        failed |= bool(findings)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
