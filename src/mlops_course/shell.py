"""Run the course's command-line tools (DVC, MLflow, Feast, git) from notebooks.

Used by the chapters that drive a CLI. Commands are argument lists, never a
shell string; a tool installed next to the running Python is found even when
the environment's ``bin`` folder is not on ``PATH`` (a kernel started by
JupyterLab or papermill often lacks it).
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from mlops_course import servers


class CommandError(RuntimeError):
    """A command exited with a non-zero status; the message carries its output."""


def executable(name: str) -> str:
    """Full path of the executable ``name``, preferring the one beside this Python."""
    beside = Path(sys.executable).parent / name
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"{name!r} is not installed in this environment")
    return found


def tool_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The current environment with this Python's ``bin`` first on ``PATH``."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join(
        [str(Path(sys.executable).parent), env.get("PATH", "")]
    )
    env.update(extra or {})
    return env


def run(
    args: Sequence[str | os.PathLike],
    *,
    cwd: str | os.PathLike | None = None,
    env: Mapping[str, str] | None = None,
    check: bool = True,
    timeout: float = 300,
) -> subprocess.CompletedProcess:
    """Run ``args`` (found with :func:`executable`); return the finished process.

    The command leads its own process group, so whatever it starts (torchrun's
    workers, a DVC stage's Python) is stopped with it when it runs past
    ``timeout`` seconds, which raises :class:`CommandError`; on Linux the group
    is also told to stop if the caller (the notebook's kernel) dies.
    """
    argv = [executable(str(args[0])), *map(str, args[1:])]
    shown = " ".join([Path(argv[0]).name, *argv[1:]])
    process = subprocess.Popen(
        argv,
        cwd=cwd,
        env=tool_env(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=servers.die_with_parent if sys.platform == "linux" else None,
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        servers.stop_process_group(process, grace=5)
        stdout, stderr = process.communicate()
        raise CommandError(
            f"`{shown}` did not finish within {timeout:g} s and was stopped, "
            f"with every process it started\n"
            f"--- stdout ---\n{stdout[-3000:]}\n--- stderr ---\n{stderr[-3000:]}"
        ) from None
    finally:
        servers.stop_process_group(process, grace=5)  # interrupted: stop the group
    done = subprocess.CompletedProcess(argv, process.returncode, stdout, stderr)
    if check and done.returncode != 0:
        raise CommandError(
            f"`{shown}` exited with {done.returncode}\n"
            f"--- stdout ---\n{done.stdout[-3000:]}\n"
            f"--- stderr ---\n{done.stderr[-3000:]}"
        )
    return done


def sh(
    command: str,
    *,
    cwd: str | os.PathLike | None = None,
    env: Mapping[str, str] | None = None,
    check: bool = True,
    timeout: float = 300,
) -> str:
    """Run one command line as a learner would type it; return what it printed.

    The line is split like a shell splits it (``shlex``) but no shell runs it, so
    there is no globbing, piping or injection. Standard error follows standard
    output, as in a terminal. A non-zero exit raises :class:`CommandError`.
    """
    done = run(shlex.split(command), cwd=cwd, env=env, check=check, timeout=timeout)
    return (done.stdout + done.stderr).strip()
