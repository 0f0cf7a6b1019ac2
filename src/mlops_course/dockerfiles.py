"""Dockerfiles without a Docker engine: parsed, and checked against the course's rules.

Used by chapter 6 (and its tests) and by the course's pre-commit hook. General
Dockerfile best practice is hadolint's job (chapter 6 runs it, and so do the
pre-commit hooks); this module holds only what hadolint does not know:

- :func:`parse_dockerfile`: instructions and stages, read the way the builder
  reads them (line continuations, comments, the ``escape`` directive; no
  heredocs);
- :func:`check_dockerfile`: the course's four rules (:data:`RULES`): an exact
  base tag, a builder stage, a non-root user, and a ``HEALTHCHECK`` that asks
  a service's ``/ready`` route.

What a file change rebuilds is in :mod:`mlops_course.build_cache`, what the
installed packages weigh in :mod:`mlops_course.package_sizes`.

Command line (the course's pre-commit hook; exit 1 on any finding)::

    python -m mlops_course.dockerfiles docker/serve.Dockerfile docker/train.Dockerfile
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

#: The course's rules: id -> what the Dockerfile must do.
RULES: dict[str, str] = {
    "base-not-pinned": "every FROM names an exact version (3.11.16) or a digest",
    "single-stage": "installs happen in a builder stage; only results are copied on",
    "runs-as-root": "the final stage switches to a non-root USER",
    "no-readiness-check": "a service image has a HEALTHCHECK that requests /ready",
}

#: An exact version: three numbers, as in ``python:3.11.16-slim-bookworm``. Only a
#: digest (``image:tag@sha256:...``) pins the bytes: a tag is moved on each rebuild.
EXACT_VERSION = re.compile(r"\d+\.\d+\.\d+")
DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
#: Commands that make an image a long-running service.
SERVICE_COMMANDS = re.compile(r"\b(uvicorn|gunicorn|hypercorn|flask|nginx)\b")


@dataclass(frozen=True)
class Instruction:
    """One instruction: keyword, ``--flags``, value and first source line."""

    keyword: str
    value: str
    line: int
    flags: dict[str, str] = field(default_factory=dict)

    @property
    def exec_form(self) -> list[str] | None:
        """The JSON (exec) form as a list, or None for the shell form."""
        try:
            parsed = json.loads(self.value)
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
            return shlex.split(self.value)
        except ValueError:  # an unbalanced quote: fall back to whitespace
            return self.value.split()

    def __str__(self) -> str:
        flags = [f"--{k}={v}" if v else f"--{k}" for k, v in self.flags.items()]
        return " ".join([self.keyword, *flags, self.value])


@dataclass(frozen=True)
class Stage:
    """A build stage: the instructions from one FROM to the next."""

    index: int
    base: str
    name: str | None
    instructions: tuple[Instruction, ...]

    @property
    def line(self) -> int:
        """The line of the stage's FROM."""
        return self.instructions[0].line

    @property
    def label(self) -> str:
        """The stage's name, or its index when it has none."""
        return self.name or str(self.index)


@dataclass(frozen=True)
class Dockerfile:
    """A parsed Dockerfile: instructions, ARG defaults before the first FROM, stages."""

    instructions: tuple[Instruction, ...]
    global_args: dict[str, str]
    stages: tuple[Stage, ...]

    @property
    def final(self) -> Stage | None:
        """The stage ``docker build`` produces by default (the last one)."""
        return self.stages[-1] if self.stages else None


@dataclass(frozen=True)
class Finding:
    """A course rule a Dockerfile breaks, where, and what to do."""

    rule: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.line}: {self.rule}: {self.message}"


_DIRECTIVE = re.compile(r"^#\s*([A-Za-z]+)\s*=\s*(\S*)\s*$")
_FLAGGED = {"FROM", "COPY", "ADD", "RUN", "HEALTHCHECK"}


def _is_blank_or_comment(line: str) -> bool:
    return not line.strip() or line.lstrip().startswith("#")


