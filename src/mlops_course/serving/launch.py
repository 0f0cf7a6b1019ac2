"""How a service process starts: the uvicorn command line, and its logging.

Every app of the package has an env-reading uvicorn factory (chapter 5's
``mlops_course.serving:app_from_env``, chapter 15's multi-model service,
chapter 12's rollout service). Each calls :func:`log_to_stderr` first, then
builds its app from the environment; :func:`uvicorn_command` runs one of them.
"""

from __future__ import annotations

import logging
import sys

from mlops_course.servers import HOST

#: Chapter 5's service: ``Settings`` from ``MLOPS_*`` variables.
APP_FACTORY = "mlops_course.serving:app_from_env"


def log_to_stderr() -> None:
    """At a process entry point (no logging set up yet): INFO and up to stderr."""
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=logging.INFO, format="%(levelname)s:     %(name)s: %(message)s"
        )


def uvicorn_command(
    *extra: str, factory: str = APP_FACTORY, access_log: bool = True
) -> list[str]:
    """The argument list running ``factory`` with uvicorn on ``{port}`` (``serve``).

    ``factory`` is a ``module:function`` building the app from the environment;
    the server binds 127.0.0.1 only. ``extra`` arguments go last.
    """
    argv = [sys.executable, "-m", "uvicorn", factory]
    argv += ["--factory", "--host", HOST, "--port", "{port}"]
    if not access_log:
        argv.append("--no-access-log")
    return [*argv, *extra]


__all__ = ["APP_FACTORY", "log_to_stderr", "uvicorn_command"]