def parse_dockerfile(text: str | Dockerfile) -> Dockerfile:
    """Parse Dockerfile ``text`` into instructions and stages (parsed: as it is)."""
    if isinstance(text, Dockerfile):
        return text
    lines = text.splitlines()
    escape = "\\"
    for line in lines:  # parser directives come first, before anything else
        match = _DIRECTIVE.match(line)
        if not match:
            break
        if match.group(1).lower() == "escape":
            escape = match.group(2)[:1] or escape
    instructions: list[Instruction] = []
    i = 0
    while i < len(lines):
        start, parts = i, [lines[i]]
        i += 1
        if _is_blank_or_comment(parts[0]):
            continue
        # An escape character at the end of a line continues the instruction;
        # blank and comment lines inside it are skipped.
        while parts[-1].rstrip().endswith(escape) and i < len(lines):
            parts[-1] = parts[-1].rstrip()[:-1]
            while i < len(lines) and _is_blank_or_comment(lines[i]):
                i += 1
            if i < len(lines):
                parts.append(lines[i])
                i += 1
        keyword, _, rest = " ".join(p.strip() for p in parts).partition(" ")
        keyword, rest, flags = keyword.upper(), rest.strip(), {}
        while keyword in _FLAGGED and rest.startswith("--"):
            token, _, rest = rest.partition(" ")
            name, _, value = token[2:].partition("=")
            flags[name], rest = value, rest.lstrip()
        instructions.append(Instruction(keyword, rest, start + 1, flags))

    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for ins in instructions:
        if ins.keyword == "ARG" and not stages:
            name, _, default = ins.value.partition("=")
            global_args[name.strip()] = default.strip().strip("\"'")
        elif ins.keyword == "FROM":
            words = ins.value.split()
            name = words[2] if len(words) >= 3 and words[1].lower() == "as" else None
            stages.append(Stage(len(stages), words[0], name, (ins,)))
        elif stages:
            last = stages[-1]
            stages[-1] = Stage(
                last.index, last.base, last.name, (*last.instructions, ins)
            )
    return Dockerfile(tuple(instructions), global_args, tuple(stages))


def is_service(dockerfile: str | Dockerfile) -> bool:
    """True when the final stage runs a server (EXPOSE, HEALTHCHECK, server command)."""
    final = parse_dockerfile(dockerfile).final
    for ins in final.instructions if final else ():
        if ins.keyword in {"EXPOSE", "HEALTHCHECK"}:
            return True
        command = " ".join(ins.words())
        if ins.keyword in {"CMD", "ENTRYPOINT"} and SERVICE_COMMANDS.search(command):
            return True
    return False


def _unpinned_base(stage: Stage, earlier: set[str], args: dict[str, str]) -> str | None:
    """Why the base image of ``stage`` is not pinned, or None when it is."""
    image = stage.base
    for name, value in args.items():
        if value:
            image = image.replace("${" + name + "}", value).replace("$" + name, value)
    if image.lower() == "scratch" or image in earlier or DIGEST.search(image):
        return None
    if "$" in image:
        return f"{stage.base} comes from a build ARG without a default"
    last = image.rsplit("/", 1)[-1]
    tag = last.partition(":")[2]
    if EXACT_VERSION.search(tag):
        return None
    if not tag or tag == "latest":
        return f"{image} means latest, a different image every month"
    return f"{image} has the floating tag {tag}, which moves with every patch release"


def check_dockerfile(
    text: str | Dockerfile, *, service: bool | None = None
) -> list[Finding]:
    """The course rules ``text`` breaks, sorted by line (empty when it passes).

    ``service`` says whether the image runs a server (None: guessed by
    :func:`is_service`).
    """
    parsed = parse_dockerfile(text)
    final = parsed.final
    if final is None:
        return [Finding("base-not-pinned", 1, "there is no FROM line.")]
    findings: list[Finding] = []
    earlier: set[str] = set()
    for stage in parsed.stages:
        why = _unpinned_base(stage, earlier, parsed.global_args)
        if why:
            message = (
                f"{why}; pin an exact tag such as python:3.11.16-slim-bookworm,"
                " better with its digest (@sha256:...)."
            )
            findings.append(Finding("base-not-pinned", stage.line, message))
        earlier.add(stage.label)
    if len(parsed.stages) == 1:
        message = (
            "one stage only, so compilers, caches and build files ship in the image; "
            "install into /opt/venv in a builder stage and copy only the venv."
        )
        findings.append(Finding("single-stage", final.line, message))

    users = [ins for ins in final.instructions if ins.keyword == "USER"]
    if not users:
        message = "the final stage never sets USER, so it runs as root; add USER 10001."
        findings.append(Finding("runs-as-root", final.line, message))
    elif users[-1].value.split(":")[0].strip() in {"root", "0"}:
        message = f"USER {users[-1].value} runs the container as root."
        findings.append(Finding("runs-as-root", users[-1].line, message))

    if service if service is not None else is_service(parsed):
        checks = [i for i in final.instructions if i.keyword == "HEALTHCHECK"]
        command = checks[-1].value if checks else "NONE"
        if command.strip().upper() == "NONE" or "/ready" not in command:
            line = checks[-1].line if checks else final.line
            message = (
                "a service needs a HEALTHCHECK that requests /ready, so the engine "
                "sees a server that runs but has no model as unhealthy."
            )
            findings.append(Finding("no-readiness-check", line, message))
    return sorted(findings, key=lambda f: (f.line, f.rule))


def main(argv: Sequence[str] | None = None) -> int:
    """Check the Dockerfiles given on the command line; exit 1 on any finding."""
    parser = argparse.ArgumentParser(
        prog="python -m mlops_course.dockerfiles", description=main.__doc__
    )
    parser.add_argument("files", nargs="*", type=Path, help="Dockerfiles")
    args = parser.parse_args(argv)
    failed = False
    for path in args.files:
        for finding in check_dockerfile(path.read_text()):
            print(f"{path}:{finding}")
            failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
